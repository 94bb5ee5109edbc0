"""Synthetic Chinese plates and scenes: for the demo, tests and benchmarks (no data files needed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from skynet.errors import ConfigError

CJK_FONTS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
)

PLATE_SIZE = (440, 140)
_STYLES = {  # background RGB, text RGB
    "blue": ((20, 60, 190), (255, 255, 255)),
    "yellow": ((245, 190, 20), (0, 0, 0)),
    "green": ((90, 200, 120), (0, 0, 0)),
}


def find_cjk_font() -> Path:
    """A font with Chinese glyphs; a clear error naming the Debian package when none is installed."""
    for candidate in CJK_FONTS:
        if candidate.is_file():
            return candidate
    raise ConfigError("No font with Chinese glyphs found.", hint="install it: apt-get install fonts-wqy-zenhei")


def render_plate(text: str, font_path: Path | None = None, style: str | None = None) -> np.ndarray:
    """A 440x140 BGR plate image of ``text``; style defaults to green for 8 characters, else blue."""
    style = style or ("green" if len(text) == 8 else "blue")
    background, ink = _STYLES[style]
    width, height = PLATE_SIZE
    plate = Image.new("RGB", PLATE_SIZE, background)
    draw = ImageDraw.Draw(plate)
    draw.rectangle((6, 6, width - 7, height - 7), outline=ink, width=3)
    font = ImageFont.truetype(str(font_path or find_cjk_font()), 96)
    slot = (width - 40) / len(text)
    for i, char in enumerate(text):
        left, top, right, bottom = draw.textbbox((0, 0), char, font=font)
        x = 20 + slot * i + (slot - (right - left)) / 2 - left
        y = (height - (bottom - top)) / 2 - top
        draw.text((x, y), char, font=font, fill=ink)
    return cv2.cvtColor(np.asarray(plate), cv2.COLOR_RGB2BGR)


def paste_plate(scene: np.ndarray, plate: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """``scene`` with ``plate`` warped onto ``corners`` (left-top, right-top, right-bottom, left-bottom).

    The corners make a convex quadrilateral (a plate seen in perspective); they may lie outside the scene: the
    plate is then cut by the image edge. Only the corners' bounding box is warped (the same pixels as a warp of
    the whole scene, a sixth of the time on a 1080p one).
    """
    height, width = plate.shape[:2]
    corners = np.asarray(corners, np.float32)
    source = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    (low_x, low_y), (high_x, high_y) = corners.min(axis=0), corners.max(axis=0)
    left, top = max(int(np.floor(low_x)) - 1, 0), max(int(np.floor(low_y)) - 1, 0)
    right, bottom = min(int(np.ceil(high_x)) + 2, scene.shape[1]), min(int(np.ceil(high_y)) + 2, scene.shape[0])
    out = scene.copy()
    if right <= left or bottom <= top:
        return out
    to_box = np.array([[1, 0, -left], [0, 1, -top], [0, 0, 1]], np.float64)
    matrix = to_box @ cv2.getPerspectiveTransform(source, corners)
    size = (right - left, bottom - top)
    warped = cv2.warpPerspective(plate, matrix, size, flags=cv2.INTER_LINEAR)
    inside = cv2.warpPerspective(np.full((height, width), 255, np.uint8), matrix, size) > 127
    out[top:bottom, left:right][inside] = warped[inside]
    return out


def street_scene(width: int = 1280, height: int = 720, seed: int = 0) -> np.ndarray:
    """A plain textured background (road, kerb, noise) to paste plates onto."""
    rng = np.random.default_rng(seed)
    scene = np.empty((height, width, 3), np.uint8)
    scene[: height // 3] = (190, 170, 150)
    scene[height // 3 :] = (90, 90, 95)
    noise = rng.normal(0, 6, scene.shape)
    return np.clip(scene + noise, 0, 255).astype(np.uint8)


DEMO_PLATES = ("桂B12345", "粤BD12345", "京A88888")
# Where paste_demo_plates puts the first two demo plates, as fractions of the scene's width and height.
_DEMO_CORNERS = (
    ((0.234, 0.583), (0.406, 0.597), (0.405, 0.694), (0.233, 0.678)),
    ((0.625, 0.528), (0.813, 0.517), (0.817, 0.625), (0.628, 0.633)),
)


def paste_demo_plates(scene: np.ndarray) -> np.ndarray:
    """``scene`` with the first two :data:`DEMO_PLATES` (a blue and a new-energy plate) pasted in, tilted."""
    size = np.array([scene.shape[1], scene.shape[0]], np.float32)
    for text, corners in zip(DEMO_PLATES, _DEMO_CORNERS, strict=False):
        scene = paste_plate(scene, render_plate(text), np.array(corners, np.float32) * size)
    return scene


def write_demo_clip(
    path: Path,
    seconds: float = 24.0,
    fps: int = 10,
    size: tuple[int, int] = (960, 540),
    plates: tuple[str, ...] = DEMO_PLATES,
) -> Path:
    """A street clip in which each of ``plates`` drives across in turn (MJPEG AVI, OpenCV's own
    encoder, so no external tool is needed). The demo camera plays it in a loop."""
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    if not writer.isOpened():
        raise ConfigError(f"cannot write the demo clip {path}.")
    background = street_scene(width, height)
    rendered = [render_plate(text) for text in plates]
    frames = int(seconds * fps)
    slot = frames // len(plates)
    try:
        for index in range(frames):
            image = background.copy()
            which, step = divmod(index, slot)
            if which < len(plates) and step < slot * 2 // 3:  # a gap after each car: the track ends
                x = -40 + (width + 80) * step / (slot * 2 / 3)
                y = height * 0.62
                corners = np.array([[x, y], [x + 200, y + 4], [x + 199, y + 68], [x - 1, y + 64]], np.float32)
                image = paste_plate(image, rendered[which], corners)
            writer.write(image)
    finally:
        writer.release()
    return path
