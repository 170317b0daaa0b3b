"""Case in, report out: the bundled demonstration model, predict CLI, demo, models CLI."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from AxillaryPredictorLib.cli.main import main
from AxillaryPredictorLib.packages.package import load_package
from AxillaryPredictorLib.packages.registry import bundled_directory, find_model, registry_entries
from AxillaryPredictorLib.phantoms import LesionSpec, make_phantom
from AxillaryPredictorLib.reporting.nomogram import Nomogram

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


def _case(tmp_path, seed=3, diameter=18.0):
    return make_phantom("dce", seed=seed, lesion=LesionSpec(diameter_mm=diameter), node=True).write(tmp_path, "c1")


def test_predict_cli_writes_a_consistent_report(tmp_path):
    files = _case(tmp_path)
    out = tmp_path / "out"
    assert main(["predict", "--model", "demo-dce-aln", "--image", str(files["image"]), "--mask", str(files["tumor"]),
                 "--clinical", "ki67=35", "--clinical", "us_aln=positive", "--workers", "2", "--out", str(out)]) == 0
    prediction = json.loads((out / "prediction.json").read_text(encoding="utf-8"))
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
                self.images.append(dict(attrs))

        def handle_data(self, data):
            self.text.append(data)

    page = Page()
    page.feed((out / "report.html").read_text(encoding="utf-8"))
    # self-contained page: every image embedded, equal to the PNG written beside it
    for image in page.images:
        assert image["src"].startswith("data:image/png;base64,")
        embedded = base64.b64decode(image["src"].split(",", 1)[1])
        assert len(embedded) > 2000 and embedded == (out / image["data-file"]).read_bytes()
    assert "nomogram.png" in [image["data-file"] for image in page.images]
    text = " ".join(page.text)
    for element in ("DEMONSTRATION", "RadScore", "Model card", "Total points (Nomo-score)", "risk group", "c1_image",
                    "Versions and provenance", "setting: profile", "setting: margins (mm)", "clinical: ki67",
                    "intended use", "cross-validated AUC", "95% CI", "no clinical meaning"):
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
    prediction = json.loads((out / "prediction.json").read_text(encoding="utf-8"))
    assert any("out of distribution" in w for w in prediction["warnings"])
    assert "out of distribution" in (out / "report.html").read_text(encoding="utf-8")


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
    tampered = json.loads((bundled_directory() / "demo-dce-aln.json").read_text(encoding="utf-8"))
    tampered["estimator"]["intercept"] += 1
    (tmp_path / "tampered.json").write_text(json.dumps(tampered))
    assert main(["models", "verify", str(tmp_path / "tampered.json")]) == 1
    assert "SHA-256 mismatch" in capsys.readouterr().out


def test_demo_runs_end_to_end(tmp_path):
    from AxillaryPredictorLib.cli.demo import run_demo
    from AxillaryPredictorLib.scene.nodes import load_scene

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


def test_ultrasound_demo_model_with_lymph_node_roi(tmp_path):
    phantom = make_phantom("us", seed=8, lesion=LesionSpec(diameter_mm=14), node=True)
    files = phantom.write(tmp_path, "us1")
    out = tmp_path / "us"
    assert main(["predict", "--model", "demo-us-aln", "--image", str(files["image"]), "--mask", str(files["tumor"]),
                 "--node-mask", str(files["node"]), "--clinical", "us_aln=positive", "--out", str(out)]) == 0
    prediction = json.loads((out / "prediction.json").read_text(encoding="utf-8"))
    assert set(prediction["derived_scores"]) == {"tumor_score", "ln_score"}
    assert set(prediction["predictor_points"]) == {"tumor_score", "ln_score", "us_aln"}
    assert main(["predict", "--model", "demo-us-aln", "--image", str(files["image"]), "--mask", str(files["tumor"]),
                 "--clinical", "us_aln=positive", "--out", str(tmp_path / "no-node")]) == 2


def test_delta_demo_model_end_to_end(tmp_path):
    from AxillaryPredictorLib.phantoms import make_pair

    baseline, ontreatment = make_pair(seed=4, volume_factor=0.3, lesion=LesionSpec(diameter_mm=26, peritumoral=0.3))
    b, o = baseline.write(tmp_path, "b"), ontreatment.write(tmp_path, "o")
    out = tmp_path / "delta"
    assert main(["predict", "--model", "demo-delta-pcr", "--baseline-image", str(b["image"]), "--baseline-mask",
                 str(b["tumor"]), "--ontreatment-image", str(o["image"]), "--ontreatment-mask", str(o["tumor"]),
                 "--clinical", "us_pcr=yes", "--out", str(out)]) == 0
    prediction = json.loads((out / "prediction.json").read_text(encoding="utf-8"))
    assert set(prediction["derived_scores"]) == {"radscore_dir", "radscore_dpr"} and 0 < prediction["probability"] < 1
    assert (out / "slice_baseline_dce3.png").is_file() and (out / "slice_on-treatment_dce3.png").is_file()


@pytest.mark.slow
def test_recalibrated_published_dbt_signature_scores_a_phantom_case(tmp_path):
    from AxillaryPredictorLib.extraction.engine import extract
    from AxillaryPredictorLib.imaging.regions import build_regions
    from AxillaryPredictorLib.packages.package import save_package
    from AxillaryPredictorLib.packages.recalibration import recalibrate

    package = find_model("he2025-dbt-signature")
    cc = make_phantom("dbt-cc", seed=2, lesion=LesionSpec(diameter_mm=12))
    mlo = make_phantom("dbt-mlo", seed=2, lesion=LesionSpec(diameter_mm=12))
    views = {name: (p.image, {r: m for r, m in build_regions(p.tumor, (10,)).items() if r in ("tumor", "margin10mm")})
             for name, p in (("CC", cc), ("MLO", mlo))}
    case = extract(views, "he2025-dbt", workers=2).features
    # a local cohort around this case's feature values (the published means/SDs are unknown)
    rng = np.random.default_rng(0)
    values = np.array([case[f] for f in package.features])
    local = pd.DataFrame(values * (1 + 0.2 * rng.normal(size=(300, values.size))), columns=package.features)
    z = (local - local.mean()) / local.std(ddof=0)
    y = (rng.random(300) < 1 / (1 + np.exp(-0.1 * z.to_numpy() @ np.array(
        package.document["estimator"]["coefficients"])))).astype(int)
    path = save_package(recalibrate(package, local, y).document, tmp_path / "he-local.json")
    cc_files, mlo_files = cc.write(tmp_path, "cc"), mlo.write(tmp_path, "mlo")
    out = tmp_path / "he"
    assert main(["predict", "--model", str(path), "--image", str(cc_files["image"]), "--mask", str(cc_files["tumor"]),
                 "--view", "CC", "--image", str(mlo_files["image"]), "--mask", str(mlo_files["tumor"]), "--view",
                 "MLO", "--out", str(out)]) == 0
    assert 0 < json.loads((out / "prediction.json").read_text(encoding="utf-8"))["probability"] < 1


@pytest.mark.slow
def test_pinned_demo_feature_table_is_reproduced_from_phantoms():
    """The committed synthetic training table is what the phantom generators + extraction give."""
    sys.path.insert(0, str(ROOT / "tools"))
    import build_demo_models as build

    from AxillaryPredictorLib.phantoms import simulate_aln_cohort

    table = pd.read_csv(build.DATA / "phantom_aln_features.csv").set_index("case_id")
    records = list(enumerate(simulate_aln_cohort(build.N_CASES, seed=build.SEED).to_dict(orient="records")))
    for index, record in records[:2]:
        row = build._extract((index, record))
        expected = table.loc[row.pop("case_id")]
        values = np.array([row[c] for c in expected.index])
        assert np.allclose(values, expected.to_numpy(), rtol=1e-8, atol=1e-12, equal_nan=True)


def test_dbt_demo_model_is_a_two_view_radscore_ki67_high_nomogram():
    package = find_model("demo-dbt-aln")
    document = package.document
    inputs = document["inputs"]
    assert package.status == "demonstration" and "synthetic DBT phantoms" in document["description"]
    assert "no clinical meaning" in document["description"]
    assert inputs["views"] == ["CC", "MLO"] and inputs["regions"] == ["tumor", "margin10mm"]
    assert inputs["margins_mm"] == [10.0] and inputs["profile"]["name"] == "he2025-dbt"
    assert document["features"] == ["radscore", "ki67_high"]  # He et al.: Ki-67 > 20% (binary)
    assert [v["name"] for v in document["clinical_variables"]] == ["ki67_high"]
    assert document["clinical_variables"][0]["levels"] == ["no", "yes"]
    (radscore,) = document["derived"]
    assert radscore["name"] == "radscore" and radscore["features"]
    for column in radscore["features"]:  # only the documented columns of the pinned table
        region, view, feature = column.split("__", 2)
        assert region in ("tumor", "margin10mm") and view in ("CC", "MLO")
        assert feature.startswith("original_") or (feature.startswith("wavelet-") and "_firstorder_" in feature)
    Nomogram.from_package(package)  # a logistic nomogram


def _dbt_case(tmp_path, seed=6, diameter=16.0):
    lesion = LesionSpec(diameter_mm=diameter, heterogeneity=0.3, lobulation=0.15, spiculation=0.2)
    return {view: make_phantom(preset, seed=seed, lesion=lesion).write(tmp_path, view)
            for view, preset in (("CC", "dbt-cc"), ("MLO", "dbt-mlo"))}


@pytest.mark.slow
def test_dbt_demo_model_end_to_end(tmp_path):
    files = _dbt_case(tmp_path)
    out = tmp_path / "dbt"
    assert main(["predict", "--model", "demo-dbt-aln", "--image", str(files["CC"]["image"]), "--mask",
                 str(files["CC"]["tumor"]), "--view", "CC", "--image", str(files["MLO"]["image"]), "--mask",
                 str(files["MLO"]["tumor"]), "--view", "MLO", "--clinical", "ki67_high=yes", "--workers", "2",
                 "--out", str(out)]) == 0
    prediction = json.loads((out / "prediction.json").read_text(encoding="utf-8"))
    package = find_model("demo-dbt-aln")
    assert set(prediction["features_used"]) == set(package.document["derived"][0]["features"])
    frame = pd.DataFrame([{**prediction["features_used"], "ki67_high": 1.0}])
    assert 0 < prediction["probability"] < 1
    assert prediction["probability"] == pytest.approx(float(package.predict_proba(frame)[0]), abs=1e-12)
    assert set(prediction["predictor_points"]) == {"radscore", "ki67_high"}
    assert set(prediction["derived_scores"]) == {"radscore"}
    assert Nomogram.from_package(package).probability_from_points(prediction["total_points"]) == pytest.approx(
        prediction["probability"], abs=0.005)
    for name in ("report.html", "report.pdf", "nomogram.png", "prediction.json"):
        assert (out / name).stat().st_size > 500, name
    assert "DEMONSTRATION" in (out / "report.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_pinned_dbt_feature_table_is_reproduced_from_phantoms():
    """The committed two-view DBT table (its documented column subset) is what the phantoms give."""
    sys.path.insert(0, str(ROOT / "tools"))
    import build_demo_models as build

    from AxillaryPredictorLib.phantoms import simulate_aln_cohort

    table = pd.read_csv(build.DATA / "phantom_dbt_features.csv").set_index("case_id")
    assert len(table) == build.N_DBT_CASES and all(build.dbt_column_kept(c) for c in table.columns)
    clinical = pd.read_csv(build.DATA / "phantom_dbt_clinical.csv").set_index("case_id")
    cohort = simulate_aln_cohort(build.N_DBT_CASES, seed=build.SEED + 3)
    assert np.allclose(clinical["ki67"].to_numpy(), cohort["ki67"].to_numpy(), rtol=1e-9)
    assert (clinical["aln_metastasis"].to_numpy() == cohort["aln_metastasis"].to_numpy()).all()
    records = list(enumerate(cohort.to_dict(orient="records")))
    for index, record in records[:2]:
        row = build._extract_dbt((index, record))
        expected = table.loc[row.pop("case_id")]
        assert set(row) == set(expected.index)
        values = np.array([row[c] for c in expected.index])
        assert np.allclose(values, expected.to_numpy(), rtol=1e-8, atol=1e-12, equal_nan=True)
