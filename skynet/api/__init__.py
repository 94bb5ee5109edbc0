"""API: the FastAPI service (search, trajectories, watch-lists, cameras, jobs)."""
