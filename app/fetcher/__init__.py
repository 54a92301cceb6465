"""Keep package stats fresh from their upstreams.

- `client`: the one shared outbound HTTP client.
- `http`: GET with retries; the one place failures are classified.
- `errors`: the small error tree those failures become.
- `forge`: the interface every repository host implements; `github` is one.
- `pypi`: releases and documentation links from PyPI.
- `repository`: the queries that read due packages and write results.
- `refresh`: one refresh run over many packages (`refresh_packages`).
- `scheduler`: the background loop that runs due packages (`refresh_forever`).
"""
