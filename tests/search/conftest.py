"""The API fixtures (write and admin tokens) for the search and list tests."""

from tests.api.conftest import admin_auth, auth, token

__all__ = ["admin_auth", "auth", "token"]
