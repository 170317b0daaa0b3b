"""Delta definitions: relative / absolute / log-ratio, zero baselines, complete response, swap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from AxillaryPredictorLib.extraction.delta import compute_delta, delta_value, inverse_relative, is_size_feature

BASE = {
    "tumor__DCE3__original_shape_MeshVolume": 4000.0,
    "tumor__DCE3__original_shape_Sphericity": 0.8,
    "tumor__DCE3__original_firstorder_Mean": 500.0,
    "margin3mm__DCE3__original_firstorder_Skewness": -0.5,
    "tumor__DCE3__original_glcm_ClusterShade": 0.0,
}
ON = {
    "tumor__DCE3__original_shape_MeshVolume": 1000.0,
    "tumor__DCE3__original_shape_Sphericity": 0.8,
    "tumor__DCE3__original_firstorder_Mean": 400.0,
    "margin3mm__DCE3__original_firstorder_Skewness": 0.25,
    "tumor__DCE3__original_glcm_ClusterShade": 3.0,
}


def test_relative_delta_and_zero_baseline():
    result = compute_delta(BASE, ON)
    d = result.values
    assert d["delta__tumor__DCE3__original_shape_MeshVolume"] == pytest.approx(-0.75)
    assert d["delta__tumor__DCE3__original_shape_Sphericity"] == 0.0  # constant across the pair
    assert d["delta__tumor__DCE3__original_firstorder_Mean"] == pytest.approx(-0.2)
    assert d["delta__margin3mm__DCE3__original_firstorder_Skewness"] == pytest.approx((0.25 + 0.5) / -0.5)
    assert math.isnan(d["delta__tumor__DCE3__original_glcm_ClusterShade"])
    assert result.undefined == ["tumor__DCE3__original_glcm_ClusterShade"]
    assert "undefined" in result.notes[0]


def test_absolute_and_log_ratio():
    absolute = compute_delta(BASE, ON, mode="absolute").values
    assert absolute["delta__tumor__DCE3__original_firstorder_Mean"] == -100.0
    assert absolute["delta__tumor__DCE3__original_glcm_ClusterShade"] == 3.0
    log_ratio = compute_delta(BASE, ON, mode="log-ratio")
    assert log_ratio.values["delta__tumor__DCE3__original_shape_MeshVolume"] == pytest.approx(math.log(0.25))
    # skewness changes sign: the log-ratio is undefined
    assert "margin3mm__DCE3__original_firstorder_Skewness" in log_ratio.undefined
    with pytest.raises(ValueError, match="relative, absolute, log-ratio"):
        delta_value(1.0, 2.0, mode="percent")


def test_swapping_timepoints_gives_the_corresponding_values():
    forward = compute_delta(BASE, ON).values
    backward = compute_delta(ON, BASE).values
    for column, value in forward.items():
        if math.isfinite(value) and math.isfinite(backward[column]):
            assert backward[column] == pytest.approx(inverse_relative(value))
    forward_abs = compute_delta(BASE, ON, mode="absolute").values
    backward_abs = compute_delta(ON, BASE, mode="absolute").values
    assert all(backward_abs[c] == pytest.approx(-v) for c, v in forward_abs.items())
    forward_log = compute_delta(BASE, ON, mode="log-ratio").values
    backward_log = compute_delta(ON, BASE, mode="log-ratio").values
    assert all(backward_log[c] == pytest.approx(-v) for c, v in forward_log.items() if np.isfinite(v))


def test_complete_response_sets_size_deltas_to_minus_one_and_others_nan():
    result = compute_delta(BASE, None)
    assert result.complete_response
    assert result.values["delta__tumor__DCE3__original_shape_MeshVolume"] == -1.0
    assert math.isnan(result.values["delta__tumor__DCE3__original_shape_Sphericity"])
    assert math.isnan(result.values["delta__tumor__DCE3__original_firstorder_Mean"])
    assert "complete radiological response" in result.notes[0]


def test_missing_on_treatment_feature_is_an_error():
    on = dict(ON)
    on.pop("tumor__DCE3__original_firstorder_Mean")
    with pytest.raises(ValueError, match="same profile"):
        compute_delta(BASE, on)


def test_size_feature_detection():
    assert is_size_feature("tumor__CC__original_shape_Maximum3DDiameter")
    assert is_size_feature("tumor__US__original_shape2D_PixelSurface")
    assert not is_size_feature("tumor__CC__original_shape_Sphericity")
    assert not is_size_feature("tumor__CC__original_firstorder_Mean")
