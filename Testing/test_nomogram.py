"""Nomogram points and probability mapping against rms::nomogram fixtures (both axis conventions)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from AxillaryPredictorLib.reporting.nomogram import Nomogram, NomogramPredictor, case_values

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


# ------------------------------------------------------------- nomograms of model packages


def _synthetic_cohort(n: int = 240, seed: int = 4) -> tuple[pd.DataFrame, np.ndarray]:
    """Features on very different scales and offsets, so a nomogram that ignored the
    package's standardization would give visibly wrong points."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 4))
    X = pd.DataFrame({"tumor_mean": 400 + 80 * z[:, 0], "margin_entropy": 3.1 + 0.2 * z[:, 1],
                      "tumor_volume": 1500 + 900 * z[:, 2], "node_glcm_idn": -0.4 + 0.05 * z[:, 3]})
    lp = -0.3 + 1.2 * z[:, 0] - 0.8 * z[:, 1] + 0.5 * z[:, 2] + 0.2 * z[:, 3]
    return X, (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)


def _document(X: pd.DataFrame, y: np.ndarray, kind: str = "logistic") -> dict:
    from AxillaryPredictorLib.modeling.training import train
    from AxillaryPredictorLib.packages.export import to_package

    recipe = {"name": "t", "steps": [{"variance": {}}], "classifier": {"kind": kind}, "cv": {"folds": 3, "seed": 0}}
    result = train(X, y, recipe)
    return to_package(result, X, y, model_id=f"plain-{kind}", title="t", task="ALN metastasis", modality="MR",
                      views=["V"], regions=["tumor"], profile={"name": "zeng2025-dce-delta"})


@pytest.fixture(scope="module")
def plain_package():
    from AxillaryPredictorLib.packages.package import load_package, seal

    X, y = _synthetic_cohort()
    document = _document(X, y)
    assert "nomogram" not in document and document["standardization"]  # features + standardization + logistic
    return load_package(seal(document)), X


@pytest.mark.parametrize("axes", ["pretty", "minmax"])
def test_plain_logistic_package_total_points_map_back_to_its_probability(plain_package, axes):
    package, X = plain_package
    nomogram = Nomogram.from_package(package, axes=axes)
    assert [p.name for p in nomogram.predictors] == package.features
    expected = package.predict_proba(X)
    for row in (0, 7, 42, 99, 150, 239):
        values = case_values(package, package.design(X.iloc[[row]]))
        assert values == {f: float(X[f].iloc[row]) for f in package.features}
        total = nomogram.total_points(values)
        assert nomogram.probability_from_points(total) == pytest.approx(expected[row], abs=1e-9)
        assert nomogram.linear_predictor_from_points(total) == pytest.approx(
            package.linear_predictor(X.iloc[[row]])[0], abs=1e-9)
    # far outside the training range (extrapolated points) the mapping still holds
    extreme = {f: float(X[f].max() + 3 * X[f].std()) for f in package.features}
    assert nomogram.probability(extreme) == pytest.approx(package.predict_proba(pd.DataFrame([extreme]))[0], abs=1e-9)


def test_plain_logistic_package_points_follow_the_standardized_coefficients(plain_package):
    from AxillaryPredictorLib.packages.nomogram_spec import r_pretty

    package, X = plain_package
    beta = dict(zip(package.features, package.document["estimator"]["coefficients"], strict=True))
    standardization = package.document["standardization"]
    mean = dict(zip(package.features, standardization["mean"], strict=True))
    scale = dict(zip(package.features, standardization["scale"], strict=True))
    nomogram = Nomogram.from_package(package)
    sc = nomogram.points_per_lp_unit
    base = {f: float(X[f].median()) for f in package.features}
    spans = {}
    for predictor in nomogram.predictors:
        name = predictor.name
        low, high = package.document["training_ranges"][name]
        assert list(predictor.axis) == r_pretty(low, high, 10)  # rms default pretty() axis over the range
        # points ∝ β·(x − mean)/scale: equal steps in z give equal steps in points, of size sc·β
        points = [nomogram.points({**base, name: mean[name] + k * scale[name]})[name] for k in (-1.0, 0.0, 1.0, 2.5)]
        assert np.diff(points) == pytest.approx(sc * beta[name] * np.diff([-1.0, 0.0, 1.0, 2.5]), abs=1e-9)
        ends = [nomogram.points({**base, name: v})[name] for v in (min(predictor.axis), max(predictor.axis))]
        assert min(ends) == pytest.approx(0.0, abs=1e-9)  # each axis starts at 0 points
        spans[name] = max(ends)
        assert spans[name] == pytest.approx(sc * abs(beta[name]) * (max(predictor.axis) - min(predictor.axis))
                                            / scale[name], rel=1e-12)
    widest = max(spans, key=spans.get)
    assert spans[widest] == pytest.approx(100.0, abs=1e-9)  # the widest predictor spans exactly 100 points
    assert all(span < 100.0 + 1e-9 for span in spans.values())
    assert widest == max(package.features, key=lambda f: abs(beta[f]) * np.ptp(
        [min(nomogram.predictors[package.features.index(f)].axis),
         max(nomogram.predictors[package.features.index(f)].axis)]) / scale[f])


def test_nomogram_section_with_top_level_standardization_is_applied(plain_package):
    from AxillaryPredictorLib.packages.nomogram_spec import nomogram_axis
    from AxillaryPredictorLib.packages.package import ModelPackage

    package, X = plain_package
    document = dict(package.document)
    document["nomogram"] = {"predictors": [{"name": f, "kind": "continuous", "axis": nomogram_axis(X[f])}
                                           for f in package.features]}
    nomogram = Nomogram.from_package(document)
    probability = ModelPackage(document).predict_proba(X.iloc[:5])
    for row in range(5):
        values = {f: float(X[f].iloc[row]) for f in package.features}
        assert nomogram.probability_from_points(nomogram.total_points(values)) == pytest.approx(probability[row],
                                                                                                abs=1e-9)
    # a section that leaves a model input off its axes would give wrong points: refused
    document["nomogram"] = {"predictors": document["nomogram"]["predictors"][1:]}
    with pytest.raises(ValueError, match=f"not on any axis: {package.features[0]}"):
        Nomogram.from_package(document)
    broken = {**package.document, "standardization": {"mean": [0.0], "scale": [1.0]}}
    with pytest.raises(ValueError, match="standardization has 1 means"):
        Nomogram.from_package(broken)


def test_standardized_categorical_clinical_inputs():
    """Binary and categorical clinical design columns under a top-level standardization."""
    from AxillaryPredictorLib.packages.package import ModelPackage

    document = {
        "id": "clin", "status": "demonstration", "task": "ALN metastasis",
        "features": ["radscore", "us_aln", "subtype=HER2", "subtype=TN", "ki67"],
        "standardization": {"mean": [0.2, 0.4, 0.25, 0.2, 30.0], "scale": [1.3, 0.49, 0.43, 0.4, 15.0]},
        "estimator": {"type": "logistic", "intercept": -0.4, "coefficients": [1.1, 0.6, -0.5, 0.9, 0.3]},
        "training_ranges": {"radscore": [-3.1, 2.7], "ki67": [2.0, 90.0]},
        "clinical_variables": [
            {"name": "us_aln", "kind": "binary", "levels": ["negative", "positive"]},
            {"name": "subtype", "kind": "categorical", "levels": ["luminal", "HER2", "TN"]},
            {"name": "ki67", "kind": "continuous", "unit": "%", "range": [0, 100], "label": "Ki-67"}]}
    nomogram = Nomogram.from_package(document)
    assert [p.name for p in nomogram.predictors] == ["radscore", "us_aln", "subtype", "ki67"]
    assert nomogram.predictors[2].levels == ("luminal", "HER2", "TN")
    package = ModelPackage(document)
    for case in ({"radscore": 0.3, "us_aln": "positive", "subtype": "TN", "ki67": 35},
                 {"radscore": -2.0, "us_aln": "negative", "subtype": "luminal", "ki67": 5},
                 {"radscore": 1.9, "us_aln": "1", "subtype": "her2", "ki67": 80}):
        frame = pd.DataFrame([case])
        values = case_values(package, package.design(frame))
        assert values["subtype"] in ("luminal", "HER2", "TN") and values["us_aln"] in ("negative", "positive")
        assert nomogram.probability_from_points(nomogram.total_points(values)) == pytest.approx(
            package.predict_proba(frame)[0], abs=1e-9)


def test_locally_recalibrated_published_signature_gets_a_nomogram():
    from AxillaryPredictorLib.packages.package import ModelPackage
    from AxillaryPredictorLib.packages.recalibration import recalibrate
    from AxillaryPredictorLib.packages.registry import find_model

    published = find_model("he2025-dbt-signature")
    with pytest.raises(ValueError, match="must be recalibrated"):
        Nomogram.from_package(published)
    rng = np.random.default_rng(8)
    frame = pd.DataFrame(rng.normal(5.0, 2.0, size=(300, len(published.features))), columns=published.features)
    y = (rng.random(300) < 0.35).astype(int)
    document = recalibrate(published, frame, y).document
    nomogram = Nomogram.from_package(document)
    package = ModelPackage(document)
    probability = package.predict_proba(frame.iloc[:4])
    for row in range(4):
        values = case_values(package, package.design(frame.iloc[[row]]))
        assert nomogram.probability(values) == pytest.approx(probability[row], abs=1e-9)


@pytest.mark.parametrize("kind", ["xgboost", "linear-svm"])
def test_non_logistic_package_is_refused_with_a_clear_error(kind):
    X, y = _synthetic_cohort(n=120)
    document = _document(X, y, kind)
    with pytest.raises(ValueError, match=f"needs a logistic model .*estimator is '{kind}'"):
        Nomogram.from_package(document)


def test_package_without_any_axis_information_is_refused(plain_package):
    package, _ = plain_package
    document = {k: v for k, v in package.document.items() if k not in ("training_ranges", "standardization")}
    with pytest.raises(ValueError, match=f"Cannot draw a nomogram axis for {package.features[0]}"):
        Nomogram.from_package(document)


def test_plain_package_nomogram_draws(plain_package, tmp_path):
    package, X = plain_package
    nomogram = Nomogram.from_package(package)
    figure = nomogram.draw(case_values(package, package.design(X.iloc[[3]])))
    figure.savefig(tmp_path / "plain.png")
    assert (tmp_path / "plain.png").stat().st_size > 5000
