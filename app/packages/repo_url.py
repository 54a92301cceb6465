"""Make sense of the repository URLs people paste.

`parse_repo_url` recognises a repository on a supported forge however its
URL was written (http or https, `www.`, a trailing slash, `.git`, a path into
the tree, the SSH form) and gives its canonical URL. `repo_key` is the
identity used to stop two packages from claiming one repository.

The public forges are known by host (`FORGE_HOSTS`); self-hosted GitLab and
Gitea instances are known only from settings, so callers that should see
them pass the mapping `forge_hosts` builds.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

# "gitea" is any Gitea or Forgejo instance besides Codeberg.
Forge = Literal["github", "gitlab", "bitbucket", "codeberg", "gitea"]

FORGE_HOSTS: dict[str, Forge] = {
    "github.com": "github",
    "gitlab.com": "gitlab",
    "bitbucket.org": "bitbucket",
    "codeberg.org": "codeberg",
}

# Forges whose owner and repository names are case-insensitive.
_CASE_INSENSITIVE: frozenset[Forge] = frozenset(
    {"github", "bitbucket", "codeberg", "gitea"}
)

_SCP_LIKE = re.compile(r"^[\w.-]+@(?P<host>[\w.-]+):(?P<path>[^\s]+)$")
# One segment of a repository path: letters, digits, "_", "." and "-" only,
# so it goes into an API URL as it is. "." and ".." are dot segments, which a
# URL resolves away (https://www.rfc-editor.org/rfc/rfc3986#section-5.2.4):
# "/repos/../.." would ask for the API's root.
_NAME = re.compile(r"[\w.-]+")
_DOT_SEGMENTS = frozenset({".", ".."})


@dataclass(frozen=True, slots=True)
class RepoRef:
    forge: Forge
    host: str
    path: str  # "owner/name", or "group/sub-group/name" on GitLab

    @property
    def owner(self) -> str:
        return self.path.rsplit("/", 1)[0]

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]

    @property
    def canonical_url(self) -> str:
        path = self.path.lower() if self.forge in _CASE_INSENSITIVE else self.path
        return f"https://{self.host}/{path}"

    def same_repo(self, other: "RepoRef") -> bool:
        """Whether both name one repository, compared as `repo_key` compares."""
        return self.canonical_url.lower() == other.canonical_url.lower()


def is_repo_path(path: str, forge: Forge) -> bool:
    """Whether `path` names a repository on `forge` in well-formed segments:
    "owner/name", or groups nested before the name on GitLab."""
    segments = path.split("/")
    if len(segments) < 2 or (forge != "gitlab" and len(segments) > 2):
        return False
    return all(
        _NAME.fullmatch(segment) and segment not in _DOT_SEGMENTS
        for segment in segments
    )


def _split(url: str) -> tuple[str, list[str]] | None:
    """Host and path segments of an http(s), ssh, git or scp-like URL."""
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


def forge_hosts(
    *, gitlab: Iterable[str] = (), gitea: Iterable[str] = ()
) -> dict[str, Forge]:
    """The public forges' hosts plus self-hosted GitLab and Gitea instances."""
    hosts: dict[str, Forge] = dict(FORGE_HOSTS)
    hosts.update(dict.fromkeys(gitlab, "gitlab"))
    hosts.update(dict.fromkeys(gitea, "gitea"))
    return hosts


def parse_repo_url(
    url: str, hosts: Mapping[str, Forge] = FORGE_HOSTS
) -> RepoRef | None:
    """The repository a URL points at, or None when it is not one we can fetch.

    `hosts` says which forge runs on each host we fetch from.
    """
    split = _split(url)
    if split is None:
        return None
    host, segments = split
    forge = hosts.get(host)
    if forge is None:
        return None

    if forge == "gitlab":
        # GitLab nests groups; "/-/" starts the part that is not the project.
        if "-" in segments:
            segments = segments[: segments.index("-")]
    else:
        segments = segments[:2]
    if len(segments) < 2:
        return None
    segments[-1] = re.sub(r"\.git$", "", segments[-1])
    path = "/".join(segments)
    if not is_repo_path(path, forge):
        return None
    return RepoRef(forge=forge, host=host, path=path)


def repo_key(url: str, hosts: Mapping[str, Forge] = FORGE_HOSTS) -> str | None:
    """The identity of the repository behind `url`; None for an empty URL."""
    if not url.strip():
        return None
    ref = parse_repo_url(url, hosts)
    if ref is not None:
        return ref.canonical_url.lower()
    split = _split(url)
    if split is None:
        return url.strip().lower()
    host, segments = split
    return "/".join([host, *segments]).lower()


def is_valid_repo_url(url: str) -> bool:
    """Whether `url` can be stored as a repo_url (any host; forges are optional)."""
    if any(char.isspace() for char in url.strip()):
        return False
    try:
        urlsplit(url.strip()).port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return False
    split = _split(url)
    return split is not None and "." in split[0]
