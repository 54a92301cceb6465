"""Repository keys in the canonical form of app.packages.repo_url.

`packages.repo_key` stops two packages from claiming one repository. Keys
now compare hosts as DNS does (case, a trailing dot, NFKC and IDNA) and
paths after decoding unreserved percent-escapes and resolving dot segments,
without `.git` in any case; stored keys are worked out again by those
rules, with the forges of this process's settings (GITLAB_HOSTS,
GITEA_HOSTS), as the API and the import work them out.

Two packages may now turn out to share a repository they spelled two ways.
The package that already held the key keeps it, else the lowest id; the
others keep their repo_url with no key, as an import leaves a repository
claimed twice, and each is logged (`migrate.shared_repository`).

Downgrade works the keys out by the rules of revision 0009, kept below.

Revision ID: 0010
Revises: 0009
"""

import re
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlsplit

import sqlalchemy as sa
import structlog
from alembic import op

from app.config import Settings
from app.packages.repo_url import Forge, forge_hosts, repo_key

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = structlog.get_logger(__name__)

KEY_WIDTH = 500  # packages.repo_key is a VARCHAR(500)

KeyOf = Callable[[str, Mapping[str, Forge]], str | None]


def _hosts() -> dict[str, Forge]:
    settings = Settings()
    return forge_hosts(gitlab=settings.gitlab_hosts, gitea=settings.gitea_hosts)


def _rekey(key_of: KeyOf) -> None:
    """Give every package the key `key_of` works out for its repo_url."""
    bind = op.get_bind()
    hosts = _hosts()
    rows = bind.execute(
        sa.text("SELECT id, repo_url, repo_key FROM packages ORDER BY id")
    ).all()
    old = {package_id: key for package_id, _, key in rows}
    new: dict[int, str | None] = {}
    for package_id, url, _ in rows:
        key = key_of(url, hosts)
        new[package_id] = key if key is None or len(key) <= KEY_WIDTH else None

    claimants: dict[str, list[int]] = {}
    for package_id, key in new.items():
        if key is not None:
            claimants.setdefault(key, []).append(package_id)
    for key, ids in claimants.items():
        holder = next((i for i in ids if old[i] == key), ids[0])
        for package_id in ids:
            if package_id != holder:
                log.warning(
                    "migrate.shared_repository", package_id=package_id, holder=holder
                )
                new[package_id] = None

    changed = [i for i in new if new[i] != old[i]]
    if not changed:
        return
    # Keys are unique: clear every changing one first, so no row meets
    # another's old key on the way.
    bind.execute(
        sa.text("UPDATE packages SET repo_key = NULL WHERE id = :id"),
        [{"id": i} for i in changed],
    )
    keyed = [{"id": i, "key": new[i]} for i in changed if new[i] is not None]
    if keyed:
        bind.execute(
            sa.text("UPDATE packages SET repo_key = :key WHERE id = :id"), keyed
        )


def upgrade() -> None:
    _rekey(repo_key)


def downgrade() -> None:
    _rekey(_key_0009)


# -- repository keys as revision 0009 worked them out ------------------------

_SCP_LIKE = re.compile(r"^[\w.-]+@(?P<host>[\w.-]+):(?P<path>[^\s]+)$")
_NAME = re.compile(r"^[\w.-]+$")


def _split_0009(url: str) -> tuple[str, list[str]] | None:
    url = url.strip()
    if match := _SCP_LIKE.match(url):
        host, path = match["host"], match["path"]
    else:
        parts = urlsplit(url)
        if parts.scheme.lower() not in {"http", "https", "ssh", "git", "git+ssh"}:
            return None
        host, path = parts.hostname or "", parts.path
    host = host.lower().removeprefix("www.")
    if not host:
        return None
    return host, [segment for segment in path.split("/") if segment]


def _key_0009(url: str, hosts: Mapping[str, Forge]) -> str | None:
    if not url.strip():
        return None
    try:
        split = _split_0009(url)
    except ValueError:  # 0009 could not work out a key for these either
        return url.strip().lower()
    if split is None:
        return url.strip().lower()
    host, segments = split
    forge = hosts.get(host)
    if forge is not None:
        path = segments
        if forge == "gitlab":
            if "-" in path:
                path = path[: path.index("-")]
        else:
            path = path[:2]
        if len(path) >= 2:
            path = [*path[:-1], re.sub(r"\.git$", "", path[-1])]
            if all(_NAME.match(segment) for segment in path):
                return f"https://{host}/{'/'.join(path)}".lower()
    return "/".join([host, *segments]).lower()
