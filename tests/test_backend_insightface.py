"""insightface pack: SCRFD decoding and batching, ArcFace alignment and embeddings, install by name."""

from __future__ import annotations

import zipfile

import cv2
import numpy as np
import pytest
from onnx_builders import (
    SCRFD_DISTANCE,
    SCRFD_KPS,
    arcface_model,
    arcface_weights,
    scrfd_model,
)

from skynet.config import Settings
from skynet.detectors import arcface, registry, scrfd
from skynet.detectors.runtime import create_session
from skynet.errors import ModelFileError
from skynet.models import ModelStore, get_pack
from skynet.models.install import install_pack
from skynet.records import Box, FaceDetection

CPU = ["CPUExecutionProvider"]


def _red_cell_image(side: int, row: int, col: int) -> np.ndarray:
    """A black ``side`` x ``side`` image, red in one 32 x 32 cell of the 640 input (scaled)."""
    image = np.zeros((side, side, 3), np.uint8)
    cell = side * 32 // 640
    image[row * cell : (row + 1) * cell, col * cell : (col + 1) * cell, 2] = 255
    return image


def _expected_face(row: int, col: int, factor: float) -> tuple[list[float], np.ndarray]:
    centre = np.array([col * 32, row * 32], np.float32)
    box = [*(centre - SCRFD_DISTANCE[:2] * 32), *(centre + SCRFD_DISTANCE[2:] * 32)]
    marks = centre + SCRFD_KPS.reshape(5, 2) * 32
    return [v * factor for v in box], marks * factor


def test_anchor_centres_are_row_major_with_two_anchors_per_cell():
    centres = scrfd.anchor_centres(64, 96, 32)
    assert centres.tolist() == [
        [0, 0],
        [0, 0],
        [32, 0],
        [32, 0],
        [64, 0],
        [64, 0],
        [0, 32],
        [0, 32],
        [32, 32],
        [32, 32],
        [64, 32],
        [64, 32],
    ]


@pytest.mark.parametrize("batched", [False, True])
def test_scrfd_finds_the_face_with_box_and_landmarks_in_image_pixels(tmp_path, batched):
    detector = scrfd.Scrfd(create_session(scrfd_model(tmp_path / "det.onnx", batched), CPU), 640, 0.5)
    assert detector.batched is batched and detector.size == 640
    big = _red_cell_image(1280, row=2, col=3)  # halved into the input
    small = _red_cell_image(640, row=5, col=7)
    blue = big[..., ::-1].copy()  # the same cell blue: SCRFD reads RGB, so no face
    found_big, found_small, found_blue = detector.detect_batch([big, small, blue])
    for found, (row, col, factor) in ((found_big, (2, 3, 2.0)), (found_small, (5, 7, 1.0))):
        assert len(found) == 1  # the cell's two anchors give one face after NMS
        box, marks = _expected_face(row, col, factor)
        assert found[0].box.as_list() == pytest.approx(box)
        np.testing.assert_allclose(found[0].landmarks, marks, atol=1e-4)
        assert found[0].score > 0.99
    assert found_blue == []
    assert detector.detect(np.zeros((100, 100, 3), np.uint8)) == []


def test_scrfd_refuses_a_model_of_another_layout(tmp_path):
    session = create_session(arcface_model(tmp_path / "not_scrfd.onnx"), CPU)
    with pytest.raises(ModelFileError, match="9 outputs"):
        scrfd.Scrfd(session, 640, 0.5)


def _template_face(scale: float, angle: float, shift: tuple[float, float]) -> np.ndarray:
    """The template landmarks moved by a similarity transform."""
    matrix = cv2.getRotationMatrix2D((56.0, 56.0), angle, scale)
    matrix[:, 2] += shift
    return cv2.transform(arcface.TEMPLATE[None], matrix)[0]


def test_alignment_puts_the_five_landmarks_on_the_template():
    landmarks = _template_face(scale=2.5, angle=20.0, shift=(150.0, 90.0))
    image = np.zeros((480, 640, 3), np.uint8)
    for i, (x, y) in enumerate(landmarks):
        cv2.circle(image, (round(float(x)), round(float(y))), 4, (0, 0, 50 * (i + 1)), -1)
    crop = arcface.align(image, landmarks, Box(0, 0, 640, 480))
    assert crop.shape == (112, 112, 3)
    for i, (x, y) in enumerate(arcface.TEMPLATE):
        assert crop[round(float(y)), round(float(x)), 2] == pytest.approx(50 * (i + 1), abs=10)


def test_arcface_embeds_all_faces_in_one_batch_normalised(tmp_path):
    path = arcface_model(tmp_path / "w600k_r50.onnx")
    embedder = arcface.load(path, CPU, 1)
    assert embedder.dim == 512
    image = np.zeros((300, 400, 3), np.uint8)
    image[:, :200] = (30, 90, 200)
    image[:, 200:] = (220, 40, 10)
    faces = [
        FaceDetection(Box(0, 0, 150, 150), 0.9, _template_face(1.0, 0.0, (20.0, 20.0))),
        FaceDetection(Box(200, 0, 400, 300), 0.9, _template_face(1.5, -10.0, (250.0, 60.0))),
    ]
    embedded = embedder.embed(image, faces)
    for face in embedded:
        crop = arcface.align(image, face.landmarks, face.box)
        mean_rgb = ((crop[..., ::-1].astype(np.float32) - 127.5) / 127.5).reshape(-1, 3).mean(axis=0)
        expected = mean_rgb @ arcface_weights()
        np.testing.assert_allclose(face.embedding, expected / np.linalg.norm(expected), atol=1e-4)
    assert float(embedded[0].embedding @ embedded[1].embedding) < 0.99
    assert embedder.embed(image, []) == []


def test_insightface_pack_installs_from_a_buffalo_zip_and_builds_by_name(tmp_path):
    archive = tmp_path / "buffalo_l.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.write(scrfd_model(tmp_path / "det.onnx"), "buffalo_l/det_10g.onnx")
        bundle.write(arcface_model(tmp_path / "rec.onnx"), "buffalo_l/w600k_r50.onnx")
        bundle.writestr("buffalo_l/genderage.onnx", b"not needed")
    pack = get_pack("insightface")
    store = ModelStore(tmp_path / "models")
    install_pack(store, pack, source=archive, report=lambda _: None)
    assert sorted(p.name for p in store.pack_dir(pack).iterdir()) == ["det_10g.onnx", "w600k_r50.onnx"]
    context = registry.BackendContext(Settings(model_dir=tmp_path / "models", execution_providers=CPU), store, pack)
    detector = registry.create("face_detector", pack.backends["face_detector"], context)
    embedder = registry.create("face_embedder", pack.backends["face_embedder"], context)
    image = _red_cell_image(640, row=4, col=4)
    faces = embedder.embed(image, detector.detect(image))
    assert len(faces) == 1 and faces[0].embedding.shape == (512,)
    # the pack's plate back-ends take their files from the default pack
    with pytest.raises(ModelFileError, match=rf"clp_det(\.int8)?\.onnx of pack 'default' is missing: {tmp_path}"):
        registry.create("plate_detector", pack.backends["plate_detector"], context)


def test_missing_insightface_file_says_which_file_and_where(tmp_path):
    source = tmp_path / "buffalo_l"
    source.mkdir()
    scrfd_model(source / "det_10g.onnx")
    pack = get_pack("insightface")
    store = ModelStore(tmp_path / "models")
    with pytest.raises(ModelFileError, match=f"{source} has no file named w600k_r50.onnx"):
        install_pack(store, pack, source=source, report=lambda _: None)
    context = registry.BackendContext(Settings(model_dir=tmp_path / "models"), store, pack)
    with pytest.raises(ModelFileError) as error:
        registry.create("face_embedder", "arcface", context)
    assert "w600k_r50.onnx" in error.value.message and str(store.pack_dir(pack)) in error.value.message
    assert "skynet models install insightface --from" in error.value.hint


def test_models_list_shows_the_research_only_licence(tmp_path):
    from typer.testing import CliRunner

    from skynet.cli import _register_commands, app

    _register_commands()
    result = CliRunner().invoke(app, ["models", "list", "--model-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    section = result.output.split("\ninsightface")[1].split("\n\n")[0]
    assert "research only, not for commercial use" in section
    assert "w600k_r50.onnx" in section and "non-commercial" in section
