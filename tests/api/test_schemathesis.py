"""Schemathesis against the live OpenAPI document of a real server on loopback.

The server is the real `packages-api serve` (uvicorn, the whole middleware
stack, the test run's database), so what is tested is what a client meets.
An in-process ASGI app would not do: Schemathesis calls synchronously from
its own thread and event loop, which the run's async engine is not bound to.

Every operation gets generated requests, valid and invalid ones, each sent
without a token and with a write token, and each answer must be no 5xx, a
status the document lists, in a content type it lists, with a body that
validates against the documented schema and the documented headers. Then a
stateful run follows the links Schemathesis infers between operations (a
package made, then read, edited, deleted). The bounds are in `BOUNDS`; set
SCHEMATHESIS_EXAMPLES and SCHEMATHESIS_STEPS to run it longer.

The examples are the same on every run, so that a run passes or fails for
what the code does, not for what it drew; set SCHEMATHESIS_SEED to a number
to draw others (a longer, seeded run is how new cases are found).
"""

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.generation.stateful import run_state_machine_as_test
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.tokens import create_token
from tests.factories import (
    make_category,
    make_cells,
    make_feature,
    make_grid,
    make_package,
    sync_ids,
)
from tests.live import LiveServer, live_server


class BOUNDS:
    """How much the run does: 20 to 40 s per database on two cores."""

    # Generated requests per operation and generation mode (each sent twice).
    examples = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "8"))
    # Stateful scenarios, and the most calls in one.
    scenarios = int(os.environ.get("SCHEMATHESIS_SCENARIOS", "") or examples * 2)
    steps = int(os.environ.get("SCHEMATHESIS_STEPS", "6"))
    # pytest-timeout's limit for the test, grown with the run (about 3 s per
    # example on two cores, for all operations together).
    timeout = 120 + 6 * examples + 2 * scenarios * steps


CHECKS: list[CheckFunction] = [
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]

# A resource made is there to read, and one deleted is gone.
STATEFUL_CHECKS: list[CheckFunction] = [use_after_free, ensure_resource_availability]

_SEED = os.environ.get("SCHEMATHESIS_SEED", "")
_SETTINGS = {
    "deadline": None,
    "database": None,  # no example database left in the working folder
    "derandomize": not _SEED,
    "suppress_health_check": list(HealthCheck),
    "phases": [Phase.explicit, Phase.generate],  # no shrinking: report as found
    "print_blob": False,
}


def seeded(test: Callable[..., None]) -> Callable[..., None]:
    """The test with SCHEMATHESIS_SEED's seed, when one is set."""
    return seed(int(_SEED))(test) if _SEED else test


@pytest.fixture
async def served(
    database_url: str, tmp_path: Path, sessionmaker: async_sessionmaker[AsyncSession]
) -> Iterator[tuple[LiveServer, str]]:
    await make_category(sessionmaker)
    await make_grid(sessionmaker, id=7)
    await make_grid(sessionmaker, id=8, is_locked=True)
    await make_package(sessionmaker, id=2403, slug="example-package", grid_ids=(7, 8))
    await make_package(sessionmaker, id=2404, slug="other-package")
    await make_feature(sessionmaker, id=1, grid_id=7, title="Python 3")
    await sync_ids(sessionmaker, "grid_features")
    await sync_ids(sessionmaker, "packages")
    await make_cells(sessionmaker, 7, {(1, 2403): "yes"})
    async with sessionmaker() as session:
        token = await create_token(session, "schemathesis")
        await session.commit()
    # The default write limit would turn the run's writes into 429s.
    with live_server(
        database_url, tmp_path, RATE_LIMIT_WRITES="", LOG_LEVEL="WARNING"
    ) as server:
        yield server, token


def _failure(label: str, exc: BaseException) -> str:
    """What went wrong, with the failures a group (or a flaky replay) holds."""
    lines = [f"{label}: {type(exc).__name__}: {str(exc)[:2000]}"]
    for inner in [*getattr(exc, "exceptions", ()), exc.__cause__]:
        if inner is not None:
            lines.append(_failure("  caused by", inner))
    return "\n".join(lines)


@pytest.mark.timeout(BOUNDS.timeout)
def test_every_operation_answers_as_documented(
    served: tuple[LiveServer, str],
) -> None:
    server, token = served
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    auth = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=BOUNDS.examples, **_SETTINGS)
            @seeded
            def exercise(case: schemathesis.Case) -> None:
                for headers in ({}, auth):
                    case.call_and_validate(
                        base_url=server.url, headers=headers, checks=CHECKS, timeout=10
                    )

            try:
                exercise()
            except Unsatisfiable:
                pass  # no invalid request can be made of this operation
            except Exception as exc:
                failures.append(_failure(f"{operation.label} ({mode})", exc))

    class Scenarios(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, object]:
            return {"base_url": server.url, "headers": auth, "timeout": 10}

        def validate_response(
            self, response: object, case: schemathesis.Case, **kwargs: object
        ) -> None:
            case.validate_response(response, checks=[*CHECKS, *STATEFUL_CHECKS])

    try:
        run_state_machine_as_test(
            Scenarios,
            settings=settings(
                max_examples=BOUNDS.scenarios,
                stateful_step_count=BOUNDS.steps,
                **_SETTINGS,
            ),
        )
    except Exception as exc:
        failures.append(_failure("stateful", exc))

    print(
        f"schemathesis: {len(operations)} operations, {time.monotonic() - started:.0f} s"
    )
    assert not failures, "\n\n".join(failures)
    # The run reached past the front door: things were found and not found,
    # bad input refused, and writes without the token too.
    assert {"200", "401", "404", "422"} <= _statuses_seen(server)


def _statuses_seen(server: LiveServer) -> set[str]:
    metrics = httpx.get(f"{server.url}/metrics").text
    return {
        line.split('status="')[1].split('"')[0]
        for line in metrics.splitlines()
        if line.startswith("packages_api_requests_total{")
    }
