"""What the product does (cancel, read, deliver, sweep), given ports; no I/O of its own."""
