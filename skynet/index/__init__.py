"""Index: the sighting store (source of truth) and the derived FAISS face index.

- :mod:`~skynet.index.catalog` -- ``Catalog``: store + face index kept in step (the entry point).
- :mod:`~skynet.index.store` -- the ``SightingStore`` protocol and the values it passes.
- :mod:`~skynet.index.sql_store` -- what the SQL backends share; :mod:`~skynet.index.sqlite_store`
  (embedded default, schema in :mod:`~skynet.index.schema`) and :mod:`~skynet.index.postgres_store`
  (schema in :mod:`~skynet.index.pg_schema`).
- :mod:`~skynet.index.media` -- thumbnail/context JPEG files, atomic writes, orphan sweep.
- :mod:`~skynet.index.face_index` -- exact/HNSW cosine search with filters inside the search.
- :mod:`~skynet.index.plate_search` -- plate normalisation, wildcard/fuzzy plans and ranking.
- :mod:`~skynet.index.retention` -- deleting old sightings, once or as a periodic policy.
"""
