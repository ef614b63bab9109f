"""Developer tools for local work; not deployed."""
