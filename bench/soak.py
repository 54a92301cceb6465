"""Soak test: mixed reads and writes for minutes, with the refresher running.

    python bench/soak.py [--minutes 10] [--quick] [--workers N]
                         [--connections 64] [--database-url URL]

1. Loads the catalogue of bench/serving.py into PostgreSQL with
   `packages-api import` and makes a token with `packages-api token create`.
2. Serves it with `packages-api serve --workers N` (FETCH_ENABLED=false) and
   starts a `packages-api worker` refreshing at full concurrency against the
   loopback stand-in upstream (bench/upstream.py), every package due again
   as soon as it is done.
3. Runs wrk with bench/soak.lua at 64 connections, in consecutive segments
   of one minute: 90% GETs (package details 45%, lists 30%, searches 15%)
   and 10% PATCHes of a package's documentation_url, with the token.
4. Prints, per minute: requests/s, p50 and p99, errors (answers that are
   not 2xx/3xx, a PATCH that is not a 200, socket errors) and the statuses
   by kind. The resident memory of each server worker after minute 2 and at
   the end, and its growth.

PASS/FAIL lines: RSS growth under 10% for every worker; no error at all.
The exit status is 0 only when both pass. Nothing leaves the machine; the
run has a time limit and stops every process it started.
"""

import argparse
import os
import platform
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import serving
from serving import WrkResult

DEFAULT_DATABASE_URL = (
    "postgresql+asyncpg://postgres@127.0.0.1:5432/packages_api_bench_soak"
)
SCRIPT = serving.BENCH / "soak.lua"
LATENCY = 0.05
TARGET_GROWTH = 0.10
BASELINE_SEGMENT = 2  # RSS is compared from the end of this segment


@dataclass(slots=True)
class Segment:
    number: int
    result: WrkResult
    statuses: Counter[tuple[str, int]]
    fetched: int = 0  # packages the refresher asked PyPI for meanwhile

    @property
    def errors(self) -> int:
        bad = sum(
            count
            for (kind, status), count in self.statuses.items()
            if status >= 400 or (kind == "patch" and status != 200) or kind == "unknown"
        )
        return bad + sum(self.result.socket_errors.values())


def statuses(output: str) -> Counter[tuple[str, int]]:
    found: Counter[tuple[str, int]] = Counter()
    for kind, status, count in re.findall(r"^status (\w+) (\d+) (\d+)$", output, re.M):
        found[(kind, int(status))] += int(count)
    return found


def fmt_statuses(found: Counter[tuple[str, int]]) -> str:
    return ", ".join(
        f"{kind} {status}: {count}" for (kind, status), count in sorted(found.items())
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Soak test: mixed reads and writes, refresher running."
    )
    parser.add_argument("--minutes", type=int, help="segments to run (10)")
    parser.add_argument(
        "--segment-seconds",
        type=float,
        help="length of a segment (60; 20 with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="3 segments of 20 s")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--write-share", type=float, default=0.10)
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="the PostgreSQL database (loopback, 'bench' in its name; it is emptied)",
    )
    args = parser.parse_args(argv)
    args.minutes = args.minutes or (3 if args.quick else 10)
    args.segment_seconds = args.segment_seconds or (20.0 if args.quick else 60.0)
    if args.minutes < BASELINE_SEGMENT + 1:
        parser.error(f"--minutes: at least {BASELINE_SEGMENT + 1}")
    return args


def main() -> int:
    args = parse_args()
    if problem := serving.check_database_url(args.database_url, "emptied"):
        raise SystemExit(f"--database-url: {problem}")
    serving.ensure_wrk()
    document = serving.catalogue_document()
    limit = args.minutes * (args.segment_seconds + 30) + 600
    print(
        f"soak: {len(document['packages'])} packages, {args.connections} connections,"
        f" {args.minutes} segments of {args.segment_seconds:.0f} s,"
        f" {args.write_share:.0%} PATCHes, {args.workers} workers;"
        f" {serving.code_version()}; Python {platform.python_version()},"
        f" {os.cpu_count()} cores; stops itself after {limit / 60:.0f} min",
        flush=True,
    )
    segments: list[Segment] = []
    with (
        tempfile.TemporaryDirectory(prefix="packages-bench-soak-") as tmp,
        serving.fleet(Path(tmp)) as crew,
    ):
        serving.time_limit(limit)
        upstream = crew.upstream(LATENCY)
        env = serving.served_env(args.database_url, upstream.url)
        print(
            f"  {serving.load_catalogue(args.database_url, document, crew.folder, env)}",
            flush=True,
        )
        token = serving.create_token(env, crew.folder, "bench-soak")
        server = crew.serve("serve", env, args.workers)
        refresher = crew.refresher(env)
        wrk_env = {
            **os.environ,
            "BENCH_TOKEN": token,
            "BENCH_PACKAGES": str(len(document["packages"])),
            "BENCH_WRITE_SHARE": str(args.write_share),
        }
        workers = server.workers()
        rss_start = serving.rss_mib(workers)
        rss_baseline: list[float] = []
        fetched = serving.upstream_stats(upstream)["requests"]["pypi"]
        print(
            f"{'min':>3} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>8} {'errors':>6}"
            f" {'fetched':>7}  statuses",
            flush=True,
        )
        for number in range(1, args.minutes + 1):
            if refresher.process.poll() is not None:
                tail = refresher.log.read_text(errors="replace")[-2000:]
                raise SystemExit(f"packages-api worker stopped:\n{tail}")
            wrk_env["BENCH_SEED"] = str(serving.SEED + number)
            process = serving.start_wrk(
                server.url,
                connections=args.connections,
                seconds=args.segment_seconds,
                script=SCRIPT,
                env=wrk_env,
            )
            with serving.stopped_on_error(process):
                result = serving.finish_wrk(process, args.segment_seconds)
            now_fetched = serving.upstream_stats(upstream)["requests"]["pypi"]
            segment = Segment(
                number, result, statuses(result.output), now_fetched - fetched
            )
            segments.append(segment)
            print(
                f"{number:>3} {result.rps:>7.0f} {result.p50_ms:>7.1f}"
                f" {result.p99_ms:>8.1f} {segment.errors:>6} {segment.fetched:>7}"
                f"  {fmt_statuses(segment.statuses)}"
                + (
                    f"; socket errors {result.socket_errors}"
                    if sum(result.socket_errors.values())
                    else ""
                ),
                flush=True,
            )
            fetched = now_fetched
            if number == BASELINE_SEGMENT:
                rss_baseline = serving.rss_mib(workers)
        rss_end = serving.rss_mib(workers)
        rss_refresher = serving.rss_mib(refresher.workers())
        if server.process.poll() is not None:
            raise SystemExit("the server stopped during the soak")

    print(
        "columns: each segment's requests/s, latency; errors: answers not 2xx/3xx,"
        " PATCHes not 200 and socket errors; fetched: packages the refresher"
        " asked PyPI for during the segment"
    )
    print(
        "RSS per worker (MiB): at start "
        + ", ".join(f"{one:.1f}" for one in rss_start)
        + f"; after minute {BASELINE_SEGMENT} "
        + ", ".join(f"{one:.1f}" for one in rss_baseline)
        + "; at the end "
        + ", ".join(f"{one:.1f}" for one in rss_end)
        + f"; refresher at the end {rss_refresher[0]:.1f}"
    )
    growths = [end / base - 1 for base, end in zip(rss_baseline, rss_end, strict=True)]
    errors = sum(segment.errors for segment in segments)
    total = sum(segment.result.requests for segment in segments)
    verdicts = [
        (
            bool(growths) and max(growths) < TARGET_GROWTH,
            f"RSS growth from minute {BASELINE_SEGMENT} to the end: "
            + ", ".join(f"{one:+.1%}" for one in growths)
            + f" (target < {TARGET_GROWTH:+.0%} each)",
        ),
        (errors == 0, f"errors: {errors} in {total} requests (target 0)"),
        (
            all(segment.fetched for segment in segments),
            "the refresher fetched in every segment: "
            + ", ".join(str(segment.fetched) for segment in segments),
        ),
    ]
    print()
    for ok, line in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {line}")
    return 0 if all(ok for ok, _ in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
