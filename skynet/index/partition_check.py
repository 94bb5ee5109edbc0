"""Setting a face index's partitions right by counts: the check behind the follow-ups of the store (a cluster's API
nodes and index shards), for what following could not see -- deletions while a follower was away longer than the
change log keeps them, vectors committed out of id order."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from skynet.index.face_index import FaceIndex
from skynet.store.faces import FaceRepository


def set_right(index: FaceIndex, faces: FaceRepository, keys: Iterable[int]) -> dict[int, tuple[int, int]]:
    """Compare the vector count of each partition ``keys`` of ``index`` (one count query each) with the store's over
    its time range; where they differ, remove the vectors the store no longer has and add those the index lacks.
    Returns (removed, added) per partition set right."""
    held = {part.key: part for part in index.partitions()}
    fixed = {}
    for key in sorted(set(keys)):
        between = (key * index.partition_s, (key + 1) * index.partition_s)
        part = held.get(key)
        # what the index has, read before the store: a vector in it was committed before, so one the store then
        # lacks was deleted (not one committed and added meanwhile)
        have = part.rows.ids[: part.rows.n][part.rows.alive[: part.rows.n]] if part else np.zeros(0, np.int64)
        if faces.count_between(between, index.model) == len(have):
            continue
        stored = faces.ids(index.model, between=between)
        removed = index.remove(np.setdiff1d(have, stored))
        added = sum(index.add_unseen(batch) for batch in faces.batches(np.setdiff1d(stored, have), model=index.model))
        fixed[key] = (removed, added)
    return fixed


def set_right_all(index: FaceIndex, faces: FaceRepository) -> dict[int, tuple[int, int]]:
    """:func:`set_right` over every partition the index or the store holds (a whole index)."""
    stored = faces.partition_keys(index.partition_s, index.model)
    return set_right(index, faces, {*stored, *(part.key for part in index.partitions())})
