"""Service producers: per-unit metrics sampled from /proc, and declared health checks."""
