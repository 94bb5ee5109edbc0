"""The use cases, one module each (search, trajectories, exports, watch-lists, cameras, jobs, users,
sightings): what the HTTP API, the command line and the benchmarks call. Each takes its dependencies
(store, catalog, auditor, clock, analyser, camera control) explicitly, raises the error kinds of
:mod:`skynet.errors`, and knows nothing of HTTP."""
