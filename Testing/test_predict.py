"""Case in, report out: the bundled demonstration model, predict CLI, demo, models CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from AxillaryPredictorLib.cli import main
from AxillaryPredictorLib.model_package import load_package
from AxillaryPredictorLib.nomogram import Nomogram
from AxillaryPredictorLib.phantoms import LesionSpec, make_phantom
from AxillaryPredictorLib.registry import bundled_directory, find_model, registry_entries

ROOT = Path(__file__).resolve().parents[1]


def test_every_bundled_package_validates_and_matches_the_registry():
    entries = [e for e in registry_entries(user_folder=ROOT / "no-such-folder")]
    assert entries
    for entry in entries:
        package = load_package(bundled_directory() / entry["file"])
        assert package.document["sha256"] == entry["sha256"]
        assert entry["status"] == package.status
        if package.status == "demonstration":
            assert "no clinical meaning" in package.document["description"].lower() or \
                "not for clinical use" in package.document["intended_use"].lower()


def test_demonstration_model_rebuild_is_byte_identical(tmp_path):
    target = bundled_directory() / "demo-dce-aln.json"
    before = target.read_bytes()
    environment = dict(os.environ, SOURCE_DATE_EPOCH="1767225600")
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "build_demo_models.py")], env=environment,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    after = target.read_bytes()
    target.write_bytes(before)
    assert after == before


def _case(tmp_path, seed=3, diameter=18.0):
    return make_phantom("dce", seed=seed, lesion=LesionSpec(diameter_mm=diameter), node=True).write(tmp_path, "c1")


def test_predict_cli_writes_a_consistent_report(tmp_path):
    files = _case(tmp_path)
    out = tmp_path / "out"
    assert main(["predict", "--model", "demo-dce-aln", "--image", str(files["image"]), "--mask", str(files["tumor"]),
                 "--clinical", "ki67=35", "--clinical", "us_aln=positive", "--workers", "2", "--out", str(out)]) == 0
    prediction = json.loads((out / "prediction.json").read_text())
    package = find_model("demo-dce-aln")
    frame = pd.DataFrame([{**prediction["features_used"], "ki67": 35, "us_aln": "positive"}])
    assert prediction["probability"] == pytest.approx(float(package.predict_proba(frame)[0]), abs=1e-12)
    nomogram = Nomogram.from_package(package)
    assert nomogram.probability_from_points(prediction["total_points"]) == pytest.approx(prediction["probability"],
                                                                                         abs=0.005)
    assert prediction["risk_group"] in ("low", "high") and set(prediction["predictor_points"]) == {
        "radscore", "ki67", "us_aln"}

    class Page(HTMLParser):
        def __init__(self):
            super().__init__()
            self.images, self.text = [], []

        def handle_starttag(self, tag, attrs):
            if tag == "img":
                self.images.append(dict(attrs)["src"])

        def handle_data(self, data):
            self.text.append(data)

    page = Page()
    page.feed((out / "report.html").read_text())
    assert all((out / src).stat().st_size > 2000 for src in page.images) and "nomogram.png" in page.images
    text = " ".join(page.text)
    for element in ("DEMONSTRATION", "RadScore", "Model card", "Total points (Nomo-score)", "risk group", "c1_image",
                    "Versions and provenance"):
        assert element in text, element
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "30", str(out / "report.pdf"), str(out / "page")], check=True)
        assert len(list(out.glob("page-*.png"))) >= 3


def test_out_of_distribution_case_is_flagged(tmp_path):
    import SimpleITK as sitk

    files = _case(tmp_path, seed=5)
    image = sitk.ReadImage(str(files["image"]))
    array = sitk.GetArrayFromImage(image)
    array[sitk.GetArrayFromImage(sitk.ReadImage(str(files["tumor"]))) > 0] *= 8  # an unusually bright lesion
    bright = sitk.GetImageFromArray(array)
    bright.CopyInformation(image)
    sitk.WriteImage(bright, str(files["image"]))
    out = tmp_path / "ood"
    assert main(["predict", "--model", "demo-dce-aln", "--image", str(files["image"]), "--mask", str(files["tumor"]),
                 "--clinical", "ki67=35", "--clinical", "us_aln=negative", "--out", str(out)]) == 0
    prediction = json.loads((out / "prediction.json").read_text())
    assert any("out of distribution" in w for w in prediction["warnings"])
    assert "out of distribution" in (out / "report.html").read_text()


@pytest.mark.parametrize(("clinical", "message"), [
    (["ki67=abc", "us_aln=positive"], "ki67 must be a number"),
    (["ki67=35", "us_aln=maybe"], "allowed: negative, positive"),
    (["us_aln=positive"], "ki67 is required"),
    (["ki67=135", "us_aln=positive"], "outside the allowed range"),
])
def test_bad_clinical_inputs_name_the_variable(tmp_path, capsys, clinical, message):
    files = _case(tmp_path)
    arguments = ["predict", "--model", "demo-dce-aln", "--image", str(files["image"]), "--mask", str(files["tumor"]),
                 "--out", str(tmp_path / "bad")]
    for item in clinical:
        arguments += ["--clinical", item]
    assert main(arguments) == 2
    assert message in capsys.readouterr().err


def test_models_cli_lists_and_verifies(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AXILLARY_PREDICTOR_MODELS", str(tmp_path / "user"))
    assert main(["models", "list"]) == 0
    assert "demo-dce-aln" in capsys.readouterr().out
    assert main(["models", "verify", "demo-dce-aln"]) == 0
    tampered = json.loads((bundled_directory() / "demo-dce-aln.json").read_text())
    tampered["estimator"]["intercept"] += 1
    (tmp_path / "tampered.json").write_text(json.dumps(tampered))
    assert main(["models", "verify", str(tmp_path / "tampered.json")]) == 1
    assert "SHA-256 mismatch" in capsys.readouterr().out


def test_demo_runs_end_to_end(tmp_path):
    from AxillaryPredictorLib.demo import run_demo
    from AxillaryPredictorLib.scene import load_scene

    summary = run_demo(tmp_path / "demo", seed=3, workers=2)
    assert 0 < summary["probability"] < 1 and summary["model_status"] == "demonstration"
    for key in ("html", "pdf", "nomogram", "json"):
        assert Path(summary["report"][key]).stat().st_size > 500
    scene = load_scene(summary["scene"]).scene
    assert scene.GetFirstNodeByName("Report SYNTHETIC-0003").GetText().startswith("<!DOCTYPE html>")
    assert scene.GetNodesByClass("vtkMRMLVectorVolumeNode").GetNumberOfItems() == 1
    names = [scene.GetNodesByClass("vtkMRMLTableNode").GetItemAsObject(i).GetName()
             for i in range(scene.GetNodesByClass("vtkMRMLTableNode").GetNumberOfItems())]
    assert "Prediction SYNTHETIC-0003" in names
    assert np.isfinite(summary["total_points"])
