"""The `packages-api` command: serve, migrate, import, export, fetch, tokens."""

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import structlog
import typer
import uvicorn
from pydantic import ValidationError
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import event_loop, strict_json
from app.api.links import Links
from app.config import Settings
from app.db.engine import create_engine, create_sessionmaker, writing
from app.db.migrate import hold_setup_lock, upgrade
from app.logging import configure_logging
from app.models import Package
from app.ops.metrics import prepare_multiprocess

cli = typer.Typer(
    help="Packages API: a Django Packages v4 compatible catalogue of Python packages.",
    no_args_is_help=True,
    add_completion=False,
)
tokens = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
cli.add_typer(tokens, name="token")

SAMPLE_CATALOG = Path(__file__).parent / "catalog" / "sample.json"

T = TypeVar("T")


def _settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        # Name each setting as it is set: by its environment variable.
        problems = "\n".join(
            f"  {'.'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        )
        typer.echo(f"invalid settings:\n{problems}", err=True)
        raise typer.Exit(2) from exc
    configure_logging(settings.log_format, settings.log_level)
    return settings


def _run(
    settings: Settings,
    work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]],
    *,
    migrate: bool = True,
) -> T:
    """Run `work` with a session factory on a migrated database."""
    if settings.is_sqlite:
        path = make_url(settings.database_url).database
        if path and path != ":memory:" and not Path(path).parent.is_dir():
            typer.echo(
                f"the database's folder {Path(path).parent} does not exist", err=True
            )
            raise typer.Exit(1)

    async def main() -> T:
        engine = create_engine(settings.database_url)
        try:
            if migrate:
                await upgrade(engine)
            return await work(create_sessionmaker(engine))
        finally:
            await engine.dispose()

    try:
        return event_loop.run(main())
    except (OSError, ConnectionError) as exc:
        typer.echo(f"cannot reach the database: {exc}", err=True)
        raise typer.Exit(1) from exc
    except DBAPIError as exc:
        reason = (
            str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        )
        typer.echo(f"the database refused: {reason}", err=True)
        raise typer.Exit(1) from exc


def _load_document(path: Path) -> Any:
    from app.catalog.schemas import CatalogDocument

    try:
        data = path.read_bytes()
    except OSError as exc:
        typer.echo(f"cannot read {path}: {exc.strerror}", err=True)
        raise typer.Exit(1) from exc
    try:
        # Read strictly, as request bodies are: a key given twice is refused.
        parsed = strict_json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        typer.echo(f"{path} is not a catalogue document: not UTF-8 text", err=True)
        raise typer.Exit(1) from exc
    except (ValueError, RecursionError) as exc:
        reason = "nested too deep" if isinstance(exc, RecursionError) else exc
        typer.echo(f"{path} is not a catalogue document: not JSON ({reason})", err=True)
        raise typer.Exit(1) from exc
    if (fault := strict_json.first_fault(parsed)) is not None:
        place = ".".join(str(part) for part in fault.path)
        typer.echo(
            f"{path} is not a catalogue document:\n{place}\n  {fault.message}", err=True
        )
        raise typer.Exit(1)
    try:
        return CatalogDocument.model_validate(parsed)
    except ValidationError as exc:
        typer.echo(f"{path} is not a catalogue document:\n{exc}", err=True)
        raise typer.Exit(1) from exc


async def _import(
    sessionmaker: async_sessionmaker[AsyncSession], document: Any, settings: Settings
) -> Any:
    from app.catalog.service import import_catalog
    from app.fetcher.forges import fetched_hosts

    async with sessionmaker() as session:
        await writing(session)
        summary = await import_catalog(session, document, fetched_hosts(settings))
        await session.commit()
        if session.get_bind().dialect.name == "postgresql":
            # Fresh statistics, so the planner sees the catalogue as it is
            # now rather than waiting for autovacuum to notice the import.
            await session.execute(text("ANALYZE"))
            await session.commit()
    return summary


async def load_sample_if_empty(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    """Load the sample catalogue into a database that has no package yet."""
    from app.catalog.service import import_catalog

    async with sessionmaker() as session:
        await writing(session)
        await hold_setup_lock(await session.connection())
        if await session.scalar(select(func.count()).select_from(Package)):
            return False
        await import_catalog(session, _load_document(SAMPLE_CATALOG))
        await session.commit()
    return True


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            min=0,
            max=65535,
            help="Port to listen on; 0 takes a free one, which the log names.",
        ),
    ] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Migrate the database, load the sample catalogue if empty, and serve the API."""
    settings = _settings()

    async def prepare(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        if settings.load_sample_data and await load_sample_if_empty(sessionmaker):
            structlog.get_logger("app.cli").info("catalogue.sample_loaded")

    _run(settings, prepare)
    # Several workers count into one folder, and /metrics sums them.
    metrics_folder = prepare_multiprocess(workers)
    uvicorn.run(
        "app.main:serve_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # The app applies trusted proxy headers itself (FORWARDED_ALLOW_IPS).
        proxy_headers=False,
        log_level=settings.log_level.lower(),
        # Logging is the app's (app.logging): one format, request ids, and
        # one line per request (`request.finished`) instead of uvicorn's.
        log_config=None,
        access_log=False,
        # On SIGTERM, requests in flight get this long; a client that
        # trickles its body or never reads the answer cannot hold a
        # shutdown (or a deployment) open for longer.
        timeout_graceful_shutdown=30,
    )
    if metrics_folder is not None:
        shutil.rmtree(metrics_folder, ignore_errors=True)


@cli.command()
def migrate() -> None:
    """Apply the database migrations."""
    settings = _settings()

    async def nothing(_sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        return None

    _run(settings, nothing)
    typer.echo("database is at the newest migration")


@cli.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A catalogue JSON document.")],
) -> None:
    """Load categories, grids and packages from FILE, keeping their ids."""
    from app.catalog.service import CatalogError

    settings = _settings()
    document = _load_document(file)
    try:
        summary = _run(settings, lambda sm: _import(sm, document, settings))
    except CatalogError as exc:
        typer.echo(f"{file}: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"imported {summary.categories} categories, {summary.grids} grids, "
        f"{summary.packages} packages, {summary.features} features, "
        f"{summary.cells} cells"
    )
    for slug in summary.shared_repositories:
        typer.echo(f"note: {slug} shares its repository with another package", err=True)
    for slug in summary.refused_repo_urls:
        typer.echo(
            f"note: {slug}'s repo_url names no repository an edit would accept; "
            "kept as it is",
            err=True,
        )


@cli.command()
def export(
    file: Annotated[Path, typer.Argument(help="Where to write the JSON document.")],
) -> None:
    """Write the whole catalogue to FILE ("-" for standard output)."""
    from app.catalog.service import export_catalog

    settings = _settings()

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
        async with sessionmaker() as session:
            return await export_catalog(
                session, Links(base=settings.public_base_url.rstrip("/")), settings.zone
            )

    document = _run(settings, work)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if str(file) == "-":
        sys.stdout.write(text)
    else:
        try:
            file.write_text(text, encoding="utf-8")
        except OSError as exc:
            typer.echo(f"cannot write {file}: {exc.strerror}", err=True)
            raise typer.Exit(1) from exc
        typer.echo(f"wrote {len(document['packages'])} packages to {file}", err=True)


@cli.command()
def fetch(
    slugs: Annotated[
        list[str] | None, typer.Argument(help="Packages to refresh.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Refresh every package.")] = False,
) -> None:
    """Refresh package stats from GitHub and PyPI once, then exit."""
    if all_ == bool(slugs):
        typer.echo("give either --all or one or more slugs", err=True)
        raise typer.Exit(2)
    settings = _settings()
    from app.fetcher.client import create_http_client
    from app.fetcher.refresh import refresh_packages

    done = 0

    def progress(outcome: Any) -> None:
        nonlocal done
        done += 1
        detail = ", ".join(outcome.changed) if outcome.status == "updated" else ""
        if outcome.message:
            detail = f"{detail}; {outcome.message}" if detail else outcome.message
        line = f"[{done}] {outcome.status:<9} {outcome.slug}"
        typer.echo(f"{line}  ({detail})" if detail else line, err=True)

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
        async with create_http_client(settings) as client:
            return await refresh_packages(
                settings,
                sessionmaker,
                client,
                slugs=slugs or None,
                on_progress=progress,
            )

    summary = _run(settings, work)
    for slug in summary.missing:
        typer.echo(f"no package has the slug {slug!r}", err=True)
    typer.echo(
        f"updated: {summary.updated}, unchanged: {summary.unchanged}, failed: {summary.failed}"
        + (f", rate limited: {summary.rate_limited}" if summary.rate_limited else "")
    )
    if slugs and len(summary.missing) == len(slugs):
        raise typer.Exit(1)


def _give_way(niceness: int) -> None:
    """Lower this process's CPU priority by `niceness`.

    Linux with autogroup scheduling weighs each session's processes as one
    group, whatever their nice values, so a worker in a session of its own
    (as a supervisor starts it) would still take as much CPU as the API's
    whole session. Such a worker lowers its group's priority as well; one
    that shares a session (a terminal) leaves the group alone, since that
    would slow everything else in it. See sched(7), "The autogroup feature":
    https://man7.org/linux/man-pages/man7/sched.7.html
    """
    value = os.nice(niceness)
    autogroup = Path("/proc/self/autogroup")
    if os.getsid(0) == os.getpid() and autogroup.exists():
        with contextlib.suppress(OSError):
            autogroup.write_text(str(value))


@cli.command()
def worker() -> None:
    """Run the background refresh without the API, until SIGTERM or Ctrl-C.

    Any number of workers may share one PostgreSQL database; on SQLite run one.
    On SIGTERM, fetches in flight get FETCH_SHUTDOWN_GRACE seconds to finish
    and the rest are given back for others to take.
    """
    settings = _settings()
    from app.fetcher.client import create_http_client
    from app.fetcher.scheduler import refresh_forever

    if settings.worker_niceness and hasattr(os, "nice"):
        # Refreshing can wait a moment; answering readers cannot. Where a
        # worker shares CPUs with API processes it gives way to them.
        _give_way(settings.worker_niceness)
    if settings.worker_metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(settings.worker_metrics_port, settings.worker_metrics_host)

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with create_http_client(settings) as client:
            await refresh_forever(settings, sessionmaker, client, stop=stop)

    _run(settings, work)


@cli.command("settings")
def settings_command(
    write: Annotated[
        Path | None,
        typer.Option(help="Replace the table between this file's markers."),
    ] = None,
) -> None:
    """Print the table of every setting (name, type, default, meaning)."""
    from app import config_doc

    if write is None:
        typer.echo(config_doc.settings_table(), nl=False)
        return
    try:
        changed = config_doc.write(write)
    except (OSError, ValueError) as exc:
        typer.echo(f"cannot write the table into {write}: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{write}: {'table updated' if changed else 'table already current'}")


def _scopes_from(options: list[str] | None) -> list[str]:
    """`--scope read --scope write` or `--scope read,write`; write if none."""
    from app.auth.tokens import DEFAULT_SCOPES, check_scopes

    if not options:
        return list(DEFAULT_SCOPES)
    named = [part.strip() for option in options for part in option.split(",")]
    try:
        return check_scopes(part for part in named if part)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


@tokens.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="A name to know the token by.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="What the token may do: write (edit, add, ask for fetches), "
            "admin (that, and remove) or read (only read the edit log). "
            "Repeat it or give a comma list; default write.",
        ),
    ] = None,
) -> None:
    """Make a new token; its secret is printed once, alone on the last line."""
    from app.auth.tokens import check_name, create_token
    from app.errors import Conflict

    try:
        check_name(name)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    scopes = _scopes_from(scope)
    settings = _settings()

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> str:
        async with sessionmaker() as session:
            secret = await create_token(session, name, scopes)
            await session.commit()
            return secret

    try:
        secret = _run(settings, work)
    except Conflict as exc:
        typer.echo(str(exc.detail), err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"created token {name!r} with scope{'s' if len(scopes) > 1 else ''} "
        f"{', '.join(scopes)}; "
        "keep it now, it is not shown again:"
    )
    typer.echo(secret)


def _moment(value: Any) -> str:
    return "never" if value is None else value.strftime("%Y-%m-%d %H:%M:%SZ")


@tokens.command("list")
def token_list() -> None:
    """List the tokens: name, scopes, when made, when last used (kept to within a minute).

    Never their secrets, which are not stored, nor their digests.
    """
    from app.auth.tokens import list_tokens

    settings = _settings()

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Any]:
        async with sessionmaker() as session:
            return [
                (row.name, ",".join(row.scopes), row.created, row.last_used_at)
                for row in await list_tokens(session)
            ]

    rows = _run(settings, work)
    if not rows:
        typer.echo("no tokens", err=True)
        return
    table = [("NAME", "SCOPES", "CREATED", "LAST USED")] + [
        (name, scopes, _moment(created), _moment(used))
        for name, scopes, created, used in rows
    ]
    widths = [max(len(line[column]) for line in table) for column in range(3)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        typer.echo("  ".join([*cells, line[3]]))


@tokens.command("revoke")
def token_revoke(
    name: Annotated[str, typer.Argument(help="The name of the token to revoke.")],
) -> None:
    """Revoke a token: from now on it answers 401. Its edits stay in the log."""
    from app.auth.tokens import revoke_token

    settings = _settings()

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
        async with sessionmaker() as session:
            await writing(session)
            revoked = await revoke_token(session, name)
            await session.commit()
            return revoked

    if not _run(settings, work):
        typer.echo(f"no token is named {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked token {name!r}")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
