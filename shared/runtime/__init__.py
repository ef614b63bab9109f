"""The composition root: app settings, and the adapters built once, on first use."""
