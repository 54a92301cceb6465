"""Parsing the repository URLs people paste (case 016), without the network."""

import pytest

from app.packages.repo_url import (
    EXTRAS,
    NOT_A_REPO_URL,
    RepoRef,
    forge_hosts,
    is_valid_repo_url,
    parse_repo_url,
    repo_key,
    repo_url_problem,
)

VALID = [
    (
        "https://github.com/Example-Org/Example-Repo",
        "github",
        "Example-Org/Example-Repo",
        "https://github.com/example-org/example-repo",
    ),
    (
        "https://github.com/example-org/example-repo/",
        "github",
        "example-org/example-repo",
        "https://github.com/example-org/example-repo",
    ),
    (
        "http://github.com/example-org/example-repo",
        "github",
        "example-org/example-repo",
        "https://github.com/example-org/example-repo",
    ),
    (
        "https://github.com/example-org/example-repo.git",
        "github",
        "example-org/example-repo",
        "https://github.com/example-org/example-repo",
    ),
    (
        "https://github.com/example-org/example-repo/tree/main/docs",
        "github",
        "example-org/example-repo",
        "https://github.com/example-org/example-repo",
    ),
    (
        "https://gitlab.com/example-group/sub-group/example-project/-/tree/main",
        "gitlab",
        "example-group/sub-group/example-project",
        "https://gitlab.com/example-group/sub-group/example-project",
    ),
    (
        "https://codeberg.org/example-org/example-repo/src/branch/main",
        "codeberg",
        "example-org/example-repo",
        "https://codeberg.org/example-org/example-repo",
    ),
    (
        "https://bitbucket.org/example-org/example-repo/src/master/",
        "bitbucket",
        "example-org/example-repo",
        "https://bitbucket.org/example-org/example-repo",
    ),
    # The variants the case's reports tripped over, beyond its own list.
    (
        "https://www.github.com/example-org/example-repo",
        "github",
        "example-org/example-repo",
        "https://github.com/example-org/example-repo",
    ),
    (
        "  https://github.com/example-org/example-repo/issues  ",
        "github",
        "example-org/example-repo",
        "https://github.com/example-org/example-repo",
    ),
    (
        "git@github.com:example-org/example-repo.git",
        "github",
        "example-org/example-repo",
        "https://github.com/example-org/example-repo",
    ),
    (
        "ssh://git@github.com/example-org/example-repo.git",
        "github",
        "example-org/example-repo",
        "https://github.com/example-org/example-repo",
    ),
    (
        "https://github.com/example-org/blog.github.io",
        "github",
        "example-org/blog.github.io",
        "https://github.com/example-org/blog.github.io",
    ),
    (
        "https://github.com/example-org/example-repo.github.git",
        "github",
        "example-org/example-repo.github",
        "https://github.com/example-org/example-repo.github",
    ),
    (
        "https://gitlab.com/Example-Group/Example-Project.git",
        "gitlab",
        "Example-Group/Example-Project",
        "https://gitlab.com/Example-Group/Example-Project",
    ),
]


@pytest.mark.parametrize(("url", "forge", "path", "canonical"), VALID)
def test_a_repository_url_parses_to_its_forge_and_path(
    url: str, forge: str, path: str, canonical: str
) -> None:
    ref = parse_repo_url(url)

    host = canonical.split("/")[2]
    assert ref == RepoRef(forge=forge, host=host, path=path)  # type: ignore[arg-type]
    assert ref.canonical_url == canonical
    assert repo_key(url) == canonical.lower()
    assert is_valid_repo_url(url) is True


@pytest.mark.parametrize(
    "url",
    [
        "http://example-org.github.com/example-repo",
        "https://example-org.github.io/example-repo/",
        "http://code.google.com/p/example-project",
    ],
)
def test_a_url_on_an_unsupported_host_is_storable_but_not_a_forge_repository(
    url: str,
) -> None:
    assert parse_repo_url(url) is None
    assert is_valid_repo_url(url) is True


@pytest.mark.parametrize(
    "url",
    [
        "",
        "example-org/example-repo/",
        "not a url",
        "https://github.com/example-org",
        "https://github.com/",
        "https://github.com/example-org/exa mple",
        "ftp://github.com/example-org/example-repo",
        "mailto:someone@github.com",
    ],
)
def test_something_that_is_not_a_repository_url_does_not_parse(url: str) -> None:
    assert parse_repo_url(url) is None


@pytest.mark.parametrize(
    ("url", "valid"),
    [
        ("", False),
        ("example-org/example-repo/", False),
        ("not a url", False),
        ("ftp://github.com/example-org/example-repo", False),
        ("https://localhost/example-org/example-repo", False),
        ("https://git.example.org/example-org/example-repo", True),
    ],
)
def test_which_urls_may_be_stored(url: str, valid: bool) -> None:
    assert is_valid_repo_url(url) is valid


def test_the_two_spellings_of_one_repository_share_a_key() -> None:
    first = "https://github.com/Example-Org/Example-Repo/"
    second = "git@github.com:example-org/example-repo.git"

    assert (
        repo_key(first)
        == repo_key(second)
        == ("https://github.com/example-org/example-repo")
    )


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("", None),
        ("   ", None),
        (
            "https://Example-Org.github.io/Example-Repo/",
            "example-org.github.io/example-repo",
        ),
        (
            "http://code.google.com/p/example-project",
            "code.google.com/p/example-project",
        ),
        ("https://gitlab.com/Group/Project", "https://gitlab.com/group/project"),
    ],
)
def test_keys_of_urls_outside_the_forges(url: str, key: str | None) -> None:
    assert repo_key(url) == key


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/foo/ba%72",
        "https://github.com/%66%6F%6f/bar",
        "https://github.com./foo/bar",
        "https://\uff47ithub.com/foo/bar",  # a fullwidth g
        "https://GITHUB.COM/foo/bar.GIT",
        "https://github.com/foo/bar.Git/",
        "https://github.com/foo/x/../bar",
        "https://github.com/foo/./bar/",
        "git@github.com.:Foo/Bar.GIT",
    ],
)
def test_other_spellings_of_one_repository_share_its_key(url: str) -> None:
    ref = parse_repo_url(url)

    assert ref is not None
    assert ref.canonical_url == "https://github.com/foo/bar"
    assert repo_key(url) == repo_key("https://github.com/Foo/Bar")
    assert repo_key(url) == "https://github.com/foo/bar"
    assert repo_url_problem(url) is None


ON_GITHUB = (
    "must be a repository URL on github.com (https://github.com/owner/name), or empty"
)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://github.com/foo", ON_GITHUB),
        ("https://github.com/", ON_GITHUB),
        ("https://www.github.com/foo/", ON_GITHUB),
        ("https://github.com/\uff46oo/bar", ON_GITHUB),  # a fullwidth f
        ("https://github.com/foo/bar%2Fbaz", ON_GITHUB),
        (
            "https://gitlab.com/group",
            "must be a repository URL on gitlab.com (https://gitlab.com/group/name), "
            "or empty",
        ),
        ("https://evil.com#@github.com/foo/bar", EXTRAS),
        ("https://github.com/foo/bar#readme", EXTRAS),
        ("https://github.com/foo/bar?tab=readme", EXTRAS),
        ("https://github.com/foo/bar?", EXTRAS),
        ("https://user:secret@github.com/foo/bar", EXTRAS),
        ("https://git@github.com/foo/bar", EXTRAS),
        ("ssh://git:secret@github.com/foo/bar", EXTRAS),
        ("https://example.org/code?id=4", EXTRAS),
        ("git@example.org:code#@github.com/foo/bar", EXTRAS),
        ("https://999.1.1.1/foo/bar", NOT_A_REPO_URL),
        ("https://github.com\uff0ffoo/bar", NOT_A_REPO_URL),  # a fullwidth /
        ("https://git%68ub.com/foo/bar", NOT_A_REPO_URL),
        ("http://[::1/foo/bar", NOT_A_REPO_URL),
        ("https://[::1]/foo/bar", NOT_A_REPO_URL),
    ],
)
def test_what_may_not_be_stored_is_refused_saying_why(url: str, problem: str) -> None:
    assert repo_url_problem(url) == problem
    assert is_valid_repo_url(url) is False


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://b\u00fccher.example/a/b", "xn--bcher-kva.example/a/b"),
        ("https://xn--bcher-kva.example/a/b", "xn--bcher-kva.example/a/b"),
        ("http://10.0.0.5/a/b", "10.0.0.5/a/b"),
        ("https://example.org/a%2fb/%7Ec", "example.org/a%2fb/~c"),
        ("https://example.org./code/seven", "example.org/code/seven"),
    ],
)
def test_urls_on_other_hosts_are_stored_and_keyed_by_their_normal_form(
    url: str, key: str
) -> None:
    assert repo_url_problem(url) is None
    assert parse_repo_url(url) is None
    assert repo_key(url) == key


def test_a_url_of_a_stored_repository_with_a_query_keeps_its_identity() -> None:
    # Stored before queries were refused; the refresh still finds it.
    url = "https://github.com/Foo/Bar?tab=readme"

    assert parse_repo_url(url) == RepoRef(
        forge="github", host="github.com", path="Foo/Bar"
    )
    assert repo_key(url) == "https://github.com/foo/bar"


def test_a_self_hosted_forge_needs_a_repository_too() -> None:
    hosts = forge_hosts(gitlab=["git.example.org"])

    assert repo_url_problem("https://git.example.org/group", hosts) == (
        "must be a repository URL on git.example.org "
        "(https://git.example.org/group/name), or empty"
    )
    assert repo_url_problem("https://git.example.org/group") is None
    assert repo_url_problem("https://git.example.org/group/sub/tool.GIT", hosts) is None
    assert repo_key("https://Git.Example.Org./Group/Sub/Tool.GIT", hosts) == (
        "https://git.example.org/group/sub/tool"
    )
