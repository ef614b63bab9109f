"""The HTTP edge: Graph's cancel routes, grouped by route family, and their request parsing."""
