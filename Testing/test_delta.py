"""Paired delta workflow on phantom pairs with known shrink factors."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from AxillaryPredictorLib.extraction.delta import inverse_relative
from AxillaryPredictorLib.phantoms import LesionSpec, make_pair, make_phantom
from AxillaryPredictorLib.pipeline import extract_delta

VOLUME = "delta__tumor__DCE3__original_shape_MeshVolume"


@pytest.mark.parametrize("volume_factor", [0.35, 0.7])
def test_mesh_volume_delta_matches_the_analytic_change(volume_factor):
    baseline, ontreatment = make_pair(seed=4, volume_factor=volume_factor, lesion=LesionSpec(diameter_mm=22))
    assert 22 * volume_factor ** (1 / 3) >= 10  # lesions >= 10 mm at both timepoints
    result = extract_delta((baseline.image, baseline.tumor), (ontreatment.image, ontreatment.tumor), workers=2)
    analytic = ontreatment.truth["lesion_volume_mm3"] / baseline.truth["lesion_volume_mm3"] - 1
    assert result.delta.values[VOLUME] == pytest.approx(analytic, abs=0.02)
    assert len(result.delta.values) == 2 * 851  # tumor and margin3mm, before undefined ones are dropped
    assert not result.delta.complete_response


def test_identical_timepoints_give_zero_deltas():
    phantom = make_phantom("dce", seed=3, lesion=LesionSpec(diameter_mm=14))
    result = extract_delta((phantom.image, phantom.tumor), (phantom.image, phantom.tumor), regions=["tumor"],
                           workers=2)
    values = np.array(list(result.delta.values.values()))
    assert np.all(values[np.isfinite(values)] == 0.0) and np.isfinite(values).mean() > 0.95


def test_zero_baseline_features_are_undefined_and_listed(tmp_path):
    import SimpleITK as sitk

    profile = tmp_path / "flat.yaml"  # a user profile: no N4, no resampling, so a flat lesion stays flat
    profile.write_text("imageType:\n  Original: {}\nfeatureClass:\n  shape:\n  firstorder:\n  glcm:\n"
                       "setting:\n  binWidth: 25\n")

    baseline, ontreatment = make_pair(seed=3, volume_factor=0.7, lesion=LesionSpec(diameter_mm=16))
    flat = sitk.GetArrayFromImage(baseline.image)
    flat[sitk.GetArrayViewFromImage(baseline.tumor) > 0] = 600.0  # a homogeneous lesion at baseline
    flat_image = sitk.GetImageFromArray(flat)
    flat_image.CopyInformation(baseline.image)
    result = extract_delta((flat_image, baseline.tumor), (ontreatment.image, ontreatment.tumor), regions=["tumor"],
                           profile=str(profile), workers=2)
    zero_baseline = sorted(c for c, v in result.baseline.items() if abs(v) <= 1e-12)
    assert "tumor__DCE3__original_firstorder_Variance" in zero_baseline
    assert sorted(result.delta.undefined) == zero_baseline
    assert all(math.isnan(result.delta.values[f"delta__{c}"]) for c in zero_baseline)
    assert result.provenance["undefined_features"] == result.delta.undefined


def test_swapping_timepoints_gives_the_corresponding_values():
    baseline, ontreatment = make_pair(seed=5, volume_factor=0.5, lesion=LesionSpec(diameter_mm=20))
    forward = extract_delta((baseline.image, baseline.tumor), (ontreatment.image, ontreatment.tumor),
                            regions=["tumor"], workers=2)
    backward = extract_delta((ontreatment.image, ontreatment.tumor), (baseline.image, baseline.tumor),
                             regions=["tumor"], workers=2)
    checked = 0
    for column, value in forward.delta.values.items():
        other = backward.delta.values[column]
        if math.isfinite(value) and math.isfinite(other) and value != -1:
            assert other == pytest.approx(inverse_relative(value), rel=1e-9, abs=1e-12)
            checked += 1
    assert checked > 800
    absolute = extract_delta((baseline.image, baseline.tumor), (ontreatment.image, ontreatment.tumor),
                             regions=["tumor"], mode="absolute", workers=2)
    assert absolute.delta.values[VOLUME] == pytest.approx(
        forward.ontreatment["tumor__DCE3__original_shape_MeshVolume"]
        - forward.baseline["tumor__DCE3__original_shape_MeshVolume"])


def test_empty_ontreatment_tumor_is_a_complete_response():
    baseline, ontreatment = make_pair(seed=6, volume_factor=0.0, lesion=LesionSpec(diameter_mm=18))
    result = extract_delta((baseline.image, baseline.tumor), (ontreatment.image, ontreatment.tumor), workers=2)
    assert result.delta.complete_response and result.row()["complete_response"] == 1.0
    assert result.delta.values[VOLUME] == -1.0
    assert result.delta.values["delta__tumor__DCE3__original_shape_Maximum3DDiameter"] == -1.0
    assert math.isnan(result.delta.values["delta__tumor__DCE3__original_shape_Sphericity"])
    assert math.isnan(result.delta.values["delta__margin3mm__DCE3__original_firstorder_Mean"])
    assert any("complete radiological response" in w for w in result.warnings)


def test_mismatched_pairs_are_refused():
    baseline, ontreatment = make_pair(seed=7, volume_factor=0.5)
    with pytest.raises(ValueError, match="differ in laterality"):
        extract_delta((baseline.image, baseline.tumor), (ontreatment.image, ontreatment.tumor),
                      baseline_meta={"laterality": "L"}, ontreatment_meta={"laterality": "R"})
    with pytest.raises(ValueError, match="relative, absolute, log-ratio"):
        extract_delta((baseline.image, baseline.tumor), (ontreatment.image, ontreatment.tumor), mode="ratio")


def test_delta_cli_writes_delta_and_raw_columns(tmp_path):
    from AxillaryPredictorLib.cli.main import main

    baseline, ontreatment = make_pair(seed=8, volume_factor=0.6, lesion=LesionSpec(diameter_mm=16))
    b = baseline.write(tmp_path, "b")
    o = ontreatment.write(tmp_path, "o")
    out = tmp_path / "delta.csv"
    assert main(["delta", "--baseline-image", str(b["image"]), "--baseline-mask", str(b["tumor"]),
                 "--ontreatment-image", str(o["image"]), "--ontreatment-mask", str(o["tumor"]), "--case-id", "N1",
                 "--regions", "tumor", "--raw", "--workers", "2", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert table.loc[0, "case_id"] == "N1"
    assert {"delta__tumor__DCE3__original_firstorder_Mean", "baseline__tumor__DCE3__original_firstorder_Mean",
            "ontreatment__tumor__DCE3__original_firstorder_Mean", "complete_response"} <= set(table.columns)
    sidecar = json.loads((tmp_path / "delta.csv.json").read_text(encoding="utf-8"))
    assert sidecar["mode"] == "relative" and sidecar["profile"]["name"] == "zeng2025-dce-delta"


def test_scene_delta_table_and_empty_ontreatment_segment(headless):
    from AxillaryPredictorLib.scene.features import extract_delta_from_scene
    from AxillaryPredictorLib.scene.logic import AxillaryPredictorLogicBase
    from AxillaryPredictorLib.scene.results import frame_from_table_node

    logic = AxillaryPredictorLogicBase(headless.scene)
    baseline, ontreatment = make_pair(seed=9, volume_factor=0.5, lesion=LesionSpec(diameter_mm=18))
    base_nodes = logic.loadPhantomCase(baseline, name="Baseline")
    on_nodes = logic.loadPhantomCase(ontreatment, name="OnTreatment")
    table, _ = extract_delta_from_scene(base_nodes, on_nodes, regions=["tumor"], workers=2)
    frame = frame_from_table_node(table)
    assert len(frame) == 851 and list(frame.columns) == ["region", "view", "feature", "baseline", "ontreatment",
                                                         "delta"]
    volume = frame[frame["feature"] == "original_shape_MeshVolume"].iloc[0]
    assert volume["delta"] == pytest.approx(volume["ontreatment"] / volume["baseline"] - 1)
    assert table.GetAttribute("AxillaryPredictor.CompleteResponse") == "false"
    # a bar chart of the largest changes, its data saved as a table node
    from AxillaryPredictorLib.scene.features import delta_changes_chart

    chart = delta_changes_chart(headless.scene, table, top=10)
    series = chart.GetNthPlotSeriesNode(0)
    bars = frame_from_table_node(series.GetTableNode())
    defined = pd.to_numeric(frame["delta"], errors="coerce").dropna().abs()
    assert len(bars) == 10 and np.isclose(bars["delta"].abs().max(), defined.max())
    assert list(bars["delta"].abs()) == sorted(bars["delta"].abs(), reverse=True)
    # the radiologist empties the tumor segment on the on-treatment scan: complete response
    segmentation = on_nodes[1].GetSegmentation()
    segmentation.RemoveSegment(segmentation.GetSegmentIdBySegmentName("tumor"))
    segmentation.AddEmptySegment("", "tumor")
    response_table, response = extract_delta_from_scene(base_nodes, on_nodes, regions=["tumor"], workers=2)
    assert response.delta.complete_response
    assert response_table.GetAttribute("AxillaryPredictor.CompleteResponse") == "true"
