"""HTTP routers, one per resource: ``training`` (jobs, streams) and ``runs`` (stored history)."""
