"""Deep features (extraction/deep.py): the crop protocol on phantoms of known geometry, a tiny CNN
(built here with onnx.helper) against an independent numpy implementation, backbone verification and
fetching (a local HTTP server only), the pipeline and CLI wiring, and DL + radiomics training."""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from AxillaryPredictorLib.errors import ExtractionError, InputError, ModelError
from AxillaryPredictorLib.extraction import deep
from AxillaryPredictorLib.extraction.deep import DeepSpec, crop_input, resolve_model

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

SIZE = 32
RNG = np.random.default_rng(7)
W1, B1 = RNG.normal(0, 0.3, (4, 3, 3, 3)), RNG.normal(0, 0.1, 4)
W2, B2 = RNG.normal(0, 0.3, (6, 4, 3, 3)), RNG.normal(0, 0.1, 6)
W3, B3 = RNG.normal(0, 0.5, (2, 6)), RNG.normal(0, 0.1, 2)


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    """Outbound network blocked: only loopback connections; backbone cache in tmp_path."""
    real_connect = socket.socket.connect

    def connect(self, address):
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"network blocked in tests: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setenv(deep.CACHE_ENV, str(tmp_path / "cache"))


def tiny_cnn(path: Path, scale: float = 1.0, size: int | None = SIZE) -> Path:
    """Conv3x3(3->4)+ReLU -> Conv3x3 stride 2 (4->6)+ReLU = ``features`` (4-D) -> global average
    pooling -> fc (6->2) = ``logits``; fixed weights (``scale`` makes a different model)."""
    init = [numpy_helper.from_array((w * scale).astype(np.float32), name)
            for w, name in ((W1, "w1"), (B1, "b1"), (W2, "w2"), (B2, "b2"), (W3, "w3"), (B3, "b3"))]
    nodes = [helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["h1"]),
             helper.make_node("Conv", ["h1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c2"], ["features"]),
             helper.make_node("GlobalAveragePool", ["features"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"]),
             helper.make_node("Gemm", ["flat", "w3", "b3"], ["logits"], transB=1)]
    dims = [1, 3, size, size] if size else [1, 3, "H", "W"]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("image", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 6, "h", "w"]),
                               helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2])], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


# ------------------------------------------------------------------ independent reference


def np_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1) -> np.ndarray:
    """3x3 convolution with padding 1 (cross-correlation, as ONNX Conv)."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out_h = (x.shape[1] + 2 - 3) // stride + 1
    out_w = (x.shape[2] + 2 - 3) // stride + 1
    out = np.zeros((w.shape[0], out_h, out_w))
    for o in range(w.shape[0]):
        for r in range(out_h):
            for c in range(out_w):
                patch = padded[:, r * stride:r * stride + 3, c * stride:c * stride + 3]
                out[o, r, c] = np.sum(patch * w[o]) + b[o]
    return out


def np_network(tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pooled ``features``, ``logits``) of the tiny CNN in numpy."""
    h1 = np.maximum(np_conv(tensor[0].astype(np.float64), W1, B1), 0)
    h2 = np.maximum(np_conv(h1, W2, B2, stride=2), 0)
    pooled = h2.mean(axis=(1, 2))
    return pooled, W3 @ pooled + B3


def np_resize(array: np.ndarray, size: int) -> np.ndarray:
    """Bilinear, half-pixel centres, written pixel by pixel from the definition."""
    height, width = array.shape
    out = np.zeros((size, size))
    for r in range(size):
        for c in range(size):
            y = min(max((r + 0.5) * height / size - 0.5, 0.0), height - 1)
            x = min(max((c + 0.5) * width / size - 0.5, 0.0), width - 1)
            y0, x0 = int(np.floor(y)), int(np.floor(x))
            y1, x1 = min(y0 + 1, height - 1), min(x0 + 1, width - 1)
            dy, dx = y - y0, x - x0
            out[r, c] = ((1 - dy) * ((1 - dx) * array[y0, x0] + dx * array[y0, x1])
                         + dy * ((1 - dx) * array[y1, x0] + dx * array[y1, x1]))
    return out


def np_input(crop: np.ndarray, size: int) -> np.ndarray:
    crop = crop.astype(np.float64)
    scaled = (crop - crop.min()) / (crop.max() - crop.min())
    resized = np_resize(scaled, size)
    channels = [(resized - m) / s for m, s in zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), strict=True)]
    return np.stack(channels)[None]


# -------------------------------------------------------------------------------- phantom


def phantom(ties: bool = False) -> tuple[sitk.Image, sitk.Image]:
    """5 x 40 x 50 (k, rows, columns) image, pixels 0.5 mm (columns) x 0.8 mm (rows) x 2 mm; region
    180 px on k=1, 100 px on k=2 and 200 px on k=3 (180 with ``ties``)."""
    pixels = np.random.default_rng(3).normal(100, 20, (5, 40, 50)).astype(np.int16)
    mask = np.zeros((5, 40, 50), np.uint8)
    mask[1, 10:20, 12:30] = 1          # 10 x 18 = 180
    mask[2, 10:20, 12:22] = 1          # 100
    mask[3, 20:30, 30:50] = 1          # 10 x 20 = 200
    if ties:
        mask[3, 20:30, 30:32] = 0      # 180: tie with k = 1
    image, region = sitk.GetImageFromArray(pixels), sitk.GetImageFromArray(mask)
    for item in (image, region):
        item.SetSpacing((0.5, 0.8, 2.0))
        item.SetOrigin((10.0, -5.0, 3.0))
    return image, region


def test_largest_slice_bbox_and_context_in_mm_on_anisotropic_pixels():
    image, mask = phantom()
    _, box, warnings = crop_input(image, mask, context_mm=0.0, size=SIZE)
    assert (box.k, box.row0, box.row1, box.col0, box.col1) == (3, 20, 30, 30, 50) and not warnings
    assert box.region_pixels == 200
    # 2 mm: rows 2 / 0.8 = 2.5 -> 3 px, columns 2 / 0.5 = 4 px; clipped at the last column (50)
    _, box, _ = crop_input(image, mask, context_mm=2.0, size=SIZE)
    assert (box.row0, box.row1, box.col0, box.col1, box.context_px) == (17, 33, 26, 50, (3, 4))
    image, mask = phantom(ties=True)
    _, box, _ = crop_input(image, mask, size=SIZE)
    assert box.k == 1 and (box.row0, box.row1, box.col0, box.col1) == (10, 20, 12, 30)


def test_resize_is_torch_bilinear_align_corners_false():
    # torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False) of [[0,1],[2,3]]
    expected = np.array([[0.0, 0.25, 0.75, 1.0], [0.5, 0.75, 1.25, 1.5], [1.5, 1.75, 2.25, 2.5],
                         [2.0, 2.25, 2.75, 3.0]])
    assert np.allclose(deep.resize_bilinear(np.array([[0.0, 1.0], [2.0, 3.0]]), 4, 4), expected, atol=1e-12)
    # downsampling 6 -> 4 without antialiasing samples at 0.25, 1.75, 3.25, 4.75
    row = np.tile(np.arange(6.0), (6, 1))
    assert np.allclose(deep.resize_bilinear(row, 4, 4)[0], [0.25, 1.75, 3.25, 4.75], atol=1e-12)
    crop = np.random.default_rng(1).normal(size=(7, 11))
    assert np.allclose(deep.resize_bilinear(crop, 9, 9), np_resize(crop, 9), atol=1e-12)


def test_constant_crop_becomes_zeros_with_a_warning():
    image, mask = phantom()
    flat = sitk.GetImageFromArray(np.full((5, 40, 50), 7, np.int16))
    flat.CopyInformation(image)
    tensor, _, warnings = crop_input(flat, mask, size=8)
    expected = ((0 - np.array(deep.IMAGENET_MEAN)) / np.array(deep.IMAGENET_SD)).astype(np.float32)
    assert np.allclose(tensor[0, :, 0, 0], expected) and np.ptp(tensor[0], axis=(1, 2)).max() == 0
    assert len(warnings) == 1 and "constant" in warnings[0]


def test_extractor_equals_numpy_network_on_the_hand_computed_crop(tmp_path):
    image, mask = phantom()
    path = tiny_cnn(tmp_path / "tiny_cnn v1.onnx")
    pixels = sitk.GetArrayFromImage(image)
    reference = np_input(pixels[3, 17:33, 26:50], SIZE)  # hand crop: slice 3, 2 mm context
    pooled, logits = np_network(reference)
    for output, values in (("features", pooled), ("logits", logits)):
        model = resolve_model(DeepSpec(str(path), output, context_mm=2.0))
        assert model.input_size == SIZE and model.name == "tiny-cnn-v1"
        tensor, _, _ = crop_input(image, mask, 2.0, SIZE)
        assert np.allclose(tensor, reference, atol=1e-6)
        features, _, _ = model.features(image, mask, "DCE3")
        assert list(features) == [f"tumor__DCE3__deep-tiny-cnn-v1_{k}" for k in range(len(values))]
        assert np.allclose(list(features.values()), values, atol=1e-5)
    assert model.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_dimensional_image_is_its_own_slice_and_dynamic_models_use_224(tmp_path):
    pixels = np.random.default_rng(2).normal(size=(30, 20))
    mask = np.zeros((30, 20), np.uint8)
    mask[5:9, 3:10] = 1
    model = resolve_model(DeepSpec(str(tiny_cnn(tmp_path / "dyn.onnx", size=None)), "logits"))
    assert model.input_size == 224
    tensor, box, _ = crop_input(sitk.GetImageFromArray(pixels), sitk.GetImageFromArray(mask), 0.0, 224)
    assert tensor.shape == (1, 3, 224, 224) and tensor.dtype == np.float32
    assert (box.k, box.row0, box.row1, box.col0, box.col1) == (0, 5, 9, 3, 10)


def test_unknown_output_and_missing_backbone_are_clear(tmp_path):
    path = tiny_cnn(tmp_path / "tiny.onnx")
    with pytest.raises(ExtractionError, match=r"no output 'fc'.*features, logits"):
        resolve_model(DeepSpec(str(path), "fc"))
    with pytest.raises(ExtractionError, match="backbones fetch resnet18"):
        resolve_model("resnet18")
    with pytest.raises(ExtractionError, match="Unknown backbone 'resnet9'"):
        resolve_model("resnet9")


# ------------------------------------------------------------------------- registry, fetch


def test_shipped_registry_is_valid_and_has_the_three_backbones():
    registry = deep.load_registry()
    assert {"resnet18", "resnet50", "vgg19"} <= set(registry)
    for entry in registry.values():
        assert entry["url"].startswith("https://") and entry["licence"] and entry["input_size"] == 224


@pytest.fixture
def http_server(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _registry(url: str, sha256: str | None) -> dict:
    return {"tiny": {"name": "tiny", "title": "tiny", "url": url, "sha256": sha256, "licence": "CC0", "input_size": 32,
                     "output": "logits", "output_kind": "final-fc", "features": 2}}


def test_fetch_from_local_http_server_then_every_use_is_verified(http_server, tmp_path):
    folder, base = http_server
    path = tiny_cnn(folder / "tiny.onnx")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    fetched = deep.fetch_backbone("tiny", cache=cache, registry=_registry(f"{base}/tiny.onnx", digest))
    assert fetched == cache / "tiny.onnx" and fetched.read_bytes() == path.read_bytes()
    model = resolve_model("tiny", registry=_registry("", digest), cache=cache)
    assert (model.name, model.output, model.source, model.sha256) == ("tiny", "logits", "registry", digest)
    fetched.write_bytes(fetched.read_bytes() + b"\0")  # the cached file changes after the fetch
    with pytest.raises(ExtractionError, match=r"SHA-256 .* is expected.*refused"):
        resolve_model("tiny", registry=_registry("", digest), cache=cache)


def test_download_with_wrong_sha256_is_refused_and_nothing_is_kept(http_server, tmp_path):
    folder, base = http_server
    tiny_cnn(folder / "tiny.onnx")
    cache = tmp_path / "cache"
    with pytest.raises(ExtractionError, match=r"registry expects 0{64}: refused"):
        deep.fetch_backbone("tiny", cache=cache, registry=_registry(f"{base}/tiny.onnx", "0" * 64))
    assert list(cache.iterdir()) == []
    with pytest.raises(InputError, match="Could not download"):
        deep.fetch_backbone("tiny", cache=cache, registry=_registry(f"{base}/missing.onnx", "0" * 64))


def test_registry_without_checksum_pins_the_first_download(tmp_path):
    source = tiny_cnn(tmp_path / "tiny.onnx")
    cache = tmp_path / "cache"
    registry = _registry(source.as_uri(), None)
    deep.fetch_backbone("tiny", cache=cache, registry=registry)
    assert (cache / "tiny.onnx.sha256").read_text().strip() == hashlib.sha256(source.read_bytes()).hexdigest()
    tiny_cnn(cache / "tiny.onnx", scale=2.0)  # replaced by another model
    with pytest.raises(ExtractionError, match="refused"):
        resolve_model("tiny", registry=registry, cache=cache)


def test_cli_backbones_list_and_fetch_refuses_a_mismatching_mirror(http_server, tmp_path, capsys):
    from AxillaryPredictorLib.cli.main import main

    folder, base = http_server
    tiny_cnn(folder / "tiny.onnx")
    assert main(["backbones", "list"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in ("resnet18", "resnet50", "vgg19")) and "not downloaded" in listing
    assert main(["backbones", "fetch", "resnet18", "--url", f"{base}/tiny.onnx"]) == 2
    error = capsys.readouterr().err
    assert "SHA-256" in error and "4e8f8653e7a2" in error and "refused" in error
    assert not (tmp_path / "cache" / "resnet18.onnx").exists()


# ------------------------------------------------------------------------ pipeline and CLI


FIRSTORDER = "featureClass:\n  firstorder: [Mean, Energy]\nimageType:\n  Original: {}\nsetting:\n  binWidth: 25\n"


def _case():
    from AxillaryPredictorLib.pipeline import CaseInputs, Scan

    image, mask = phantom()
    return CaseInputs.single("c1", {"DCE3": Scan(image, mask)}), image, mask


def test_extract_case_puts_deep_and_radiomics_columns_in_one_row_with_provenance(tmp_path):
    from AxillaryPredictorLib.extraction.tables import write_features
    from AxillaryPredictorLib.pipeline import RegionSettings, extract_case

    params = tmp_path / "fo.yaml"
    params.write_text(FIRSTORDER)
    path = tiny_cnn(tmp_path / "tiny.onnx")
    inputs, image, _ = _case()
    result = extract_case(inputs, str(params), RegionSettings((3.0,)), regions=["tumor"],
                          deep=DeepSpec(str(path), "logits", context_mm=2.0))
    assert "tumor__DCE3__original_firstorder_Mean" in result.features
    tumor = result.regions[""]["DCE3"].images["tumor"]  # the largest component: slices 1-2, not 3
    expected = resolve_model(DeepSpec(str(path), "logits", context_mm=2.0)).features(image, tumor, "DCE3")[0]
    assert {k: v for k, v in result.features.items() if "deep-" in k} == pytest.approx(expected, abs=1e-12)
    assert result.provenance["deep"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.provenance["deep"]["protocol"]["resize"].startswith("bilinear")
    out = write_features([result.extraction_result()], tmp_path / "features.csv")
    sidecar = json.loads(Path(f"{out}.json").read_text())
    crops = [d["deep"]["crop"] for d in sidecar["diagnostics"] if "deep" in d]
    assert crops == [{"slice": 1, "rows": [7, 23], "columns": [8, 34], "context_px": [3, 4], "region_pixels": 180}]
    diagnostics = pd.read_csv(tmp_path / "features.diagnostics.csv")
    assert "tumor (deep-tiny)" in set(diagnostics["region"])


def test_deep_features_of_tumor_and_node_regions(tmp_path):
    from AxillaryPredictorLib.pipeline import CaseInputs, RegionSettings, Scan, extract_case

    params = tmp_path / "fo.yaml"
    params.write_text(FIRSTORDER)
    image, tumor = phantom()
    node = sitk.GetImageFromArray(np.zeros((5, 40, 50), np.uint8))
    node.CopyInformation(image)
    node[5:9, 30:35, 2] = 1  # x 5-8, y 30-34 on slice k = 2
    inputs = CaseInputs.single("c1", {"US": Scan(image, tumor, node=node)})
    result = extract_case(inputs, str(params), RegionSettings((3.0,)), regions=["tumor"],
                          deep={"backbone": str(tiny_cnn(tmp_path / "tiny.onnx")), "output": "logits",
                                "region": "tumor,node"})
    assert sorted(c for c in result.features if "deep-" in c) == [
        "node__US__deep-tiny_0", "node__US__deep-tiny_1", "tumor__US__deep-tiny_0", "tumor__US__deep-tiny_1"]
    crops = {d["region"]: d["deep"]["crop"] for r in result.extractions.values() for d in r.diagnostics if "deep" in d}
    assert crops["node (deep-tiny)"] == {"slice": 2, "rows": [30, 35], "columns": [5, 9], "context_px": [0, 0],
                                         "region_pixels": 20}


def test_profile_deep_block_is_used(tmp_path):
    from AxillaryPredictorLib.extraction.profiles import load_profile
    from AxillaryPredictorLib.pipeline import RegionSettings, extract_case

    tiny_cnn(tmp_path / "tiny.onnx")
    plain, with_deep = tmp_path / "plain.yaml", tmp_path / "deep.yaml"
    plain.write_text(FIRSTORDER)
    with_deep.write_text(FIRSTORDER + "axillaryPredictor:\n  deep: {backbone: tiny.onnx, output: features, "
                         "context: 2}\n")
    profile = load_profile(with_deep)
    assert profile.deep["backbone"] == str(tmp_path / "tiny.onnx") and profile.deep["context_mm"] == 2.0
    assert profile.hash != load_profile(plain).hash  # e.g. a cohort --resume reruns cases after a change
    result = extract_case(_case()[0], profile, RegionSettings((3.0,)), regions=["tumor"])
    assert sum("__deep-tiny_" in c for c in result.features) == 6
    assert not any("deep-" in c for c in extract_case(_case()[0], profile, RegionSettings((3.0,)),
                                                      regions=["tumor"], deep=False).features)
    bad = tmp_path / "bad.yaml"
    bad.write_text(FIRSTORDER + "axillaryPredictor:\n  deep: {model_file: x.onnx}\n")
    with pytest.raises(ExtractionError, match="'deep' must be a mapping with 'backbone'"):
        load_profile(bad)


def test_cli_extract_with_deep_model(tmp_path, capsys):
    from AxillaryPredictorLib.cli.main import main

    image, mask = phantom()
    sitk.WriteImage(image, str(tmp_path / "img.nrrd"))
    sitk.WriteImage(mask, str(tmp_path / "mask.nrrd"))
    (tmp_path / "fo.yaml").write_text(FIRSTORDER)
    model = tiny_cnn(tmp_path / "tiny.onnx")
    out = tmp_path / "features.csv"
    code = main(["extract", "--image", str(tmp_path / "img.nrrd"), "--mask", str(tmp_path / "mask.nrrd"),
                 "--view", "DCE3", "--params", str(tmp_path / "fo.yaml"), "--margins", "3", "--regions", "tumor",
                 "--deep-model", str(model), "--deep-output", "logits", "--deep-region", "tumor", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(out)
    assert {"tumor__DCE3__deep-tiny_0", "tumor__DCE3__deep-tiny_1", "tumor__DCE3__original_firstorder_Mean"} <= set(
        table.columns)
    assert main(["extract", "--image", str(tmp_path / "img.nrrd"), "--mask", str(tmp_path / "mask.nrrd"),
                 "--params", str(tmp_path / "fo.yaml"), "--deep-output", "logits", "--out", str(out)]) == 2
    assert "need --deep-model" in capsys.readouterr().err and not out.exists()


# --------------------------------------------------------------------------------- modeling


def _deep_cohort(tmp_path: Path, n: int = 80) -> tuple[Path, Path, dict]:
    """Features of ``n`` random phantoms: 6 deep columns of the tiny model and 8 noise radiomics
    columns; the outcome depends on deep feature 2."""
    model = resolve_model(DeepSpec(str(tiny_cnn(tmp_path / "tiny.onnx")), "features"))
    rng = np.random.default_rng(11)
    rows = []
    for i in range(n):
        pixels = rng.gamma(2.0 + 3 * rng.random(), 20, (1, 24, 24))
        mask = np.zeros((1, 24, 24), np.uint8)
        mask[0, 4:20, 4:20] = 1
        values = model.features(sitk.GetImageFromArray(pixels), sitk.GetImageFromArray(mask), "US")[0]
        noise = {f"tumor__US__original_firstorder_F{j}": rng.normal() for j in range(8)}
        rows.append({"case_id": f"c{i:03d}", **noise, **values})
    table = pd.DataFrame(rows)
    signal = table["tumor__US__deep-tiny_2"]
    z = (signal - signal.mean()) / signal.std()
    outcome = (3 * z + rng.normal(0, 0.7, n) > 0).astype(int)
    features = tmp_path / "features.csv"
    table.to_csv(features, index=False)
    Path(f"{features}.json").write_text(json.dumps({"provenance": {"deep": model.provenance()}}))
    clinical = tmp_path / "clinical.csv"
    pd.DataFrame({"case_id": table["case_id"], "aln": outcome}).to_csv(clinical, index=False)
    return features, clinical, model.provenance()


RECIPE = """name: dl-rad
steps:
  - variance: {threshold: 0.0}
  - lasso: {cv: 5, rule: min, max_features: 5}
classifier: {kind: logistic, C: 1.0}
combined: {selection: aic, direction: both}
cv: {folds: 5, seed: 0}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A DL + radiomics package trained with ``--groups source`` (CLI) on the synthetic cohort."""
    from AxillaryPredictorLib.cli.main import main

    folder = tmp_path_factory.mktemp("trained")
    features, clinical, provenance = _deep_cohort(folder)
    (folder / "recipe.yaml").write_text(RECIPE)
    out = folder / "model.json"
    code = main(["train", "--features", str(features), "--clinical", str(clinical), "--outcome", "aln", "--recipe",
                 str(folder / "recipe.yaml"), "--groups", "source", "--profile", "zhang2025-us", "--out", str(out)])
    assert code == 0
    return folder, features, clinical, provenance, out


def test_dl_and_radiomics_train_together_and_the_deep_group_is_selected(trained):
    import yaml

    from AxillaryPredictorLib.modeling.training import train

    _, features, clinical, provenance, out = trained
    frame = pd.read_csv(features).set_index("case_id")
    y = pd.read_csv(clinical)["aln"].to_numpy()
    single = train(frame, y, {**yaml.safe_load(RECIPE), "combined": None})
    assert "tumor__US__deep-tiny_2" in single.features and single.cv_auc > 0.8  # one chain on DL + radiomics
    document = json.loads(out.read_text())
    assert document["inputs"]["deep"]["sha256"] == provenance["sha256"]
    assert document["inputs"]["deep"]["backbone"] == "tiny" and document["inputs"]["deep"]["source"] == "file"
    assert "deep" in document["features"], document["features"]  # the combined model kept the deep score


def test_train_groups_source_splits_deep_from_radiomics_columns():
    from AxillaryPredictorLib.extraction.deep import feature_source

    columns = ["tumor__CC__original_firstorder_Mean", "tumor__CC__deep-resnet18_0", "delta__tumor__DCE3__deep-x_1",
               "node__US__wavelet-LH_glcm_Idn"]
    assert [feature_source(c) for c in columns] == ["radiomics", "deep", "deep", "radiomics"]


def test_predict_refuses_a_case_whose_backbone_differs(trained):
    from AxillaryPredictorLib.packages.package import load_package
    from AxillaryPredictorLib.pipeline import _package_deep_model, model_profile, predict_case

    folder, _, _, provenance, out = trained
    package = load_package(out)
    inputs = _case()[0]
    other = tiny_cnn(folder / "other.onnx", scale=1.5)
    with pytest.raises(ModelError, match=r"trained on deep features of backbone 'tiny'.*not be comparable"):
        predict_case(package, inputs, deep=str(other))
    with pytest.raises(ModelError, match=r"give that file .*--deep-model"):
        predict_case(package, inputs)
    model = _package_deep_model(package, model_profile(package), str(folder / "tiny.onnx"), None)
    assert model.sha256 == provenance["sha256"] and model.output == "features"
    with pytest.raises(ModelError, match="region tumor with 0 mm context"):
        _package_deep_model(package, model_profile(package), {"backbone": str(folder / "tiny.onnx"),
                                                               "output": "features", "context_mm": 5}, None)


def test_cohort_tables_without_sidecar_name_their_backbone_with_deep_model(trained, tmp_path):
    from AxillaryPredictorLib.cli.train import deep_provenance

    folder, features, _, provenance, _ = trained
    columns = list(pd.read_csv(features).columns[1:])
    assert deep_provenance([str(features)], columns)["sha256"] == provenance["sha256"]  # from the sidecar
    bare = tmp_path / "features.csv"  # cohort extract writes no sidecar
    bare.write_bytes(features.read_bytes())
    with pytest.raises(InputError, match="no sidecar"):
        deep_provenance([str(bare)], columns)
    recorded = deep_provenance([str(bare)], columns, DeepSpec(str(folder / "tiny.onnx"), "features"))
    assert recorded == {k: provenance[k] for k in recorded}
    with pytest.raises(InputError, match="do not come from backbone 'other'"):
        deep_provenance([str(bare)], columns, DeepSpec(str(tiny_cnn(tmp_path / "other.onnx")), "features"))
    assert deep_provenance([str(bare)], [c for c in columns if "deep-" not in c]) is None
