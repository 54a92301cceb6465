"""Ranked search over packages and grids: `GET /api/v4/search/`."""
