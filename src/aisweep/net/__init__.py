"""Network engine: the HTTP/TLS client, the per-target probe sequence, and the scheduler."""
