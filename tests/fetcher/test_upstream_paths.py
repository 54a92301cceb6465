"""Repository paths an upstream names go into URLs only when well-formed.

A forge answering with a new owner/name (a rename, a transfer) decides the
path of the calls that follow, which carry the forge's token; a path such
as "../.." would send them to other endpoints of the API.
"""

import pytest

from app.packages.repo_url import Forge, is_repo_path, parse_repo_url


@pytest.mark.parametrize(
    ("path", "forge"),
    [
        ("example-org/example-repo", "github"),
        ("Example.Org/example_repo.py", "github"),
        ("example-org/...", "github"),
        ("group/sub-group/project", "gitlab"),
        ("workspace/slug", "bitbucket"),
        ("owner/name", "codeberg"),
    ],
)
def test_a_well_formed_path_is_taken(path: str, forge: Forge) -> None:
    assert is_repo_path(path, forge) is True


@pytest.mark.parametrize(
    ("path", "forge"),
    [
        ("../..", "github"),
        ("example-org/..", "github"),
        ("./example-repo", "gitea"),
        ("group/../project", "gitlab"),
        ("example-org//example-repo", "gitlab"),
        ("/example-org/example-repo", "github"),
        ("example-org/example-repo/", "github"),
        ("example-org", "github"),
        ("group/sub-group/project", "github"),
        ("group/sub-group/project", "bitbucket"),
        ("example-org/example-repo?per_page=1", "github"),
        ("example-org/example-repo#top", "github"),
        ("example-org/%2e%2e", "github"),
        ("example-org/example repo", "github"),
        ("example-org/example-repo\n", "github"),
        ("example-org/example\x00repo", "github"),
        ("example-org/example\\repo", "github"),
        ("", "gitlab"),
    ],
)
def test_a_malformed_path_is_refused(path: str, forge: Forge) -> None:
    assert is_repo_path(path, forge) is False


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/../..",
        "https://github.com/example-org/..",
        "https://github.com/example-org/...git",
        "https://gitlab.com/group/../project",
        "https://codeberg.org/./example-repo",
    ],
)
def test_a_repository_url_with_dot_segments_names_no_repository(url: str) -> None:
    assert parse_repo_url(url) is None
