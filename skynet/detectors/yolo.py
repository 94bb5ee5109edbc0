"""YOLOv8 detectors: exported ``.onnx`` through onnxruntime, or ``.pt`` through ultralytics.

The ONNX layout is ultralytics' export: input ``images`` ``[B, 3, H, W]`` RGB in 0..1, letterboxed
(scaled to fit, padded with grey 114 around the centre); output ``[B, 4 + classes, anchors]`` with
rows centre-x, centre-y, width, height (input pixels) and one score per class, decoded here with
non-maximum suppression. A graph with a symbolic batch dimension runs several images (cameras)
in one call. The ``yolo`` and ``yolo_pt`` plate detectors return axis-aligned plates; with the
pack's optional vehicle model they look for plates inside vehicles only (:mod:`vehicle_regions`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from skynet.detectors import registry, vehicle_regions
from skynet.detectors.boxes import ScoredBoxes, nms
from skynet.detectors.runtime import create_session
from skynet.errors import ConfigError, ModelFileError
from skynet.records import Box, PlateDetection

INPUT = "images"
PAD_VALUE = 114
NMS_IOU = 0.45  # ultralytics' default
PLATE_FILE = "yolo_plate"
VEHICLE_FILE = "yolo_vehicle"


class YoloPredictor(Protocol):
    """Runs a YOLO model on several BGR images at once."""

    def predict(
        self, images: Sequence[np.ndarray], min_score: float, classes: Collection[int] | None = None
    ) -> list[ScoredBoxes]: ...


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How an image was fitted into the square input: input = image * ``scale`` + (``pad_x``, ``pad_y``)."""

    scale: float
    pad_x: int
    pad_y: int

    def to_image(self, boxes: np.ndarray) -> np.ndarray:
        """Boxes in input pixels -> image pixels."""
        offset = np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y], np.float32)
        return (boxes - offset) / self.scale


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """``image`` scaled to fit a ``size`` x ``size`` square (aspect kept) and centred on grey."""
    height, width = image.shape[:2]
    scale = min(size / height, size / width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR) if scale != 1 else image
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    square = cv2.copyMakeBorder(
        resized,
        pad_y,
        size - new_h - pad_y,
        pad_x,
        size - new_w - pad_x,
        cv2.BORDER_CONSTANT,
        value=(PAD_VALUE,) * 3,
    )
    return square, Letterbox(scale, pad_x, pad_y)


def decode(
    output: np.ndarray, min_score: float, classes: Collection[int] | None = None, nms_iou: float = NMS_IOU
) -> ScoredBoxes:
    """Detections from one image's ``[4 + classes, anchors]`` output, in input pixels.

    Each anchor keeps its best class; anchors under ``min_score`` or of a class not in
    ``classes`` are dropped, then boxes are suppressed per class at ``nms_iou``.
    """
    if output.ndim != 2 or output.shape[0] < 5:
        raise ModelFileError(f"YOLO output has shape {output.shape}; expected [4 + classes, anchors].")
    class_scores = output[4:]
    best = class_scores.argmax(axis=0)
    scores = class_scores[best, np.arange(output.shape[1])]
    keep = scores >= min_score
    if classes is not None:
        keep &= np.isin(best, list(classes))
    centre_x, centre_y, width, height = output[:4, keep]
    boxes = np.stack([centre_x - width / 2, centre_y - height / 2, centre_x + width / 2, centre_y + height / 2], 1)
    found = ScoredBoxes(boxes.astype(np.float32), scores[keep].astype(np.float32), best[keep].astype(np.int64))
    return found.select(nms(found.boxes, found.scores, nms_iou, found.classes))


class OnnxYolo:
    """A YOLOv8 ONNX export run by onnxruntime, in batches when its batch dimension is symbolic."""

    def __init__(self, session, size: int) -> None:
        inputs = session.get_inputs()
        if [i.name for i in inputs] != [INPUT]:
            raise ModelFileError(f"Not a YOLOv8 ONNX export: expected one input {INPUT!r}.")
        shape = inputs[0].shape
        if isinstance(shape[0], int) and shape[0] != 1:
            raise ModelFileError(f"YOLO ONNX export with a fixed batch of {shape[0]}; export with batch 1 or dynamic.")
        fixed = [d for d in shape[2:] if isinstance(d, int)]
        self.session = session
        self.size = fixed[0] if fixed else size  # a static export fixes its size
        self.batched = not isinstance(shape[0], int)

    def predict(
        self, images: Sequence[np.ndarray], min_score: float, classes: Collection[int] | None = None
    ) -> list[ScoredBoxes]:
        """Detections in image pixels for each image, all images in one run when the model allows."""
        if not images:
            return []
        fitted = [letterbox(image, self.size) for image in images]
        tensor = np.stack([square for square, _ in fitted])[..., ::-1].transpose(0, 3, 1, 2)
        tensor = np.ascontiguousarray(tensor, dtype=np.float32) / 255.0
        step = len(images) if self.batched else 1
        outputs = np.concatenate(
            [self.session.run(None, {INPUT: tensor[i : i + step]})[0] for i in range(0, len(images), step)]
        )
        results = []
        for output, (_, box) in zip(outputs, fitted, strict=True):
            found = decode(output, min_score, classes)
            results.append(ScoredBoxes(box.to_image(found.boxes), found.scores, found.classes))
        return results


class UltralyticsYolo:
    """A ``.pt`` YOLO model run by ultralytics (PyTorch; ``pip install 'skynet[yolo]'``)."""

    def __init__(self, path: Path, size: int, device: str | None = None) -> None:
        try:
            from ultralytics import YOLO
        except ImportError as exc:
            raise ConfigError(
                f"{path.name} needs ultralytics, which is not installed.",
                hint="pip install 'skynet[yolo]', or export the model to ONNX and use the 'yolo' pack",
            ) from exc
        try:
            self.model = YOLO(str(path), task="detect")
        except Exception as exc:  # ultralytics and torch raise many error types for bad files
            raise ModelFileError(f"Model {path.name} could not be loaded by ultralytics: {exc}") from exc
        self.size = size
        self.device = device

    def predict(
        self, images: Sequence[np.ndarray], min_score: float, classes: Collection[int] | None = None
    ) -> list[ScoredBoxes]:
        """Detections in image pixels for each image (ultralytics batches the list itself)."""
        if not images:
            return []
        results = self.model.predict(
            list(images),
            imgsz=self.size,
            conf=min_score,
            iou=NMS_IOU,
            verbose=False,
            device=self.device,
            classes=sorted(classes) if classes is not None else None,
        )
        return [
            ScoredBoxes(
                r.boxes.xyxy.cpu().numpy().astype(np.float32),
                r.boxes.conf.cpu().numpy().astype(np.float32),
                r.boxes.cls.cpu().numpy().astype(np.int64),
            )
            for r in results
        ]


class YoloPlateDetector:
    """Plates as axis-aligned boxes from a YOLO plate model, searched inside vehicles when a
    vehicle model is given and finds some (else in the whole image)."""

    def __init__(
        self,
        plates: YoloPredictor,
        min_score: float,
        vehicles: YoloPredictor | None = None,
        vehicle_min_score: float = vehicle_regions.MIN_SCORE,
    ) -> None:
        self.plates = plates
        self.min_score = min_score
        self.vehicles = vehicles
        self.vehicle_min_score = vehicle_min_score

    def detect(self, image: np.ndarray, close_ups: bool = True) -> list[PlateDetection]:
        """Plates in a BGR uint8 image (boxes clipped to it); one look finds every size (``close_ups`` unused)."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray], close_ups: bool = True) -> list[list[PlateDetection]]:
        """Plates of several images (e.g. one frame per camera), each model run once for all (``close_ups``
        unused)."""
        if self.vehicles is None:
            regions = [[vehicle_regions.whole(image)] for image in images]
        else:
            found = self.vehicles.predict(images, self.vehicle_min_score, vehicle_regions.VEHICLE_CLASSES)
            regions = [vehicle_regions.search_regions(image, f.boxes) for image, f in zip(images, found, strict=True)]
        crops = [vehicle_regions.crop(image, r) for image, rs in zip(images, regions, strict=True) for r in rs]
        found_in_crops = iter(self.plates.predict(crops, self.min_score))
        results = []
        for image, image_regions in zip(images, regions, strict=True):
            per_region = [next(found_in_crops) for _ in image_regions]
            merged = vehicle_regions.merge(per_region, image_regions)
            results.append(_plates(merged, image.shape[1], image.shape[0]))
        return results


def _plates(found: ScoredBoxes, width: int, height: int) -> list[PlateDetection]:
    plates = []
    for box, score in zip(found.boxes, found.scores, strict=True):
        clipped = Box(*map(float, box)).clipped(width, height)
        if clipped.area > 0:
            corners = np.array(
                [
                    [clipped.x1, clipped.y1],
                    [clipped.x2, clipped.y1],
                    [clipped.x2, clipped.y2],
                    [clipped.x1, clipped.y2],
                ],
                np.float32,
            )
            plates.append(PlateDetection(box=clipped, score=float(score), corners=corners))
    return plates


def _onnx(context: registry.BackendContext, path: Path) -> OnnxYolo:
    settings = context.settings
    session = create_session(path, settings.execution_providers, settings.intra_op_threads, path.name)
    return OnnxYolo(session, settings.yolo_input_size)


@registry.register("plate_detector", "yolo")
def create_onnx(context: registry.BackendContext) -> YoloPlateDetector:
    """Plate detector from the pack's ``yolo_plate.onnx`` (+ optional ``yolo_vehicle.onnx``)."""
    vehicles = context.optional_model_path(f"{VEHICLE_FILE}.onnx")
    return YoloPlateDetector(
        _onnx(context, context.model_path(f"{PLATE_FILE}.onnx")),
        context.settings.yolo_min_score,
        _onnx(context, vehicles) if vehicles else None,
    )


@registry.register("plate_detector", "yolo_pt")
def create_ultralytics(context: registry.BackendContext) -> YoloPlateDetector:
    """Plate detector from the pack's ``yolo_plate.pt`` (+ optional ``yolo_vehicle.pt``) via ultralytics."""
    size = context.settings.yolo_input_size
    vehicles = context.optional_model_path(f"{VEHICLE_FILE}.pt")
    return YoloPlateDetector(
        UltralyticsYolo(context.model_path(f"{PLATE_FILE}.pt"), size),
        context.settings.yolo_min_score,
        UltralyticsYolo(vehicles, size) if vehicles else None,
    )
