"""The Segment wire contract: limits, the queue envelope, and message normalization (no I/O)."""
