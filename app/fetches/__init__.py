"""A package's refresh as a resource: ask for one now, and see how it went."""
