"""Which embedding model a face vector came from, and where that model's face index lives.

Vectors of different face embedders are not comparable (dlib's 128-d space has nothing to do with
ArcFace's 512-d one, and two 512-d models are no more alike), so every stored face embedding
records its model id and each model has its own face index directory. A model id names a face-embedder
back-end and the model pack whose weights it runs (``default/dlib_resnet``); a pack that keeps its base pack's embedder
(the YOLO and EasyOCR packs keep the default dlib faces) has its base's id, so only switching
``SKYNET_MODEL_PACK`` to another embedder (the insightface pack's ArcFace) starts a re-embedding
job (:mod:`skynet.index.reembed`).
"""

from __future__ import annotations

import re
from pathlib import Path

from skynet.models import get_pack

INDEX_DIR = "index"


def face_model_id(pack_name: str) -> str:
    """The embedding model id of model pack ``pack_name``: ``<pack>/<face_embedder back-end>``, where
    ``<pack>`` is the furthest base pack with the same face embedder (whose weights it uses)."""
    pack = get_pack(pack_name)
    backend = pack.backends["face_embedder"]
    while pack.base and get_pack(pack.base).backends.get("face_embedder") == backend:
        pack = get_pack(pack.base)
    return f"{pack.name}/{backend}"


def index_dir(data_dir: Path, model: str, root: Path | None = None) -> Path:
    """The directory of ``model``'s face index: ``<root>/<model, / as +>``; ``root`` defaults to ``<data_dir>/index``
    (``index_dir`` setting: a cluster's API nodes each keep their own)."""
    return Path(root if root is not None else Path(data_dir) / INDEX_DIR) / re.sub(r"[^A-Za-z0-9._@-]", "+", model)
