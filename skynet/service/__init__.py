"""The running service: assembling store, cameras, analysis, watch-lists, alerts and the API."""
