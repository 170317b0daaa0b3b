"""The one case pipeline: regions shown are the regions scored, one region -> features path,
one single-scan vs delta decision."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from AxillaryPredictorLib.errors import InputError
from AxillaryPredictorLib.packages.registry import find_model
from AxillaryPredictorLib.phantoms import make_pair, make_phantom
from AxillaryPredictorLib.pipeline import CaseInputs, RegionSettings, Scan, extract_case, predict_case
from AxillaryPredictorLib.scene.logic import AxillaryPredictorLogicBase
from AxillaryPredictorLib.scene.nodes import volume_node_to_image

LIB = Path(__file__).resolve().parents[1] / "AxillaryPredictor" / "AxillaryPredictorLib"
REGION_BUILDERS = {"build_region_set", "build_regions", "build_case_regions"}
EXTRACTORS = {"extract", "extract_delta"}


def _voxels(mask: sitk.Image) -> int:
    return int(sitk.GetArrayViewFromImage(mask).sum())


@pytest.mark.slow
def test_predict_in_the_scene_scores_the_clipped_ring_that_build_regions_showed(headless):
    logic = AxillaryPredictorLogicBase(headless.scene)
    volume, segmentation = logic.loadPhantomCase(make_phantom("dce", seed=0), name="P")
    unclipped = logic.buildRegions(segmentation, "tumor", volume, "3").reports["margin3mm"].voxels
    ring = sitk.GetArrayFromImage(logic.segmentMask(segmentation, "margin3mm", volume)).astype(bool)
    ring_values = sitk.GetArrayFromImage(volume_node_to_image(volume))[ring]
    threshold = float(np.percentile(ring_values, 30))  # clips about a third of the 3 mm ring

    logic.buildRegions(segmentation, "tumor", volume, "3", excludeBelow=threshold)
    shown = _voxels(logic.segmentMask(segmentation, "margin3mm", volume))
    assert 0 < shown < unclipped  # the tissue threshold clipped part of the ring

    result = logic.predict("demo-dce-aln", {"DCE3": (volume, segmentation)},
                           clinical={"ki67": 30, "us_aln": "negative"}, caseId="P", workers=1)
    prediction = result.prediction
    assert prediction.region_voxels["DCE3/margin3mm"] == shown
    assert prediction.region_settings["exclude_below"] == pytest.approx(threshold)
    assert prediction.to_json()["region_settings"]["margins_mm"] == [3.0]

    # without the recorded settings the model would have scored the unclipped ring
    plain = predict_case(find_model("demo-dce-aln"), CaseInputs.single("P", {"DCE3": logic._scan(
        volume, segmentation)}, {"ki67": 30, "us_aln": "negative"}), workers=1)
    assert plain.region_voxels["DCE3/margin3mm"] == unclipped
    assert plain.probability != pytest.approx(prediction.probability, abs=1e-9)


def test_extract_case_records_settings_and_regions():
    phantom = make_phantom("us", seed=2, node=True)
    settings = RegionSettings((3.0,), exclude_below=None, components="largest")
    result = extract_case(CaseInputs.single("C1", {"US": Scan(phantom.image, phantom.tumor, phantom.node)}),
                          "zhang2025-us", settings, regions=["tumor", "node"], workers=1)
    assert result.provenance["regions"]["settings"] == settings.to_dict()
    assert result.region_voxels()["US/tumor"] == _voxels(phantom.tumor)
    assert result.region_voxels()["US/node"] == _voxels(phantom.node)
    assert {c.split("__")[0] for c in result.features} == {"tumor", "node"}


def test_single_scan_versus_delta_is_checked_against_the_model():
    baseline, ontreatment = make_pair(3, 0.5, "dce")
    single = CaseInputs.single("C", {"DCE3": Scan(baseline.image, baseline.tumor)})
    paired = CaseInputs.paired("C", {"DCE3": Scan(baseline.image, baseline.tumor)},
                               {"DCE3": Scan(ontreatment.image, ontreatment.tumor)})
    assert not single.is_delta and paired.is_delta and paired.timepoints == ["baseline", "ontreatment"]
    with pytest.raises(InputError, match="baseline and on-treatment"):
        predict_case(find_model("demo-delta-pcr"), single)
    with pytest.raises(InputError, match="one scan per view"):
        predict_case(find_model("demo-dce-aln"), paired)
    with pytest.raises(InputError, match="same views"):
        CaseInputs.paired("C", {"DCE3": Scan(baseline.image, baseline.tumor)},
                          {"DCE4": Scan(ontreatment.image, ontreatment.tumor)}).check()


def _calls(function: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            target = node.func
            names.add(target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", ""))
    return names


def test_exactly_one_function_builds_regions_and_extracts_features():
    found = []
    for path in sorted(LIB.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                calls = _calls(node)
                if calls & REGION_BUILDERS and calls & EXTRACTORS:
                    found.append(f"{path.relative_to(LIB)}:{node.name}")
    assert found == ["pipeline.py:_extract_timepoint"], found
