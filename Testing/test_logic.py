"""Every AxillaryPredictorLogicBase method on the real MRML scene (slicer-core), and scene persistence."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from AxillaryPredictorLib.extraction.profiles import load_profile
from AxillaryPredictorLib.packages.package import save_package, seal
from AxillaryPredictorLib.phantoms import LesionSpec, make_pair, make_phantom
from AxillaryPredictorLib.scene.logic import AxillaryPredictorLogicBase
from AxillaryPredictorLib.scene.nodes import load_scene, save_scene


@pytest.fixture
def logic(headless):
    return AxillaryPredictorLogicBase(headless.scene)


def test_models_listing_card_and_clinical_form(logic, tmp_path, monkeypatch):
    monkeypatch.setenv("AXILLARY_PREDICTOR_MODELS", str(tmp_path / "user"))
    ids = [m["id"] for m in logic.listModels()]
    assert {"demo-dce-aln", "he2025-dbt-signature", "zeng2025-delta-combined"} <= set(ids)
    card = logic.modelCardHtml("demo-dce-aln")
    assert "Demonstration model trained on synthetic data" in card and "<table>" in card
    assert "Not validated on local data" in logic.modelCardHtml("he2025-dbt-signature")
    variables = {v["name"]: v for v in logic.clinicalVariables("demo-dce-aln")}
    assert variables["us_aln"]["levels"] == ["negative", "positive"] and variables["ki67"]["unit"] == "%"


def test_load_model_package_verifies_and_registers(logic, tmp_path, monkeypatch):
    from AxillaryPredictorLib.packages.registry import bundled_directory

    monkeypatch.setenv("AXILLARY_PREDICTOR_MODELS", str(tmp_path / "user"))
    document = json.loads((bundled_directory() / "demo-dce-aln.json").read_text(encoding="utf-8"))
    document["id"] = "my-copy"
    path = save_package(seal(document), tmp_path / "mine.json")
    assert logic.loadModelPackage(str(path)) == "my-copy"
    assert any(m["id"] == "my-copy" and m["source"] == "user" for m in logic.listModels())
    document["estimator"]["intercept"] = 3.0  # tampered after sealing
    (tmp_path / "bad.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        logic.loadModelPackage(str(tmp_path / "bad.json"))


def test_tumor_segment_creation_and_segment_editor_node(logic):
    volume, _ = logic.loadPhantomCase(make_phantom("us", seed=1))
    segmentation, segment_id = logic.createTumorSegment(None, volume, "tumor")
    assert logic.segmentNames(segmentation) == ["tumor"]
    assert logic.createTumorSegment(segmentation, volume, "tumor")[1] == segment_id
    assert logic.getSegmentEditorNode() is logic.getSegmentEditorNode()
    with pytest.raises(ValueError, match="Select the image"):
        logic.createTumorSegment(None, None)


def test_predict_save_report_and_export_features(logic, tmp_path):
    progress = []
    volume, segmentation = logic.loadPhantomCase(make_phantom("dce", seed=4, lesion=LesionSpec(diameter_mm=16)))
    result = logic.predict("demo-dce-aln", {"DCE3": (volume, segmentation)}, clinical={"ki67": 30, "us_aln": "1"},
                           caseId="L1", progress=lambda f, m: progress.append((f, m)), workers=2)
    assert 0 < result.prediction.probability < 1 and progress[-1][0] == 1.0
    assert result.tableNode.GetNumberOfRows() >= 5 and result.nomogramNode is not None
    assert result.reportNode.GetText().startswith("<!DOCTYPE html>")
    assert "L1" in result.summary()
    paths = logic.saveReport(result, str(tmp_path / "report"))
    assert paths["pdf"].stat().st_size > 10000
    logic.exportFeatures(result, str(tmp_path / "features.csv"))
    table = pd.read_csv(tmp_path / "features.csv")
    assert table.loc[0, "case_id"] == "L1" and table.shape[1] > 3
    with pytest.raises(ValueError, match="Run a prediction first"):
        logic.saveReport(None, str(tmp_path))


def test_predict_delta_with_a_delta_package(logic, tmp_path, monkeypatch):
    monkeypatch.setenv("AXILLARY_PREDICTOR_MODELS", str(tmp_path / "user"))
    profile = load_profile("zeng2025-dce-delta")
    column = "delta__tumor__DCE3__original_shape_MeshVolume"
    document = {
        "format": "axillary-predictor-model-package", "format_version": 1, "id": "toy-delta", "version": "1",
        "title": "toy delta model", "task": "ALN pCR after NAT", "modality": "MR", "status": "demonstration",
        "inputs": {"views": ["DCE3"], "regions": ["tumor"], "margins_mm": [3.0], "timepoints": ["baseline",
                                                                                              "ontreatment"],
                   "profile": {"name": profile.name, "sha256": profile.hash}, "delta_mode": "relative"},
        "features": [column], "estimator": {"type": "logistic", "intercept": 0.2, "coefficients": [-3.0]},
        "threshold": 0.5, "intended_use": "test", "provenance": {"date": "2026-01-01"}}
    path = save_package(seal(document), tmp_path / "toy.json")
    logic.loadModelPackage(str(path))
    baseline, ontreatment = make_pair(seed=2, volume_factor=0.4, lesion=LesionSpec(diameter_mm=18))
    base_nodes = logic.loadPhantomCase(baseline, name="Base")
    on_nodes = logic.loadPhantomCase(ontreatment, name="On")
    result = logic.predictDelta("toy-delta", base_nodes, on_nodes, caseId="D1", workers=2)
    delta = result.prediction.features[column]
    assert delta == pytest.approx(-0.6, abs=0.05)
    assert result.prediction.probability == pytest.approx(1 / (1 + math.exp(-(0.2 - 3.0 * delta))), abs=1e-9)


def test_run_cohort_from_the_logic(logic, tmp_path):
    rows = []
    for i in range(2):
        files = make_phantom("dce", seed=i, lesion=LesionSpec(diameter_mm=12)).write(tmp_path, f"k{i}")
        rows.append({"case_id": f"k{i}", "view": "DCE3", "image": files["image"].name, "mask": files["tumor"].name})
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    updates = []
    summary = logic.runCohort(str(tmp_path / "manifest.csv"), str(tmp_path / "out"),
                              progressCallback=lambda f, m: updates.append(f), margins="3", regions="tumor",
                              workers=1)
    assert summary.ok and summary.done == 2 and updates[-1] == 1.0
    assert pd.read_csv(tmp_path / "out" / "features.csv").shape == (2, 852)


def test_parameters_regions_tables_and_report_survive_scene_save_and_reload(logic, headless, tmp_path):
    """The module's parameter node is a vtkMRMLScriptedModuleNode: parameters and node
    references are saved with the scene, as Slicer's parameterNodeWrapper stores them."""
    volume, segmentation = logic.loadPhantomCase(make_phantom("dce", seed=5, lesion=LesionSpec(diameter_mm=14)))
    logic.buildRegions(segmentation, "tumor", volume, "3,5")
    parameters = headless.scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode", "AxillaryPredictor")
    parameters.SetAttribute("ModuleName", "AxillaryPredictor")
    for name, value in (("marginsMm", "3,5"), ("tumorSegment", "tumor"), ("mode", "Single timepoint"),
                        ("excludeBelow", "-500.0"), ("modelId", "demo-dce-aln")):
        parameters.SetParameter(name, value)
    parameters.SetNodeReferenceID("view1Volume", volume.GetID())
    parameters.SetNodeReferenceID("view1Segmentation", segmentation.GetID())
    result = logic.predict("demo-dce-aln", {"DCE3": (volume, segmentation)}, clinical={"ki67": 12, "us_aln": 0},
                           caseId="S1", workers=2)
    mrml = save_scene(headless.scene, tmp_path / "saved")
    scene = load_scene(mrml).scene
    restored = scene.GetFirstNodeByName("AxillaryPredictor")
    assert restored.GetParameter("marginsMm") == "3,5" and restored.GetParameter("modelId") == "demo-dce-aln"
    restored_segmentation = restored.GetNodeReference("view1Segmentation")
    assert restored.GetNodeReference("view1Volume").GetName() == volume.GetName()
    names = AxillaryPredictorLogicBase(scene).segmentNames(restored_segmentation)
    assert names[-4:] == ["tumor_margin3mm", "margin3mm", "tumor_margin5mm", "margin5mm"]
    assert scene.GetFirstNodeByName("Prediction S1").GetNumberOfRows() == result.tableNode.GetNumberOfRows()
    assert scene.GetFirstNodeByName("Report S1").GetText() == result.reportNode.GetText()
    mask = logic.segmentMask(restored_segmentation, "margin3mm", restored.GetNodeReference("view1Volume"))
    assert int(sitk.GetArrayViewFromImage(mask).sum()) > 0 and np.isfinite(result.prediction.probability)


def test_extract_features_equals_the_engine_and_fills_a_table_node(logic):
    from AxillaryPredictorLib.extraction.engine import extract
    from AxillaryPredictorLib.extraction.tables import select_regions
    from AxillaryPredictorLib.imaging.regions import build_region_set

    phantom = make_phantom("dce", seed=5, lesion=LesionSpec(diameter_mm=12))
    volume, segmentation = logic.loadPhantomCase(phantom)
    progress = []
    table_node, frame = logic.extractFeatures({"DCE3": (volume, segmentation)}, margins="3",
                                              regions=["tumor", "margin3mm"], caseId="E1",
                                              progress=lambda f, m: progress.append(f))
    regions = select_regions(build_region_set(phantom.tumor, "3").images, ["tumor", "margin3mm"])
    expected = extract({"DCE3": (phantom.image, regions)}, "zeng2025-dce-delta", workers=1).features
    assert frame.loc[0, "case_id"] == "E1" and frame.shape[1] == 1 + 2 * 851 and progress[-1] == 1.0
    row = frame.iloc[0]
    assert all(np.isclose(row[c], v, rtol=1e-9, equal_nan=True) for c, v in expected.items())
    assert table_node.GetNumberOfRows() == 2 * 851 and table_node.GetName() == "Radiomics features E1"


def test_user_model_folder_setting_view_mapping_and_registry_hash(logic, tmp_path, monkeypatch):
    from AxillaryPredictorLib.packages import registry
    from AxillaryPredictorLib.packages.registry import bundled_directory

    monkeypatch.setenv("AXILLARY_PREDICTOR_MODELS", str(tmp_path / "env-folder"))
    setting = tmp_path / "setting-folder"
    logic.userModelFolder = str(setting)
    document = json.loads((bundled_directory() / "demo-dce-aln.json").read_text(encoding="utf-8"))
    document["id"] = "site-model"
    logic.loadModelPackage(str(save_package(seal(document), tmp_path / "site.json")))
    assert (setting / "site-model.json").is_file() and not (tmp_path / "env-folder").exists()
    assert "site-model" in [m["id"] for m in logic.listModels()] and logic.modelViews("site-model") == ["DCE3"]
    # a view named otherwise (e.g. by the GUI) is matched to the model's single view
    volume, segmentation = logic.loadPhantomCase(make_phantom("dce", seed=4, lesion=LesionSpec(diameter_mm=16)))
    result = logic.predict("site-model", {"CC": (volume, segmentation)}, clinical={"ki67": 30, "us_aln": "1"},
                           workers=1)
    assert 0 < result.prediction.probability < 1
    assert result.featuresTableNode.GetNumberOfRows() == len(result.prediction.features)
    # a bundled package that is not the one Models.json lists is refused
    entries = registry.registry_entries(str(setting))
    tampered = [dict(e, sha256="0" * 64) if e["id"] == "demo-dce-aln" else e for e in entries]
    monkeypatch.setattr(registry, "registry_entries", lambda folder=None: tampered)
    with pytest.raises(ValueError, match="is not the package the registry lists"):
        registry.find_model("demo-dce-aln")


def test_build_regions_excludes_air_and_chosen_segments(logic):
    """buildRegions with excludeBelow and excludeSegments: no ring voxel is dark (air) or in the excluded
    segment, the clipped fraction is reported, the tumor and the user's segments are untouched."""
    from AxillaryPredictorLib.scene.nodes import import_label_image, segment_to_image

    phantom = make_phantom("dce", seed=6, lesion=LesionSpec(diameter_mm=12))
    volume, segmentation = logic.loadPhantomCase(phantom)
    tumor = sitk.GetArrayFromImage(phantom.tumor).astype(bool)
    wall = np.zeros(tumor.shape, np.uint8)
    wall[:, int(np.flatnonzero(tumor.any(axis=(0, 2))).mean()):, :] = 1  # half of the image, through the tumor
    wall[tumor] = 0
    label = sitk.GetImageFromArray(wall)
    label.CopyInformation(phantom.image)
    import_label_image(segmentation, label, {1: "chest wall"})
    before = sitk.GetArrayFromImage(segment_to_image(segmentation, "chest wall", volume)).copy()
    threshold = float(np.percentile(sitk.GetArrayViewFromImage(phantom.image), 30))
    regions = logic.buildRegions(segmentation, "tumor", volume, "10", excludeBelow=threshold,
                                 excludeSegments=["chest wall"])
    ring = sitk.GetArrayFromImage(regions.images["margin10mm"]).astype(bool)
    image = sitk.GetArrayViewFromImage(phantom.image)
    assert ring.any() and not (ring & (wall == 1)).any() and (image[ring] >= threshold).all()
    assert regions.reports["margin10mm"].clipped_fraction > 0.3
    assert np.array_equal(sitk.GetArrayFromImage(segment_to_image(segmentation, "tumor", volume)).astype(bool), tumor)
    assert np.array_equal(sitk.GetArrayFromImage(segment_to_image(segmentation, "chest wall", volume)), before)


def test_predict_reports_progress_per_filter_and_can_be_cancelled(logic):
    volume, segmentation = logic.loadPhantomCase(make_phantom("dce", seed=4, lesion=LesionSpec(diameter_mm=16)))
    steps = []
    logic.predict("demo-dce-aln", {"DCE3": (volume, segmentation)}, clinical={"ki67": 30, "us_aln": "1"},
                  progress=lambda f, m: steps.append((f, m)), workers=2)
    fractions = [f for f, _ in steps]
    assert len(steps) >= 6 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("wavelet" in m.lower() for _, m in steps)
    tables = logic.scene.GetNodesByClass("vtkMRMLTableNode").GetNumberOfItems()

    def cancel(fraction, message):
        if 0.2 < fraction < 0.8:
            raise RuntimeError("Cancelled by the user.")

    for workers in (1, 2):
        with pytest.raises(RuntimeError, match="Cancelled"):
            logic.predict("demo-dce-aln", {"DCE3": (volume, segmentation)}, clinical={"ki67": 30, "us_aln": "1"},
                          progress=cancel, workers=workers)
    assert logic.scene.GetNodesByClass("vtkMRMLTableNode").GetNumberOfItems() == tables  # nothing added


def test_margin_feasibility_is_checked_before_any_work(logic):
    volume, _ = logic.loadPhantomCase(make_phantom("dce", seed=1))  # 0.7 x 0.7 x 1.5 mm
    assert logic.marginFeasibility(volume, "3,5,10") == ""
    assert "0.5 mm margin is not feasible at the current resolution" in logic.marginFeasibility(volume, "0.5,3")
    assert "outside the supported range" in logic.marginFeasibility(volume, "3,40")
    assert logic.marginFeasibility(None, "3") == ""  # no image yet: nothing to say
    assert logic.marginFeasibility(volume, "three") != ""
