"""Feature selectors of the study recipes against independent references: R (chi-squared / Fisher and the
t / Wilcoxon choice, the Pearson-or-Spearman filter, backward elimination; fixtures in
Testing/fixtures/selection with their script), mutual-information mRMR by brute force from counts,
LightGBM subset selection on planted signal and inside cross-validation, and the inter- plus
intra-observer ICC filter from the command line."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline

from AxillaryPredictorLib.errors import InputError
from AxillaryPredictorLib.evaluation.glm import logistic_mle
from AxillaryPredictorLib.modeling.classifiers import make_classifier
from AxillaryPredictorLib.modeling.combined import CombinedLogisticModel, backward_p
from AxillaryPredictorLib.modeling.importance_selection import LightGBMSubsetSelector, importance_subset
from AxillaryPredictorLib.modeling.mrmr import MRMRSelector
from AxillaryPredictorLib.modeling.recipes import build_pipeline, load_recipe
from AxillaryPredictorLib.modeling.reproducibility import ICCFilter, icc, reliability_table
from AxillaryPredictorLib.modeling.selection import CorrelationFilter, UnivariateFilter
from AxillaryPredictorLib.modeling.training import train

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "selection" / "selection_fixtures.json").read_text(
    encoding="utf-8"))


def _frame(case: dict) -> tuple[pd.DataFrame, np.ndarray]:
    data = pd.DataFrame(case["data"])
    return data.drop(columns="y"), data["y"].to_numpy(int)


# ------------------------------------------------------------------ univariate tests (Liu, Lu)


@pytest.mark.parametrize("declared", ["auto", "names", "indices"])
def test_univariate_filter_chooses_the_test_and_p_as_r(declared):
    """t-test or Wilcoxon by Shapiro-Wilk in each group; chi-squared (Yates on 2 x 2) or Fisher when an
    expected count is below 5, for categorical features detected or declared: R's choice and p."""
    case = FIXTURES["univariate"]
    X, y = _frame(case)
    categorical = {"auto": "auto", "names": case["categorical"],
                   "indices": [list(X.columns).index(n) for n in case["categorical"]]}[declared]
    fitted = UnivariateFilter(test="auto", categorical=categorical, max_levels=3).fit(X, y)
    for index, name in enumerate(X.columns):
        expected = case["results"][name]
        assert fitted.tests_[index] == expected["test"], name
        assert fitted.pvalues_[index] == pytest.approx(expected["p"], rel=1e-6, abs=1e-12), name
    assert set(fitted.get_feature_names_out()) == {n for n, r in case["results"].items() if r["p"] < 0.05}
    assert {"chi2", "fisher", "ttest", "mannwhitney"} <= set(fitted.tests_)


def test_univariate_filter_refuses_unknown_categorical_names():
    X, y = _frame(FIXTURES["univariate"])
    with pytest.raises(InputError, match="not among"):
        UnivariateFilter(test="auto", categorical=["grade"]).fit(X, y)
    with pytest.raises(InputError, match="test must be"):
        UnivariateFilter(test="wilcoxon").fit(X, y)


def test_correlation_filter_pearson_or_spearman_equals_r():
    """Liu et al.'s "Pearson or Spearman": Pearson for pairs of normal features, else Spearman."""
    case = FIXTURES["correlation"]
    X, y = _frame(case)
    fitted = CorrelationFilter(method="auto", threshold=case["threshold"]).fit(X, y)
    assert dict(zip(X.columns, fitted.pearson_.tolist(), strict=True)) == case["normal"]
    assert list(fitted.get_feature_names_out()) == case["kept"]
    pearson_only = CorrelationFilter(method="pearson", threshold=case["threshold"]).fit(X, y)
    assert list(pearson_only.get_feature_names_out()) != case["kept"]  # the choice of coefficient matters here


# ------------------------------------------------------------------ backward elimination (Zhang)


def test_backward_elimination_at_p_005_equals_r_and_reaches_the_combined_model():
    """Zhang et al.'s "stepwise backward multivariate regression ... P < .05" as a recipe's
    ``combined: {selection: p, p_threshold: 0.05}``."""
    case = FIXTURES["backward"]
    X, y = _frame(case)
    spec = {"selection": "p", "p_threshold": case["p_threshold"]}
    model = CombinedLogisticModel(**spec).fit(X, y)
    assert model.terms_ == case["terms"]
    assert model.fit_.beta == pytest.approx(np.array(case["estimate"]), abs=1e-6)
    # train() carries the recipe's combined selection into the RadScore + clinical model
    rng = np.random.default_rng(5)
    features = pd.DataFrame(rng.normal(size=(len(y), 6)), columns=[f"f{i}" for i in range(6)])
    features["f0"] += 1.2 * (y - 0.5)
    quick = {"name": "quick", "steps": [{"variance": {}}], "classifier": {"kind": "logistic"},
             "combined": spec, "cv": {"folds": 5, "seed": 0}}
    result = train(features, y, quick, clinical=X)
    assert result.combined.selection == "p"
    design = pd.concat([result.scores_train, X.reset_index(drop=True)], axis=1)
    assert result.combined.terms_ == backward_p(design, y, 0.05)


# ------------------------------------------------------------------ mutual-information mRMR (Zhang, Lu)


def _plugin_mi(a, b) -> float:
    """I(a; b) in nats from the joint counts (the plug-in estimate)."""
    n = len(a)
    joint, left, right = Counter(zip(a, b, strict=True)), Counter(a), Counter(b)
    return sum(c / n * math.log(c * n / (left[x] * right[z])) for (x, z), c in joint.items())


def _greedy_mrmr(X: np.ndarray, y: np.ndarray, k: int, quotient: bool) -> list[int]:
    relevance = [_plugin_mi(X[:, j], y) for j in range(X.shape[1])]
    chosen = [int(np.argmax(relevance))]
    while len(chosen) < k:
        scores = {}
        for j in set(range(X.shape[1])) - set(chosen):
            redundancy = np.mean([_plugin_mi(X[:, j], X[:, s]) for s in chosen])
            scores[j] = relevance[j] / max(redundancy, 1e-6) if quotient else relevance[j] - redundancy
        ordered = sorted(scores.values(), reverse=True)
        assert ordered[0] - ordered[1] > 1e-9  # the brute-force order is unambiguous
        chosen.append(max(scores, key=scores.get))
    return chosen


@pytest.mark.parametrize("scheme", ["MID", "MIQ"])
def test_mutual_information_mrmr_order_equals_brute_force(scheme):
    """Discrete features: scikit-learn's plug-in MI, so the greedy order must equal one computed from counts."""
    rng = np.random.default_rng(4)
    n = 60
    y = rng.integers(0, 2, n)
    strong = np.where(rng.random(n) < 0.8, y, 1 - y)
    copy = np.where(rng.random(n) < 0.9, strong, 1 - strong)  # nearly the same as 'strong'
    other = np.where(rng.random(n) < 0.7, y + rng.integers(0, 2, n), rng.integers(0, 3, n))
    X = np.column_stack([strong, copy, other, *(rng.integers(0, 3, n) for _ in range(5))])
    expected = _greedy_mrmr(X, y, 5, quotient=scheme == "MIQ")
    fitted = MRMRSelector(k=5, scheme=scheme, discrete_features=True).fit(X, y)
    assert fitted.ranking_.tolist() == expected
    assert fitted.relevance_ == pytest.approx([_plugin_mi(X[:, j], y) for j in range(X.shape[1])], abs=1e-12)
    relevance_order = np.argsort(-fitted.relevance_, kind="stable")[:5].tolist()
    assert expected != relevance_order  # redundancy changed the order: the test can fail


def test_mutual_information_mrmr_skips_a_duplicate_and_finds_planted_signal():
    rng = np.random.default_rng(1)
    n = 300
    X = pd.DataFrame(rng.normal(size=(n, 30)), columns=[f"f{i}" for i in range(30)])
    y = (rng.random(n) < 1 / (1 + np.exp(-(2 * X.f0 - 1.6 * X.f1 + 1.4 * X.f2)))).astype(int).to_numpy()
    X["f0_copy"] = X.f0 + rng.normal(0, 0.05, n)
    fitted = MRMRSelector(k=3, scheme="MID", n_neighbors=10).fit(X, y)
    chosen = set(fitted.get_feature_names_out())
    assert len(chosen & {"f0", "f0_copy"}) == 1 and {"f1", "f2"} <= chosen
    again = clone(MRMRSelector(k=3, scheme="MID", n_neighbors=10)).fit(X, y)
    assert again.ranking_.tolist() == fitted.ranking_.tolist()  # fixed random_state: reproducible
    limited = MRMRSelector(k=3, scheme="MID", n_neighbors=10, n_candidates=4).fit(X, y)
    assert set(limited.ranking_) <= set(np.argsort(-limited.relevance_, kind="stable")[:4])
    with pytest.raises(InputError, match="scheme"):
        MRMRSelector(scheme="MIX").fit(X, y)


# ------------------------------------------------------------------ LightGBM subset selection (Lu)


def _planted(n=300, p=12, seed=2):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{i}" for i in range(p)])
    y = (rng.random(n) < 1 / (1 + np.exp(-(1.8 * X.f0 - 1.4 * X.f1 + 1.0 * X.f2)))).astype(int).to_numpy()
    return X, y


def test_lightgbm_subset_selector_keeps_the_planted_signal_by_cv_auc():
    X, y = _planted()
    fitted = LightGBMSubsetSelector(max_features=8).fit(X, y)
    chosen = list(fitted.get_feature_names_out())
    assert set(fitted.ranking_[:3]) == {0, 1, 2} and {"f0", "f1", "f2"} <= set(chosen)
    assert fitted.cv_auc_.shape == (8,) and fitted.n_features_selected_ == int(np.argmax(fitted.cv_auc_)) + 1
    # the AUC climbs while signal is added, then plateaus (noise adds nothing)
    assert fitted.cv_auc_[0] + 0.05 < fitted.cv_auc_[1] < fitted.cv_auc_[2] - 0.02
    assert np.max(fitted.cv_auc_[3:]) < fitted.cv_auc_[2] + 0.01
    assert (fitted.cv_auc_ci_[:, 0] < fitted.cv_auc_).all() and (fitted.cv_auc_ < fitted.cv_auc_ci_[:, 1]).all()
    # each subset's mean AUC: stratified 10-fold CV of an unpenalized logistic regression (R's glm)
    size = 3
    columns = X.to_numpy()[:, fitted.ranking_[:size]]
    aucs = []
    for train_index, test_index in StratifiedKFold(10, shuffle=True, random_state=0).split(columns, y):
        design = np.column_stack([np.ones(len(train_index)), columns[train_index]])
        beta = logistic_mle(design, y[train_index]).beta
        aucs.append(roc_auc_score(y[test_index], columns[test_index] @ beta[1:]))
    assert fitted.cv_auc_[size - 1] == pytest.approx(np.mean(aucs), abs=1e-9)
    assert importance_subset(X, y, max_features=8) == [X.columns[i] for i in fitted.ranking_[:len(chosen)]]


def test_lightgbm_subset_selector_refits_inside_every_training_fold():
    """Clone-able, and in cross_validate each fold's selector is exactly the one fitted by hand on that
    fold's training rows (the held-out rows never reach it); on noise the CV AUC stays near chance."""
    rng = np.random.default_rng(7)
    X = pd.DataFrame(rng.normal(size=(200, 10)), columns=[f"f{i}" for i in range(10)])
    y = rng.integers(0, 2, 200)
    recipe = {"name": "lu-like", "steps": [{"lightgbm_subset": {"cv": 5, "max_features": 5}}],
              "classifier": {"kind": "logistic"}}
    pipeline = build_pipeline(recipe)
    assert isinstance(pipeline.steps[0][1], LightGBMSubsetSelector)
    assert clone(pipeline).get_params()["0_lightgbm_subset__max_features"] == 5
    folds = StratifiedKFold(5, shuffle=True, random_state=1)
    result = cross_validate(pipeline, X, y, cv=folds, scoring="roc_auc", return_estimator=True,
                            return_indices=True)
    for fitted, train_index in zip(result["estimator"], result["indices"]["train"], strict=True):
        by_hand = LightGBMSubsetSelector(cv=5, max_features=5).fit(X.iloc[train_index], y[train_index])
        assert fitted.steps[0][1].ranking_.tolist() == by_hand.ranking_.tolist()
        assert fitted.steps[0][1].cv_auc_ == pytest.approx(by_hand.cv_auc_, abs=1e-12)
    assert abs(result["test_score"].mean() - 0.5) < 0.12
    pipeline = Pipeline([("select", LightGBMSubsetSelector(cv=10)), ("model", make_classifier("logistic"))])
    with pytest.raises(InputError, match="at least 10 cases"):
        pipeline.fit(X.iloc[:30], np.r_[np.ones(5, int), np.zeros(25, int)])


# ------------------------------------------------------------------ inter- and intra-observer ICC (Zhang)


def _readers(seed=0, n=40):
    """Reader 1, reader 2 and reader 1's repeat: 'stable' agrees everywhere, 'inter_bad' only with itself,
    'intra_bad' only with the other reader."""
    rng = np.random.default_rng(seed)
    truth = pd.DataFrame(rng.normal(size=(n, 3)), columns=["stable", "inter_bad", "intra_bad"])
    ids = [f"c{i}" for i in range(n)]
    first = truth + rng.normal(0, 0.1, truth.shape)
    second = truth + rng.normal(0, 0.1, truth.shape)
    repeat = truth + rng.normal(0, 0.1, truth.shape)
    second["inter_bad"] = rng.normal(size=n)
    repeat["intra_bad"] = rng.normal(size=n)
    return [frame.assign(case_id=ids) for frame in (first, second, repeat)]


def test_icc_filter_keeps_features_reproducible_between_and_within_readers():
    first, second, repeat = _readers()
    table = reliability_table(first, second, repeat)
    assert sorted(set(table["comparison"])) == ["inter", "intra"]
    by = table.set_index(["comparison", "feature"])["icc2_1"]
    assert by["inter", "stable"] == pytest.approx(icc(first["stable"], second["stable"]).icc2_1, abs=1e-12)
    assert by["intra", "intra_bad"] == pytest.approx(icc(first["intra_bad"], repeat["intra_bad"]).icc2_1, abs=1e-12)
    X = first.drop(columns="case_id")
    assert list(ICCFilter(table, threshold=0.8).fit(X).get_feature_names_out()) == ["stable"]
    assert list(ICCFilter(table, 0.8, require=["inter"]).fit(X).get_feature_names_out()) == ["stable", "intra_bad"]
    assert list(ICCFilter(table, 0.8, require=["intra"]).fit(X).get_feature_names_out()) == ["stable", "inter_bad"]
    with pytest.raises(InputError, match="--reader1-repeat"):
        ICCFilter(reliability_table(first, second), 0.8, require=["inter", "intra"]).fit(X)
    with pytest.raises(InputError, match="--reader1-repeat"):
        build_pipeline(load_recipe("zhang2025"), reliability_table(first, second))
    assert build_pipeline(load_recipe("zhang2025"), table).steps[0][1].require == ["inter", "intra"]


def test_train_command_takes_a_second_reader_and_a_repeat(tmp_path, capsys):
    from AxillaryPredictorLib.cli.main import main

    first, second, repeat = _readers(seed=1, n=60)
    rng = np.random.default_rng(2)
    outcome = (first["stable"] + first["inter_bad"] + first["intra_bad"] + rng.normal(0, 0.5, 60) > 0).astype(int)
    clinical = pd.DataFrame({"case_id": first["case_id"], "aln": outcome})
    for name, frame in {"r1": first, "r2": second, "r1b": repeat, "c": clinical}.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    (tmp_path / "recipe.yaml").write_text("name: icc-only\nsteps:\n  - icc: {threshold: 0.8, require: [inter, intra]}\n"
                                          "classifier: {kind: logistic}\ncv: {folds: 3, seed: 0}\n", encoding="utf-8")
    base = ["train", "--features", str(tmp_path / "r1.csv"), "--clinical", str(tmp_path / "c.csv"), "--outcome",
            "aln", "--recipe", str(tmp_path / "recipe.yaml"), "--reader2", str(tmp_path / "r2.csv")]
    assert main([*base, "--out", str(tmp_path / "no.json")]) == 2
    assert "--reader1-repeat" in capsys.readouterr().err
    assert main([*base, "--reader1-repeat", str(tmp_path / "r1b.csv"), "--out", str(tmp_path / "m.json")]) == 0
    document = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert document["features"] == ["stable"]
