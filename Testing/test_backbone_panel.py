"""The Slicer panel's backbone fetch: the Logic names the backbone a deep model needs, fetching is an
explicit, confirmed action, and a download that is not the published file is refused."""

from __future__ import annotations

import ast
import http.server
import json
import threading
from pathlib import Path

import pytest

from AxillaryPredictorLib.errors import ExtractionError
from AxillaryPredictorLib.extraction.deep import load_registry
from AxillaryPredictorLib.packages.package import save_package, seal
from AxillaryPredictorLib.packages.registry import bundled_directory
from AxillaryPredictorLib.scene.logic import AxillaryPredictorLogicBase

MODULE = Path(__file__).resolve().parents[1] / "AxillaryPredictor" / "AxillaryPredictor.py"


@pytest.fixture
def deep_model(tmp_path, monkeypatch):
    monkeypatch.setenv("AXILLARY_PREDICTOR_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("AXILLARY_PREDICTOR_BACKBONES", str(tmp_path / "cache"))
    document = json.loads((bundled_directory() / "demo-dce-aln.json").read_text(encoding="utf-8"))
    entry = load_registry()["resnet18"]
    document["id"] = "deep-demo"
    document["inputs"]["deep"] = {"backbone": "resnet18", "sha256": entry["sha256"], "source": "registry",
                                  "region": "tumor", "context_mm": 0}
    save_package(seal(document), tmp_path / "models" / "deep-demo.json")
    return entry


def test_logic_names_the_backbone_a_deep_model_needs(headless, deep_model, tmp_path):
    logic = AxillaryPredictorLogicBase(headless.scene)
    backbone = logic.modelBackbone("deep-demo")
    assert backbone["name"] == "resnet18" and backbone["url"] == deep_model["url"]
    assert backbone["fetched"] is False and backbone["path"] == str(tmp_path / "cache" / "resnet18.onnx")
    assert logic.modelBackbone("demo-dce-aln") is None  # no deep features


def test_fetching_a_file_that_is_not_the_published_one_is_refused(headless, deep_model, tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "fake.onnx").write_bytes(b"not the published weights")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path / "www"), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        logic = AxillaryPredictorLogicBase(headless.scene)
        with pytest.raises(ExtractionError, match="SHA-256"):
            logic.fetchBackbone("resnet18", url=f"http://127.0.0.1:{server.server_port}/fake.onnx")
    finally:
        server.shutdown()
    assert not (tmp_path / "cache" / "resnet18.onnx").exists()
    assert logic.modelBackbone("deep-demo")["fetched"] is False


def test_the_panel_asks_before_it_downloads():
    """AxillaryPredictor.py's onFetchBackbone confirms with the user before calling fetchBackbone."""
    tree = ast.parse(MODULE.read_text(encoding="utf-8"))
    handler = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "onFetchBackbone")
    calls = [(n.lineno, n.func.attr) for n in ast.walk(handler)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)]
    confirm = min(line for line, name in calls if name == "confirmOkCancelDisplay")
    fetch = min(line for line, name in calls if name == "fetchBackbone")
    assert confirm < fetch
    guards = [n for n in ast.walk(handler) if isinstance(n, ast.If) and "confirmOkCancelDisplay" in ast.unparse(n.test)]
    assert guards and isinstance(guards[0].body[0], ast.Return)  # declining returns before any download
