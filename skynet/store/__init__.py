"""Store: the source of truth in SQL (SQLite embedded, PostgreSQL at scale) and the media files beside it.

- :mod:`~skynet.store.store` -- ``Store`` (the database and one repository per aggregate) and ``open_store``.
- :mod:`~skynet.store.database` -- ``Database``, the one handle; :mod:`~skynet.store.sqlite` and
  :mod:`~skynet.store.postgres` implement it.
- :mod:`~skynet.store.schema` -- the tables of both dialects, written once as versioned migrations.
- Repositories: :mod:`~skynet.store.cameras`, :mod:`~skynet.store.sightings` (writes in
  :mod:`~skynet.store.sighting_writes`), :mod:`~skynet.store.faces`
  (vectors per embedding model), :mod:`~skynet.store.plates`, :mod:`~skynet.store.watchlists`,
  :mod:`~skynet.store.alerts`, :mod:`~skynet.store.audit`, :mod:`~skynet.store.jobs`, :mod:`~skynet.store.users`,
  :mod:`~skynet.store.outbox`.
- :mod:`~skynet.store.plate_search` -- plate normalisation, wildcard/fuzzy plans and ranking.
- :mod:`~skynet.store.media` -- thumbnail/context JPEGs: the media-store interface; files, atomic writes, orphan sweep.
- :mod:`~skynet.store.s3_media` -- the same media in an S3-compatible object store (extra ``skynet[s3]``).
- :mod:`~skynet.store.checks`, :mod:`~skynet.store.errors` -- value checks and the store's errors.
"""

from skynet.store.store import Store, open_media, open_store

__all__ = ["Store", "open_media", "open_store"]
