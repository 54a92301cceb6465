"""A stand-in GitHub and PyPI on loopback, slow on purpose, for bench/refresh.py.

Run it as its own process (`python bench/upstream.py --port P --latency 0.05`)
so that the benchmark's own CPU time and memory are the refresher's alone.

It answers, after `--latency` seconds each (an `asyncio.sleep`, so requests
overlap as they would against a distant server):

- GitHub: `/repos/{owner}/{repo}`, `.../contributors`, `.../stats/participation`
  and `.../commits` (the refresher asks `per_page=1`);
- GitHub's GraphQL API: `POST /graphql` with any number of aliased
  `repository(owner: $o, name: $n)` lookups, answered with the fields the
  refresher's query asks for (there is no ETag for GraphQL);
- PyPI: `/pypi/{name}/json`.

Bodies are small versions of the captures in tests/data/upstream/ (the fields
the refresher reads, plus a few of their neighbours), the same for a given
name every time. Every answer carries an ETag; a request whose If-None-Match
matches it gets a 304 with no body, and on GitHub a 304 costs no rate-limit
point (https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#use-conditional-requests-if-appropriate).

No X-RateLimit headers are sent: the benchmark measures the refresher's own
throughput, and a real hourly quota would pace it to the quota instead.

`GET /_stats` returns the counts since the last `POST /_reset`: requests per
kind (anything else asked is counted as "other" and answered 404), 304s per
kind, GitHub "points" (REST requests answered with anything but a 304, plus
one per GraphQL query: a query of up to 100 repository lookups costs GitHub's
minimum of one point, from a quota of its own), the most requests in flight
at once per upstream, and the most in flight at once for one package (1
means a package's requests never overlapped; GraphQL queries, which serve a
whole batch, are left out of that one).
https://docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api
"""

import argparse
import asyncio
import hashlib
import json
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

GITHUB_KINDS = ("repo", "contributors", "participation", "commits")
KINDS = (*GITHUB_KINDS, "graphql", "pypi", "other")
# An aliased lookup in a GraphQL query: `r0: repository(owner: $owner0, name: $name0)`.
LOOKUP = re.compile(
    r"(\w+)\s*:\s*repository\(\s*owner:\s*\$(\w+)\s*,\s*name:\s*\$(\w+)\s*\)"
)


@dataclass(slots=True)
class Counts:
    """What the stand-in has answered since the last reset."""

    requests: Counter[str] = field(default_factory=Counter)
    not_modified: Counter[str] = field(default_factory=Counter)
    in_flight: Counter[str] = field(default_factory=Counter)  # by upstream
    peak_in_flight: Counter[str] = field(default_factory=Counter)
    by_package: Counter[str] = field(default_factory=Counter)  # in flight
    peak_per_package: int = 0

    def as_json(self) -> dict[str, Any]:
        github = sum(self.requests[kind] for kind in GITHUB_KINDS)
        github_304 = sum(self.not_modified[kind] for kind in GITHUB_KINDS)
        return {
            "requests": {kind: self.requests[kind] for kind in KINDS},
            "not_modified": {kind: self.not_modified[kind] for kind in KINDS},
            "github_points": github - github_304 + self.requests["graphql"],
            "peak_in_flight": dict(self.peak_in_flight),
            "peak_in_flight_per_package": self.peak_per_package,
        }


def etag_for(body: bytes) -> str:
    return 'W/"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match uses the weak comparison: W/ prefixes are ignored.

    https://www.rfc-editor.org/rfc/rfc9110#field.if-none-match
    """
    if not if_none_match:
        return False
    wanted = etag.removeprefix("W/")
    candidates = (one.strip().removeprefix("W/") for one in if_none_match.split(","))
    return any(one in ("*", wanted) for one in candidates)


def seed(name: str) -> int:
    """A stable number per name, so the same name always gets the same body."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest())


def repo_body(owner: str, repo: str) -> dict[str, Any]:
    n = seed(f"{owner}/{repo}")
    return {
        "id": n,
        "name": repo,
        "full_name": f"{owner}/{repo}",
        "owner": {"login": owner, "id": n % 100_000, "type": "Organization"},
        "private": False,
        "html_url": f"https://github.com/{owner}/{repo}",
        "description": f"{repo}, a Django package",
        "fork": False,
        "created_at": "2015-03-13T19:58:53Z",
        "updated_at": "2026-01-28T04:56:43Z",
        "pushed_at": "2026-01-29T13:43:16Z",
        "homepage": f"https://{repo.lower()}.readthedocs.io",
        "stargazers_count": n % 5000,
        "watchers_count": n % 5000,
        "forks_count": n % 700,
        "archived": n % 17 == 0,
        "open_issues_count": n % 90,
        "default_branch": "main",
        "subscribers_count": n % 40,
    }


def contributors_body(owner: str, repo: str) -> list[dict[str, Any]]:
    n = seed(f"{owner}/{repo}")
    return [
        {
            "login": f"dev{(n + i) % 9973}",
            "id": (n + i) % 9973,
            "type": "User",
            "site_admin": False,
            "contributions": 100 // (i + 1),
        }
        for i in range(1 + n % 3)
    ]


def participation_body(owner: str, repo: str) -> dict[str, Any]:
    n = seed(f"{owner}/{repo}")
    weeks = [(n >> (week % 24)) % 7 for week in range(52)]
    return {"all": weeks, "owner": [week // 2 for week in weeks]}


def commit_date(owner: str, repo: str) -> str:
    return f"2026-01-{1 + seed(f'{owner}/{repo}') % 28:02d}T02:41:15Z"


def commits_body(owner: str, repo: str) -> list[dict[str, Any]]:
    n = seed(f"{owner}/{repo}")
    sha = hashlib.sha1(f"{owner}/{repo}".encode()).hexdigest()
    date = commit_date(owner, repo)
    person = {"name": "A Developer", "email": "dev@example.invalid", "date": date}
    return [
        {
            "sha": sha,
            "commit": {
                "author": person,
                "committer": person,
                "message": "Release",
                "comment_count": 0,
            },
            "author": {"login": f"dev{n % 9973}", "type": "User"},
            "committer": {"login": "web-flow", "type": "User"},
            "parents": [],
        }
    ]


def graphql_repository(owner: str, repo: str) -> dict[str, Any]:
    """The refresher's `core` fragment, with the values the REST bodies carry."""
    rest = repo_body(owner, repo)
    return {
        "nameWithOwner": rest["full_name"],
        "url": rest["html_url"],
        "stargazerCount": rest["stargazers_count"],
        "forkCount": rest["forks_count"],
        "description": rest["description"],
        "isArchived": rest["archived"],
        "isEmpty": False,
        "defaultBranchRef": {"target": {"committedDate": commit_date(owner, repo)}},
    }


def graphql_body(query: str, variables: dict[str, Any]) -> dict[str, Any]:
    data = {
        alias: graphql_repository(str(variables[owner]), str(variables[name]))
        for alias, owner, name in LOOKUP.findall(query)
    }
    return {"data": data}


def pypi_body(name: str) -> dict[str, Any]:
    n = seed(name)
    version = f"{1 + n % 5}.{n % 13}.{n % 7}"
    wheel = {
        "filename": f"{name.replace('-', '_')}-{version}-py3-none-any.whl",
        "packagetype": "bdist_wheel",
        "python_version": "py3",
        "requires_python": ">=3.10",
        "size": 5712 + n % 10_000,
        "upload_time_iso_8601": "2026-01-28T10:37:18.583101Z",
        "yanked": False,
        "yanked_reason": None,
    }
    return {
        "info": {
            "name": name,
            "version": version,
            "summary": f"{name}, a Django package",
            "author": "A Developer",
            "license": "MIT",
            "requires_python": ">=3.10",
            "docs_url": None,
            "home_page": "",
            "project_urls": {
                "Documentation": f"https://{name.lower()}.readthedocs.io/",
                "Source": f"https://github.com/django-bench/{name}",
            },
            "yanked": False,
        },
        "last_serial": n,
        "releases": {version: [wheel]},
        "urls": [wheel],
        "vulnerabilities": [],
    }


Handler = Callable[[Request], Awaitable[Response]]


def create_app(latency: float) -> Starlette:
    counts = Counts()

    def endpoint(kind: str, build: Callable[..., Any]) -> Handler:
        upstream = "pypi" if kind == "pypi" else "github"

        async def answer(request: Request) -> Response:
            params = request.path_params
            package = params.get("name") or params["repo"]
            counts.requests[kind] += 1
            counts.in_flight[upstream] += 1
            counts.by_package[package] += 1
            counts.peak_in_flight[upstream] = max(
                counts.peak_in_flight[upstream], counts.in_flight[upstream]
            )
            counts.peak_per_package = max(
                counts.peak_per_package, counts.by_package[package]
            )
            try:
                await asyncio.sleep(latency)
                body = json.dumps(build(**params), separators=(",", ":")).encode()
                etag = etag_for(body)
                if matches(request.headers.get("if-none-match"), etag):
                    counts.not_modified[kind] += 1
                    return Response(status_code=304, headers={"ETag": etag})
                return Response(
                    body, media_type="application/json", headers={"ETag": etag}
                )
            finally:
                counts.in_flight[upstream] -= 1
                counts.by_package[package] -= 1
                if not counts.by_package[package]:
                    del counts.by_package[package]

        return answer

    async def graphql(request: Request) -> Response:
        counts.requests["graphql"] += 1
        counts.in_flight["github"] += 1
        counts.peak_in_flight["github"] = max(
            counts.peak_in_flight["github"], counts.in_flight["github"]
        )
        try:
            await asyncio.sleep(latency)
            asked = await request.json()
            body = graphql_body(asked.get("query", ""), asked.get("variables") or {})
            return JSONResponse(body)
        finally:
            counts.in_flight["github"] -= 1

    async def stats(_request: Request) -> Response:
        return JSONResponse(counts.as_json())

    async def reset(_request: Request) -> Response:
        nonlocal counts
        counts = Counts()
        return Response(status_code=204)

    async def not_found(_request: Request) -> Response:
        counts.requests["other"] += 1
        return JSONResponse({"message": "Not Found"}, status_code=404)

    repo = "/repos/{owner}/{repo}"
    return Starlette(
        routes=[
            Route(repo, endpoint("repo", repo_body)),
            Route(f"{repo}/contributors", endpoint("contributors", contributors_body)),
            Route(
                f"{repo}/stats/participation",
                endpoint("participation", participation_body),
            ),
            Route(f"{repo}/commits", endpoint("commits", commits_body)),
            Route("/graphql", graphql, methods=["POST"]),
            Route("/pypi/{name}/json", endpoint("pypi", pypi_body)),
            Route("/_stats", stats),
            Route("/_reset", reset, methods=["POST"]),
            Route(
                "/{path:path}",
                not_found,
                methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
            ),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.latency),
        host="127.0.0.1",  # loopback only, whatever else is asked
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        backlog=2048,
    )


if __name__ == "__main__":
    main()
