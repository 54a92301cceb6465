"""The API fixtures (a write token) for the search and list tests."""

from tests.api.conftest import auth, token

__all__ = ["auth", "token"]
