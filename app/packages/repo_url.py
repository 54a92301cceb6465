"""Make sense of the repository URLs people paste.

`parse_repo_url` recognises a repository on a supported forge however its
URL was written (http or https, `www.`, a trailing slash, `.git`, a path into
the tree, the SSH form) and gives its canonical URL. `repo_key` is the
identity used to stop two packages from claiming one repository.
`repo_url_problem` says why a URL may not be stored as a repo_url.

Two spellings of one repository share a key. Hosts are compared as DNS
compares them: without case, a trailing dot or a `www.`, and in their ASCII
(IDNA) form after Unicode compatibility normalisation (NFKC), so github.com
spelled in fullwidth letters is github.com. Paths are compared after
percent-decoding the characters that never need encoding and resolving `.`
and `..` (RFC 3986, section 6.2.2: https://www.rfc-editor.org/rfc/rfc3986#section-6.2.2),
and without a `.git` suffix in any case.

The public forges are known by host (`FORGE_HOSTS`); self-hosted GitLab and
Gitea instances are known only from settings, so callers that should see
them pass the mapping `forge_hosts` builds.
"""

import ipaddress
import re
import string
import unicodedata
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
# Every forge limits owner and repository names to ASCII letters, digits,
# '_', '-' and '.'.
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_HOST_NAME = re.compile(r"^[a-z0-9_-]+(?:\.[a-z0-9_-]+)+$")
_SCHEMES = frozenset({"http", "https", "ssh", "git", "git+ssh"})
# Where a user name is how one signs in (git@host), not a credential.
_SSH_SCHEMES = frozenset({"ssh", "git+ssh"})
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")

NOT_A_REPO_URL = "must be a repository URL (https://host/owner/name), or empty"
EXTRAS = (
    "must be a repository URL (https://host/owner/name) with no user name, "
    "password, query or fragment, or empty"
)


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


@dataclass(frozen=True, slots=True)
class _Address:
    host: str  # as DNS compares it
    segments: list[str]  # the path's, normalised
    extras: bool  # a credential, a query or a fragment


# "." and ".." are dot segments, which a URL resolves away
# (https://www.rfc-editor.org/rfc/rfc3986#section-5.2.4): "/repos/../.."
# would ask for the API's root.
_DOT_SEGMENTS = frozenset({".", ".."})


def is_repo_path(path: str, forge: Forge) -> bool:
    """Whether `path`, as an upstream names it, is a repository on `forge` in
    well-formed segments: "owner/name", or groups nested before the name on
    GitLab; each segment goes into an API URL as it is."""
    segments = path.split("/")
    if len(segments) < 2 or (forge != "gitlab" and len(segments) > 2):
        return False
    return all(
        _NAME.fullmatch(segment) and segment not in _DOT_SEGMENTS
        for segment in segments
    )


def _decoded(segment: str) -> str:
    """`segment` with its unreserved characters percent-decoded, and the
    hex digits of the escapes left in upper case."""

    def one(match: re.Match[str]) -> str:
        char = chr(int(match[1], 16))
        return char if char in _UNRESERVED else match[0].upper()

    return _PERCENT.sub(one, segment)


def _segments(path: str) -> list[str]:
    """The path's non-empty segments, decoded, with `.` and `..` resolved."""
    resolved: list[str] = []
    for segment in (_decoded(part) for part in path.split("/") if part):
        if segment == "..":
            if resolved:
                resolved.pop()
        elif segment != ".":
            resolved.append(segment)
    return resolved


def _host(name: str) -> str | None:
    """`name` as DNS compares it, or None when it cannot be a host name."""
    name = unicodedata.normalize("NFKC", name).lower().removesuffix(".")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii").lower()
        except UnicodeError:
            return None
    name = name.removeprefix("www.")
    try:
        return name if ipaddress.ip_address(name).version == 4 else None
    except ValueError:
        pass
    # A name whose last label is all digits is no host (999.1.1.1).
    if not _HOST_NAME.match(name) or name.rsplit(".", 1)[1].isdigit():
        return None
    return name


def _address(url: str) -> _Address | None:
    """Host and path of an http(s), ssh, git or scp-like URL."""
    url = url.strip()
    if any(char.isspace() for char in url):
        return None
    if match := _SCP_LIKE.match(url):
        host, path = match["host"], match["path"]
        extras = "?" in path or "#" in path
    else:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018  (raises on a port that is not a number in range)
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES or parts.hostname is None:
            return None
        host, path = parts.hostname, parts.path
        credential = parts.password is not None or (
            parts.username is not None and scheme not in _SSH_SCHEMES
        )
        # A "?" or "#" with nothing after it leaves no query or fragment,
        # but still says one was meant.
        extras = credential or any(char in url for char in "?#")
    normalised = _host(host)
    if normalised is None:
        return None
    return _Address(normalised, _segments(path), extras)


def forge_hosts(
    *, gitlab: Iterable[str] = (), gitea: Iterable[str] = ()
) -> dict[str, Forge]:
    """The public forges' hosts plus self-hosted GitLab and Gitea instances."""
    hosts: dict[str, Forge] = dict(FORGE_HOSTS)
    hosts.update(dict.fromkeys(gitlab, "gitlab"))
    hosts.update(dict.fromkeys(gitea, "gitea"))
    return hosts


def _repository(address: _Address, forge: Forge) -> RepoRef | None:
    segments = address.segments
    if forge == "gitlab":
        # GitLab nests groups; "/-/" starts the part that is not the project.
        if "-" in segments:
            segments = segments[: segments.index("-")]
    else:
        segments = segments[:2]
    if len(segments) < 2:
        return None
    segments = [*segments[:-1], re.sub(r"\.git$", "", segments[-1], flags=re.I)]
    path = "/".join(segments)
    # "...git" is ".." once its suffix is gone.
    return (
        RepoRef(forge=forge, host=address.host, path=path)
        if is_repo_path(path, forge)
        else None
    )


def parse_repo_url(
    url: str, hosts: Mapping[str, Forge] = FORGE_HOSTS
) -> RepoRef | None:
    """The repository a URL points at, or None when it is not one we can fetch.

    `hosts` says which forge runs on each host we fetch from.
    """
    address = _address(url)
    if address is None:
        return None
    # A query or fragment is no part of the repository's identity; new
    # repo_urls may not have one (`repo_url_problem`), older ones still parse.
    forge = hosts.get(address.host)
    return None if forge is None else _repository(address, forge)


def repo_key(url: str, hosts: Mapping[str, Forge] = FORGE_HOSTS) -> str | None:
    """The identity of the repository behind `url`; None for an empty URL."""
    if not url.strip():
        return None
    ref = parse_repo_url(url, hosts)
    if ref is not None:
        return ref.canonical_url.lower()
    address = _address(url)
    if address is None:
        return url.strip().lower()
    return "/".join([address.host, *address.segments]).lower()


def repo_url_problem(url: str, hosts: Mapping[str, Forge] = FORGE_HOSTS) -> str | None:
    """Why `url` may not be stored as a repo_url; None when it may.

    A URL on a forge of `hosts` must name a repository there; one on any
    other host is stored as it is, and only served.
    """
    address = _address(url)
    if address is None:
        return NOT_A_REPO_URL
    if address.extras:
        return EXTRAS
    forge = hosts.get(address.host)
    if forge is not None and _repository(address, forge) is None:
        shape = "group/name" if forge == "gitlab" else "owner/name"
        return (
            f"must be a repository URL on {address.host} "
            f"(https://{address.host}/{shape}), or empty"
        )
    return None


def is_valid_repo_url(url: str, hosts: Mapping[str, Forge] = FORGE_HOSTS) -> bool:
    """Whether `url` can be stored as a repo_url (any host; forges are optional)."""
    return repo_url_problem(url, hosts) is None
