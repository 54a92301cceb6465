"""Migration 0010 works stored repository keys out again, both ways."""

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db.migrate import upgrade
from app.models import Package
from tests.factories import make_category, make_package
from tests.search.test_index_migration import downgrade

# Each package's repo_url, and its key as revision 0009 worked it out.
STORED = {
    1: ("https://github.com/Foo/Bar", "https://github.com/foo/bar"),
    2: ("https://github.com/foo/bar.GIT", "https://github.com/foo/bar.git"),
    3: ("https://github.com./foo/baz", "github.com./foo/baz"),
    4: ("https://example.org/a%7Eb", "example.org/a%7eb"),
    5: ("", None),
    6: (
        "https://git.example.org/Group/Tool.GIT",
        "https://git.example.org/group/tool.git",
    ),
    7: ("https://gitlab.com/g/sub/three", "https://gitlab.com/g/sub/three"),
}


async def keys(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[int, str | None]:
    async with sessionmaker() as session:
        rows = await session.execute(select(Package.id, Package.repo_key))
        return {package_id: key for package_id, key in rows}


async def test_stored_keys_take_the_canonical_form_and_give_it_back(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The migration sees the forges this process's settings name.
    monkeypatch.setenv("GITLAB_HOSTS", "git.example.org")
    await downgrade(engine, "0009")
    try:
        await make_category(sessionmaker)
        for package_id, (url, key) in STORED.items():
            await make_package(sessionmaker, id=package_id, repo_url=url, repo_key=key)
    finally:
        await upgrade(engine)
    upgraded = await keys(sessionmaker)

    await downgrade(engine, "0009")
    try:
        downgraded = await keys(sessionmaker)
    finally:
        await upgrade(engine)

    assert upgraded == {
        1: "https://github.com/foo/bar",
        2: None,  # the repository of package 1, spelled another way
        3: "https://github.com/foo/baz",
        4: "example.org/a~b",
        5: None,
        6: "https://git.example.org/group/tool",
        7: "https://gitlab.com/g/sub/three",
    }
    assert downgraded == {package_id: key for package_id, (_, key) in STORED.items()}
