"""Pieces every resource router shares: links, paging, dependencies, methods."""
