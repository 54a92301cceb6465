"""Parsing the repository URLs people paste (case 016), without the network."""

import pytest

from app.packages.repo_url import RepoRef, is_valid_repo_url, parse_repo_url, repo_key

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
