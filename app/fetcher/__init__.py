"""Keep package stats fresh from their upstreams.

- `client`: the one shared outbound HTTP client.
- `http`: GET (and GraphQL POST) with retries and ETags; the one place failures
  are classified.
- `limiter`: one per upstream, shared: rate-limit pauses, pacing, concurrency.
- `errors`: the small error tree those failures become.
- `checks`: the limits every fetched value and upstream-named path is held
  to before it is used or stored: the import's.
- `forge`: the interface every repository host implements: `github`,
  `gitlab`, `bitbucket` and `gitea` (Codeberg, Forgejo, Gitea); `forges`
  picks one per host, `activity` counts listed commits into weeks.
- `pypi`: releases and documentation links from PyPI.
- `repository`: the queries that read due packages and write results.
- `refresh`: one refresh run over many packages (`refresh_packages`).
- `bookkeeping`: what each failure kind means for a source's FetchState.
- `scheduler`: the background loop that runs due packages (`refresh_forever`).
"""
