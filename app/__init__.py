"""Packages API: a Django Packages v4 compatible catalogue of Python packages."""

__version__ = "0.1.0"
