"""Scale-out (docs/cluster.md): cameras as Ray actors over a cluster's nodes, API nodes over one PostgreSQL store.

:mod:`~skynet.cluster.follower` (an API node follows what other nodes commit: face index, live sightings and
alerts) needs only PostgreSQL; the Ray parts (:mod:`~skynet.cluster.camera_actor`, :mod:`~skynet.cluster.placement`,
:mod:`~skynet.cluster.status`) need the ``cluster`` extra and are imported only where a cluster is used. The
composition root (:mod:`skynet.app`) builds every part; this package holds what only a cluster needs.
"""
