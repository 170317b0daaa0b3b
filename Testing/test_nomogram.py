"""Nomogram points and probability mapping against rms::nomogram fixtures (both axis conventions)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from AxillaryPredictorLib.nomogram import Nomogram, NomogramPredictor

FIXTURES = json.loads(
    (Path(__file__).parent / "fixtures" / "nomogram" / "nomogram_fixtures.json").read_text(encoding="utf-8"))
CASES = [(name, convention) for name in FIXTURES for convention in ("default", "minmax")]


def _nomogram(model: dict, convention: str) -> Nomogram:
    coefficients = model["coefficients"]
    predictors = []
    for name in model["predictors"]:
        axis = model[convention]["axes"][name]
        if name in model["levels"]:
            levels = model["levels"][name]
            effects = [coefficients.get(f"{name}={level}", 0.0) for level in levels]
            predictors.append(NomogramPredictor(name, "categorical", levels=tuple(levels),
                                                level_effects=tuple(effects)))
        else:
            predictors.append(NomogramPredictor(name, "continuous", coefficients[name], tuple(axis["values"])))
    return Nomogram(coefficients["Intercept"], tuple(predictors))


@pytest.mark.parametrize(("name", "convention"), CASES)
def test_scale_offset_and_axis_points_equal_rms(name, convention):
    model = FIXTURES[name]
    reference = model[convention]
    nomogram = _nomogram(model, convention)
    assert nomogram.points_per_lp_unit == pytest.approx(reference["sc"], rel=1e-9)
    assert nomogram.lp_at_zero_points == pytest.approx(reference["offset"], rel=1e-9, abs=1e-12)
    for predictor in nomogram.predictors:
        axis = reference["axes"][predictor.name]
        ours = [nomogram.points({**{p.name: p.ticks()[0] for p in nomogram.predictors}, predictor.name: v})
                [predictor.name] for v in axis["values"]]
        assert ours == pytest.approx(axis["points"], abs=1e-6)


@pytest.mark.parametrize(("name", "convention"), CASES)
def test_total_points_map_to_the_same_probability(name, convention):
    reference = FIXTURES[name][convention]["total_points_grid"]
    nomogram = _nomogram(FIXTURES[name], convention)
    for total, lp, probability in zip(reference["total_points"], reference["lp"], reference["probability"],
                                      strict=True):
        assert nomogram.linear_predictor_from_points(total) == pytest.approx(lp, rel=1e-9, abs=1e-12)
        assert nomogram.probability_from_points(total) == pytest.approx(probability, abs=1e-9)


@pytest.mark.parametrize(("name", "convention"), CASES)
def test_subjects_points_and_probability_equal_rms(name, convention):
    nomogram = _nomogram(FIXTURES[name], convention)
    for subject in FIXTURES[name][convention]["subjects"]:
        points = nomogram.points(subject["values"])
        assert points == pytest.approx(subject["points"], abs=1e-6)
        assert nomogram.total_points(subject["values"]) == pytest.approx(subject["total_points"], abs=1e-6)
        assert nomogram.probability(subject["values"]) == pytest.approx(subject["probability"], abs=1e-9)
        # LP from the nomogram equals the model's own linear predictor (convention-free)
        assert nomogram.linear_predictor_from_points(nomogram.total_points(subject["values"])) == pytest.approx(
            subject["lp_direct"], abs=1e-9)


def test_conventions_differ_in_scale_but_not_in_probability():
    model = FIXTURES["radscore_ki67"]
    default, minmax = _nomogram(model, "default"), _nomogram(model, "minmax")
    assert default.points_per_lp_unit != pytest.approx(minmax.points_per_lp_unit)
    subject = model["default"]["subjects"][0]["values"]
    assert default.probability(subject) == pytest.approx(minmax.probability(subject), abs=1e-12)


def test_widest_predictor_spans_100_points():
    nomogram = _nomogram(FIXTURES["tumor_ln_us"], "default")
    spans = [nomogram.points_per_lp_unit * (hi - lo) for lo, hi in (p.effect_range() for p in nomogram.predictors)]
    assert max(spans) == pytest.approx(100.0)


def test_bad_values_name_the_variable_and_allowed_levels():
    nomogram = _nomogram(FIXTURES["age_subtype_delta"], "default")
    good = {"age": 50, "subtype": "luminal", "delta_radscore": 0.1}
    with pytest.raises(ValueError, match="allowed: luminal, HER2-enriched, triple-negative"):
        nomogram.points({**good, "subtype": "basal"})
    with pytest.raises(ValueError, match="age must be a number"):
        nomogram.points({**good, "age": "abc"})
    with pytest.raises(ValueError, match="Missing value for delta_radscore"):
        nomogram.points({"age": 50, "subtype": "luminal"})


def test_axes_and_drawing(tmp_path):
    nomogram = _nomogram(FIXTURES["age_subtype_delta"], "default")
    rows = nomogram.axes()
    assert [r["name"] for r in rows][:1] == ["Points"] and rows[-1]["name"] == "Probability"
    probability_row = rows[-1]
    for tick, position in zip(probability_row["ticks"], probability_row["positions"], strict=True):
        assert nomogram.probability_from_points(position) == pytest.approx(tick)
    figure = nomogram.draw({"age": 60, "subtype": "triple-negative", "delta_radscore": -0.5}, title="Test")
    path = tmp_path / "nomogram.png"
    figure.savefig(path)
    assert path.stat().st_size > 5000
    assert np.isfinite(nomogram.max_total_points())
