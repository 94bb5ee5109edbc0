"""dlib's face ResNet read without dlib and rebuilt as ONNX: the reader, the graph, and dlib's own descriptors."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import replace

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from dlib_support import compact, tiny_network

from skynet.errors import ModelFileError
from skynet.models import ModelStore, get_pack
from skynet.models.dlib_dnn import AddPrev, Conv, DlibFormatError, FullyConnected, Pool, _Reader, parse_network
from skynet.models import dlib_onnx
from skynet.models.dlib_onnx import INPUT, OUTPUT, block_size, build_graph, convert, graph_input

DAT = "dlib_face_recognition_resnet_model_v1.dat"
ONNX = "dlib_face_recognition_resnet_model_v1.onnx"


def _session(model: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(model, providers=["CPUExecutionProvider"])


def _descriptors(session: ort.InferenceSession, bgr_chips: np.ndarray) -> np.ndarray:
    """The graph's output for BGR uint8 chips [N, H, W, 3], laid out as the graph takes them."""
    return session.run([OUTPUT], {INPUT: graph_input(bgr_chips, block_size(session.get_inputs()[0].shape[1]))})[0]


@pytest.mark.parametrize("value", [0, 1, 150, 255, 256, 4736, 1 << 40, -1, -17, -300])
def test_compact_integers_read_back(value):
    assert _Reader(compact(value)).integer() == value


def test_tiny_network_is_parsed_layer_by_layer_past_the_bookkeeping():
    network = parse_network(tiny_network())
    assert network.input.size == (18, 18)
    assert network.input.mean_rgb == (122.5, 117.0, 104.25)
    kinds = [type(layer).__name__ for layer in network.layers]
    assert kinds.count("Conv") == 5 and kinds.count("Affine") == 5 and kinds.count("AddPrev") == 2
    first = network.layers[0]
    assert isinstance(first, Conv) and first.weights.shape == (4, 3, 3, 3) and first.padding == (1, 1)
    down = [layer for layer in network.layers if isinstance(layer, Conv) and layer.stride == (2, 2)]
    assert len(down) == 1 and down[0].weights.shape == (8, 4, 3, 3)
    assert sum(isinstance(layer, AddPrev) for layer in network.layers) == 2
    assert [layer.window for layer in network.layers if isinstance(layer, Pool)] == [(3, 3), (2, 2), (0, 0)]
    assert isinstance(network.layers[-1], FullyConnected) and network.layers[-1].weights.shape == (8, 4)


def test_tiny_network_becomes_a_valid_graph_with_a_padded_residual_add():
    model = build_graph(parse_network(tiny_network()))
    onnx.checker.check_model(model, full_check=True)
    pads = [node for node in model.graph.node if node.op_type == "Pad"]
    assert pads, "the down-sampling block adds a 3x3 output to a 4x4 shortcut: both must be zero-padded"
    chips = np.random.default_rng(1).integers(0, 256, (3, 18, 18, 3), dtype=np.uint8)
    out = _session(model.SerializeToString())
    assert out.get_inputs()[0].shape == ["batch", 3, 18, 18]  # a first convolution at stride 1: plain NCHW
    descriptors = _descriptors(out, chips)
    assert descriptors.shape == (3, 4) and np.isfinite(descriptors).all()
    single = _descriptors(out, chips[1:2])
    np.testing.assert_allclose(single[0], descriptors[1], rtol=1e-5, atol=1e-6)  # batching changes nothing


def test_an_average_pooled_shortcut_padded_with_channels_is_one_convolution(monkeypatch):
    """The down-sampling block's shortcut (2x2 average pool, then zero channels up to the block's width) is
    built as one convolution: the same descriptors as the pool followed by the pad."""
    model = build_graph(parse_network(tiny_network()))
    assert not [node for node in model.graph.node if node.op_type == "AveragePool"]
    as_conv = _session(model.SerializeToString())

    def pool_then_pad(graph, source, pool, shape, name):
        return dlib_onnx._padded(graph, dlib_onnx._pool(graph, source, pool, f"{name}.pool"), shape, name)

    monkeypatch.setattr(dlib_onnx, "_pooled_into_channels", pool_then_pad)
    reference = build_graph(parse_network(tiny_network()))
    assert [node for node in reference.graph.node if node.op_type == "AveragePool"]
    chips = np.random.default_rng(4).integers(0, 256, (3, 18, 18, 3), dtype=np.uint8)
    np.testing.assert_allclose(
        _descriptors(as_conv, chips), _descriptors(_session(reference.SerializeToString()), chips), rtol=1e-5, atol=1e-6
    )


def test_a_strided_first_convolution_reads_the_chips_space_to_depth_with_the_same_result(monkeypatch):
    """dlib's first convolution (7x7 at stride 2) runs on the chips rearranged into 2x2 blocks of 12 channels,
    its kernel split alike: the same descriptors as the convolution at stride 2 on the plain BGR chips."""
    network = parse_network(tiny_network())
    first = network.layers[0]
    layers = (replace(first, stride=(2, 2), padding=(0, 0)), *network.layers[1:])
    strided = replace(network, input=replace(network.input, size=(36, 36)), layers=layers)
    blocked = _session(build_graph(strided).SerializeToString())
    assert blocked.get_inputs()[0].shape == ["batch", 12, 18, 18]
    monkeypatch.setattr(dlib_onnx, "_input_step", lambda network, first: 1)
    plain = _session(build_graph(strided).SerializeToString())
    assert plain.get_inputs()[0].shape == ["batch", 3, 36, 36]
    chips = np.random.default_rng(2).integers(0, 256, (2, 36, 36, 3), dtype=np.uint8)
    np.testing.assert_allclose(_descriptors(blocked, chips), _descriptors(plain, chips), rtol=1e-5, atol=1e-5)
    rgb = np.random.default_rng(3).integers(0, 256, (1, 36, 36, 3), dtype=np.uint8)
    assert not np.allclose(_descriptors(plain, rgb), _descriptors(plain, rgb[..., ::-1]))  # channel order counts


def test_a_truncated_network_is_a_format_error_wherever_it_is_cut():
    data = tiny_network()
    for end in range(0, len(data), 37):
        with pytest.raises(DlibFormatError):
            parse_network(data[:end])


def test_converting_a_damaged_file_names_it(tmp_path):
    data = tiny_network()
    for label, damaged in (
        ("truncated", data[: len(data) // 2]),
        ("not dlib", b"\x00" * 4096),
        ("tag overwritten", data.replace(b"affine_", b"affinx_", 1)),
    ):
        path = tmp_path / f"{label.replace(' ', '_')}.dat"
        path.write_bytes(damaged)
        with pytest.raises(ModelFileError, match=path.name):
            convert(path)


# ---- the real model (default pack) --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dat_file(model_settings):
    return ModelStore(model_settings.models_path).require(get_pack("default"), DAT)


@pytest.mark.models
def test_conversion_is_deterministic_and_matches_the_recorded_checksum(dat_file):
    first, second = convert(dat_file), convert(dat_file)
    assert first == second
    assert hashlib.sha256(first).hexdigest() == get_pack("default").file(ONNX).sha256


@pytest.mark.models
def test_a_truncated_real_model_names_the_file(dat_file, tmp_path):
    cut = tmp_path / DAT
    cut.write_bytes(dat_file.read_bytes()[:5_000_000])
    with pytest.raises(ModelFileError, match=DAT):
        convert(cut)


@pytest.fixture(scope="module")
def real_faces(model_settings, shared_data):
    """(BGR image, its largest CenterFace face, dlib's 5-point shape of it) for every 6th DEV photo."""
    import dlib

    from skynet.detectors.analyzer import ImageAnalyzer
    from skynet.detectors.dlib_resnet import SHAPE_FILE

    data = shared_data("faces_identities")
    fp32 = model_settings.model_copy(update={"precision": "fp32"})
    detector = ImageAnalyzer.from_settings(fp32).face_detector
    predictor = dlib.shape_predictor(str(ModelStore(fp32.models_path).require(get_pack("default"), SHAPE_FILE)))
    rows = list(csv.DictReader((data / "labels.csv").open(encoding="utf-8")))
    found = []
    for row in rows[::6]:  # 29 photos across all sources and people
        image = cv2.imread(str(data / "images" / row["filename"]))
        faces = detector.detect(image)
        if faces:
            face = max(faces, key=lambda f: f.box.area)
            box = face.box
            rect = dlib.rectangle(round(box.x1), round(box.y1), round(box.x2) - 1, round(box.y2) - 1)
            found.append((image, face, predictor(np.ascontiguousarray(image[:, :, ::-1]), rect)))
    assert len(found) >= 25
    return found


@pytest.mark.models
def test_onnx_descriptors_equal_dlibs_on_real_faces(model_settings, real_faces, dat_file):
    """Same aligned chip in, dlib's descriptor out (max difference <= 1e-4): indexes and watch-lists built with
    native dlib stay valid."""
    import dlib

    from skynet.detectors.dlib_resnet import CHIP_PADDING, CHIP_SIZE

    native = dlib.face_recognition_model_v1(str(dat_file))
    session = _session(ModelStore(model_settings.models_path).require(get_pack("default"), ONNX).read_bytes())
    chips = [
        dlib.get_face_chip(np.ascontiguousarray(image[:, :, ::-1]), shape, size=CHIP_SIZE, padding=CHIP_PADDING)
        for image, _, shape in real_faces
    ]
    expected = np.stack([np.asarray(native.compute_face_descriptor(chip), np.float32) for chip in chips])
    got = _descriptors(session, np.stack(chips)[..., ::-1])  # dlib's chips are RGB
    assert np.abs(got - expected).max() <= 1e-4


@pytest.mark.models
def test_the_fp32_embedder_gives_dlibs_normalised_descriptors_for_detected_faces(model_settings, real_faces, dat_file):
    """The whole back-end (alignment on the detector's box, one batch per image) against dlib's own
    ``compute_face_descriptor`` on the image, as the native embedder computed it."""
    import dlib

    from skynet.detectors.analyzer import ImageAnalyzer

    native = dlib.face_recognition_model_v1(str(dat_file))
    embedder = ImageAnalyzer.from_settings(model_settings.model_copy(update={"precision": "fp32"})).face_embedder
    for image, face, shape in real_faces[:8]:
        expected = np.asarray(native.compute_face_descriptor(np.ascontiguousarray(image[:, :, ::-1]), shape))
        expected /= np.linalg.norm(expected)
        got = embedder.embed(image, [face, face])  # two faces: one batch
        assert np.abs(got[0].embedding - expected).max() <= 1e-4
        np.testing.assert_allclose(got[1].embedding, got[0].embedding, atol=1e-6)


def _predictor(model_settings):
    import dlib

    from skynet.detectors.dlib_resnet import SHAPE_FILE

    return dlib.shape_predictor(str(ModelStore(model_settings.models_path).require(get_pack("default"), SHAPE_FILE)))


def _scaled_chips(predictor, image, face, side, cut_to_face=False):
    """``image`` scaled so that ``face``'s chip area is ``side`` pixels wide (cut through the face's right edge
    when ``cut_to_face``): (dlib's chip, ours) of it."""
    import dlib

    from skynet.detectors.dlib_resnet import CHIP_PADDING, CHIP_SIZE, chip_of

    box = face.box
    rect = dlib.rectangle(round(box.x1), round(box.y1), round(box.x2) - 1, round(box.y2) - 1)
    scale = side / dlib.get_face_chip_details(predictor(image, rect), CHIP_SIZE, CHIP_PADDING).rect.width()
    scaled = cv2.resize(
        image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    right = round(box.x2 * scale) if cut_to_face else scaled.shape[1]
    scaled = np.ascontiguousarray(scaled[:, :right])
    rect = dlib.rectangle(
        round(box.x1 * scale), round(box.y1 * scale), round(box.x2 * scale) - 1, round(box.y2 * scale) - 1
    )
    details = dlib.get_face_chip_details(predictor(scaled, rect), CHIP_SIZE, CHIP_PADDING)
    return dlib.extract_image_chip(scaled, details), chip_of(scaled, details)


@pytest.mark.models
def test_chips_cut_by_opencv_are_dlibs(model_settings, real_faces):
    """Camera-size faces (and faces cut by the image border), which dlib samples from the image itself, give
    dlib's own chip within 1 grey level."""
    predictor = _predictor(model_settings)
    differing = compared = 0
    for image, face, _ in real_faces[:8]:
        for side, cut in ((60.0, False), (150.0, True), (290.0, False)):  # from about 300 dlib uses a pyramid
            expected, got = _scaled_chips(predictor, image, face, side, cut)
            assert got.shape == expected.shape and got.dtype == np.uint8
            assert np.abs(got.astype(int) - expected).max() <= 1
            differing += int(np.count_nonzero(got != expected))
            compared += got.size
    assert differing <= 1e-3 * compared


@pytest.mark.models
def test_chips_of_large_faces_keep_dlibs_descriptors(model_settings, real_faces, dat_file):
    """Faces large enough for dlib's image pyramid (1 to 3 halvings) are cut from OpenCV's pyramid: about a
    grey level from dlib's chip, and their descriptors within a cosine of 0.999 of those of dlib's chip
    (measured: >= 0.9998 on the DEV photos)."""
    predictor = _predictor(model_settings)
    pairs = [
        _scaled_chips(predictor, image, face, side)
        for image, face, _ in real_faces[:8]
        for side in (350.0, 700.0, 1400.0)
    ]
    expected, got = (np.stack(chips) for chips in zip(*pairs, strict=True))
    assert got.shape == expected.shape and got.dtype == np.uint8
    assert np.abs(got.astype(int) - expected).mean() <= 3.0
    session = _session(ModelStore(model_settings.models_path).require(get_pack("default"), ONNX).read_bytes())
    dlibs, ours = (_descriptors(session, chips) for chips in (expected, got))
    cosine = (dlibs * ours).sum(axis=1) / np.linalg.norm(dlibs, axis=1) / np.linalg.norm(ours, axis=1)
    assert cosine.min() >= 0.999 and np.median(cosine) >= 0.9995


@pytest.mark.models
def test_a_view_of_a_frame_embeds_as_the_frame(model_settings, real_faces):
    """A frame that is not one block of memory (a view) is cut around each face first: the same embeddings."""
    from skynet.detectors.analyzer import ImageAnalyzer

    embedder = ImageAnalyzer.from_settings(model_settings.model_copy(update={"precision": "fp32"})).face_embedder
    for image, face, _ in real_faces[:4]:
        view = image[:, : image.shape[1] - 1]
        assert not view.flags.c_contiguous
        got, expected = (embedder.embed(pixels, [face])[0].embedding for pixels in (view, np.ascontiguousarray(view)))
        assert float(got @ expected) >= 0.9999
