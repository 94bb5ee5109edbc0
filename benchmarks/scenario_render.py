"""Renders a scenario plan into one H.264 clip per camera (Debian ffmpeg, through ``make_clip``).

Each visit becomes a sprite drawn at its lane: a face photo cropped around its face with soft
elliptical edges, or a car body carrying its plate (a crop from the plate set, or a rendered
synthetic plate, slightly tilted). Along the visit the sprite moves across its lane, grows or
shrinks, and is blurred a little; it appears at ``t_in`` and is gone after ``t_out``.
"""

from __future__ import annotations

import csv
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from scenario_plan import FACE_LANES, PLATE_LANES, Plan, Visit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from ingest_support import make_clip

from skynet.synthetic import PLATE_SIZE, paste_plate, render_plate

FACE_CROP = 1.6  # the pasted square is this many face heights across
MIN_BACKGROUND_S = 5.0  # shorter background clips (a 1.5 s dash-cam) are not used
Box = tuple[float, float, float, float]
Sprite = tuple[np.ndarray, np.ndarray]  # BGR image, alpha 0..1 float32


def face_sprite(photo: np.ndarray, box: Box | None, face_px: float) -> Sprite:
    """A square around the photo's face (the whole photo when none is known), scaled so the face is
    ``face_px`` tall, with an elliptical soft-edged alpha."""
    height, width = photo.shape[:2]
    x1, y1, x2, y2 = box or (0.25 * width, 0.2 * height, 0.75 * width, 0.8 * height)
    side = FACE_CROP * max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    matrix = np.float32([[1, 0, side / 2 - cx], [0, 1, side / 2 - cy]])
    crop = cv2.warpAffine(photo, matrix, (int(side), int(side)), borderMode=cv2.BORDER_REPLICATE)
    out = max(8, round(face_px * FACE_CROP))
    crop = cv2.resize(crop, (out, out), interpolation=cv2.INTER_AREA if out < side else cv2.INTER_CUBIC)
    alpha = np.zeros((out, out), np.float32)
    cv2.ellipse(alpha, (out // 2, out // 2), (int(out * 0.42), int(out * 0.49)), 0, 0, 360, 1.0, -1)
    return crop, cv2.GaussianBlur(alpha, (0, 0), out * 0.03)


def car_sprite(plate: np.ndarray, plate_px: float, colour: tuple[int, int, int], rng: np.random.Generator) -> Sprite:
    """A car's rear (body, rear window, lights) ``2.1 * plate_px`` wide with ``plate`` on it, slightly tilted."""
    plate_w = plate_px
    plate_h = plate_w * PLATE_SIZE[1] / PLATE_SIZE[0]
    width, height = round(2.1 * plate_w), round(1.05 * plate_w)
    body = np.zeros((height, width, 3), np.uint8)
    alpha = np.zeros((height, width), np.float32)
    radius = height // 6
    cv2.rectangle(alpha, (radius, 0), (width - radius, height), 1.0, -1)
    cv2.rectangle(alpha, (0, radius), (width, height - radius), 1.0, -1)
    for x in (radius, width - radius):
        for y in (radius, height - radius):
            cv2.circle(alpha, (x, y), radius, 1.0, -1)
    body[:] = colour
    cv2.rectangle(
        body, (int(width * 0.15), int(height * 0.06)), (int(width * 0.85), int(height * 0.38)), (40, 35, 30), -1
    )
    for x in (0.1, 0.9):
        cv2.circle(body, (int(width * x), int(height * 0.55)), max(2, height // 12), (30, 30, 200), -1)
    left, top = (width - plate_w) / 2, height * 0.58
    jitter = rng.uniform(-0.02, 0.02, (4, 2)) * plate_w
    corners = (
        np.float32([[left, top], [left + plate_w, top], [left + plate_w, top + plate_h], [left, top + plate_h]])
        + jitter
    )
    return paste_plate(body, plate, corners), alpha


def place(frame: np.ndarray, sprite: Sprite, centre: tuple[float, float], scale: float, blur: float) -> None:
    """Alpha-blend ``sprite`` scaled by ``scale`` and blurred by ``blur`` (sigma) at ``centre``, clipped."""
    image, alpha = sprite
    w = max(2, round(image.shape[1] * scale))
    h = max(2, round(image.shape[0] * scale))
    image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_AREA)
    if blur > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), blur)
    x0, y0 = round(centre[0] - w / 2), round(centre[1] - h / 2)
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(frame.shape[1], x0 + w), min(frame.shape[0], y0 + h)
    if fx1 <= fx0 or fy1 <= fy0:
        return
    patch = image[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0].astype(np.float32)
    weight = alpha[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0, None]
    region = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    frame[fy0:fy1, fx0:fx1] = (region * (1 - weight) + patch * weight).astype(np.uint8)


class Background:
    """A camera's background: a surveillance clip (looped, scaled) or a generated street view."""

    def __init__(self, width: int, height: int, clip: Path | None, offset_s: float, seed: int) -> None:
        self.size = (width, height)
        self.offset_s = offset_s
        self.capture = cv2.VideoCapture(str(clip), cv2.CAP_FFMPEG) if clip else None
        self.clip_fps = self.capture.get(cv2.CAP_PROP_FPS) or 25.0 if self.capture else 0.0
        self.frames = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT)) if self.capture else 0
        self.index = -1
        self.frame = generated_street(width, height, seed)

    def at(self, t: float) -> np.ndarray:
        if self.capture is None:
            return self.frame
        wanted = int((t + self.offset_s) * self.clip_fps) % max(1, self.frames)
        if wanted < self.index:
            self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            self.index = -1
        while self.index < wanted:
            ok, image = self.capture.read()
            if not ok:
                break
            self.index += 1
            if self.index == wanted:
                self.frame = cv2.resize(image, self.size, interpolation=cv2.INTER_LINEAR)
        return self.frame


def generated_street(width: int, height: int, seed: int) -> np.ndarray:
    """A textured street: façades above, a road below, a kerb between."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(60, 200, (height // 24 + 1, width // 24 + 1, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(cv2.resize(blocks, (width, height), interpolation=cv2.INTER_NEAREST), (7, 7), 0)
    image[int(height * 0.7) :] = (image[int(height * 0.7) :] * 0.35 + 55).astype(np.uint8)
    image[int(height * 0.68) : int(height * 0.7)] = (170, 170, 175)
    return image


def background_clips(directory: Path | None) -> list[Path]:
    """Clips of a ``videos_surveillance``-like set (``labels.csv`` with filename and duration_s)."""
    if directory is None:
        return []
    labels = directory / "labels.csv"
    if not labels.is_file():
        raise SystemExit(f"{directory}: no labels.csv")
    with labels.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [
        directory / "videos" / r["filename"]
        for r in rows
        if float(r.get("duration_s") or 0) >= MIN_BACKGROUND_S and (directory / "videos" / r["filename"]).is_file()
    ]


def sprites_for(plan: Plan, visits: list[Visit], face_boxes: dict[str, Box | None]) -> list[Sprite]:
    """One sprite per visit, at the visit's largest size."""
    sprites = []
    for number, v in enumerate(visits):
        big = max(v.size0, v.size1)
        if v.kind == "face":
            photo = cv2.imread(str(plan.params.faces / "images" / v.asset))
            sprites.append(face_sprite(photo, face_boxes.get(v.asset), big))
        else:
            plate = render_plate(v.key) if not v.asset else cv2.imread(str(plan.params.plates / "images" / v.asset))  # type: ignore[operator]
            rng = np.random.default_rng((plan.params.seed, number))
            sprites.append(car_sprite(cv2.resize(plate, PLATE_SIZE, interpolation=cv2.INTER_CUBIC), big, v.colour, rng))
    return sprites


def lane_centre(v: Visit, f: float, width: int, height: int) -> tuple[float, float]:
    half, row = (FACE_LANES + PLATE_LANES)[v.lane]
    lane_w = width / 2
    return half * lane_w + (v.x0 + (v.x1 - v.x0) * f) * lane_w, row * height


def render_camera(plan: Plan, index: int, out: Path, face_boxes: dict[str, Box | None], clips: list[Path]) -> Path:
    """Write camera ``index``'s clip and return its path."""
    p = plan.params
    camera = plan.cameras[index]
    visits = [v for v in plan.visits if v.camera == camera.id]
    sprites = sprites_for(plan, visits, face_boxes)
    clip = clips[index % len(clips)] if clips else None
    background = Background(p.width, p.height, clip, offset_s=7.0 * index, seed=p.seed * 100 + index)

    def paint(frame_index: int, image: np.ndarray) -> None:
        t = frame_index / p.fps
        image[:] = background.at(t)
        for v, sprite in zip(visits, sprites):
            if v.t_in <= t <= v.t_out:
                f = (t - v.t_in) / (v.t_out - v.t_in)
                size = v.size0 + (v.size1 - v.size0) * f
                place(image, sprite, lane_centre(v, f, p.width, p.height), size / max(v.size0, v.size1), v.blur)

    path = out / camera.file
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_clip(path, p.seconds, p.width, p.height, p.fps, paint, preset="veryfast")


def render_all(plan: Plan, out: Path, face_boxes: dict[str, Box | None], clips: list[Path], jobs: int) -> None:
    """Every camera's clip, ``jobs`` at a time."""
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(render_camera, plan, i, out, face_boxes, clips) for i in range(len(plan.cameras))]
        for future in futures:
            print(f"wrote {future.result()}", flush=True)
