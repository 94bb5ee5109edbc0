"""Index: the face indexes derived from the store (the source of truth, :mod:`skynet.store`).

- :mod:`~skynet.index.catalog` -- ``Catalog``: store + face indexes kept in step (the entry point).
- :mod:`~skynet.index.face_index` -- cosine search over time partitions, filters inside the search.
- :mod:`~skynet.index.partition_set` -- the partitions of an index by week, swapped safely for new generations.
- :mod:`~skynet.index.face_search` -- the hits, and one search over several partitions (side by side, re-ranked once).
- :mod:`~skynet.index.face_partition` -- one time partition: exact flat or IVF-SQ8 index, exact re-ranking, builds.
- :mod:`~skynet.index.partition_builder` -- the background thread that trains, retrains and compacts partitions.
- :mod:`~skynet.index.partition_files` -- the partitions on disk; :mod:`~skynet.index.vector_file` -- exact vectors.
- :mod:`~skynet.index.face_models` -- embedding model ids and where each model's index lives.
- :mod:`~skynet.index.writer` -- the sink camera workers publish sightings to, stored in batches.
- :mod:`~skynet.index.reembed` -- re-embedding every stored face with another model, as a job.
- :mod:`~skynet.index.retention` -- deleting old sightings, once or as a periodic policy.
"""
