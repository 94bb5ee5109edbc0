"""Model packs: which files each pack needs, where they come from, and where they live.

``packs`` declares the packs (files, sources, checksums, licences, back-ends); ``store``
finds and verifies files in the model directory; ``install`` fetches them. Inference code
only ever calls :meth:`ModelStore.require`, which never reaches the network.
"""

from skynet.models.packs import BuiltFrom, ModelFile, ModelPack, WheelSource, all_packs, get_pack, register_pack
from skynet.models.store import FileStatus, ModelStore

__all__ = [
    "BuiltFrom",
    "FileStatus",
    "ModelFile",
    "ModelPack",
    "ModelStore",
    "WheelSource",
    "all_packs",
    "get_pack",
    "register_pack",
]
