"""Graph's surface, with no I/O: the paths the product serves, query options, and how an event is
represented on the wire."""
