"""The cancellation core (no I/O), its ports, and the adapters that implement them."""
