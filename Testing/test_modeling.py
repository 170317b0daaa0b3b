"""Model building: R parity (ICC, glm, step), selectors' contract, leakage-free CV, packages."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from leakage import leaky_control_auc
from sklearn.base import clone
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import Pipeline

from AxillaryPredictorLib.modeling import selection
from AxillaryPredictorLib.modeling.classifiers import PostFusionClassifier, make_classifier
from AxillaryPredictorLib.modeling.combined import CombinedLogisticModel, stepwise_aic
from AxillaryPredictorLib.modeling.importance_selection import LightGBMSubsetSelector
from AxillaryPredictorLib.modeling.mrmr import MRMRSelector
from AxillaryPredictorLib.modeling.recipes import build_pipeline, load_recipe
from AxillaryPredictorLib.modeling.reproducibility import icc
from AxillaryPredictorLib.modeling.training import train
from AxillaryPredictorLib.packages.export import to_package
from AxillaryPredictorLib.packages.nomogram_spec import nomogram_axis, r_pretty
from AxillaryPredictorLib.packages.package import PackageError, load_package, save_package

FIXTURES = json.loads(
    (Path(__file__).parent / "fixtures" / "modeling" / "modeling_fixtures.json").read_text(encoding="utf-8"))
NOMOGRAM = json.loads(
    (Path(__file__).parent / "fixtures" / "nomogram" / "nomogram_fixtures.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", FIXTURES["icc"], ids=[c["name"] for c in FIXTURES["icc"]])
def test_icc_equals_psych(case):
    result = icc(case["reader1"], case["reader2"])
    assert result.icc2_1 == pytest.approx(case["ICC2"]["ICC"], abs=1e-6)
    assert result.icc3_1 == pytest.approx(case["ICC3"]["ICC"], abs=1e-6)
    assert result.icc1_1 == pytest.approx(case["ICC1"]["ICC"], abs=1e-6)
    assert result.icc2_1_ci == pytest.approx((case["ICC2"]["lower bound"], case["ICC2"]["upper bound"]), abs=1e-6)
    assert result.icc3_1_ci == pytest.approx((case["ICC3"]["lower bound"], case["ICC3"]["upper bound"]), abs=1e-6)
    assert result.f == pytest.approx(case["ICC3"]["F"], rel=1e-9) and result.p == pytest.approx(case["ICC3"]["p"],
                                                                                                 rel=1e-6)


def _glm_data():
    data = pd.DataFrame(FIXTURES["glm"]["data"])
    return data.drop(columns="y"), data["y"].to_numpy()


def test_logistic_regression_and_stepwise_aic_equal_r():
    X, y = _glm_data()
    full = CombinedLogisticModel(selection="none").fit(X, y)
    table = full.summary_table()
    reference = FIXTURES["glm"]["full"]
    assert table["beta"].to_numpy() == pytest.approx(np.array(reference["estimate"]), abs=1e-6)
    assert table["se"].to_numpy() == pytest.approx(np.array(reference["se"]), abs=1e-6)
    assert table["p"].to_numpy() == pytest.approx(np.array(reference["p"]), abs=1e-6)
    assert full.fit_.aic == pytest.approx(reference["aic"], abs=1e-6)
    assert stepwise_aic(X, y, "both") == FIXTURES["glm"]["step_both"]["terms"]
    assert stepwise_aic(X, y, "backward") == FIXTURES["glm"]["step_backward"]["terms"]
    chosen = CombinedLogisticModel(selection="aic").fit(X, y)
    assert chosen.fit_.aic == pytest.approx(FIXTURES["glm"]["step_both"]["aic"], abs=1e-6)
    assert chosen.fit_.beta == pytest.approx(np.array(FIXTURES["glm"]["step_both"]["estimate"]), abs=1e-6)
    assert (table["odds_ratio"] > 0).all() and "or_upper" in table


def test_r_pretty_and_rms_default_axes():
    assert r_pretty(29.7, 94.4, 10) == [25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 95]
    for model in NOMOGRAM.values():
        data = pd.DataFrame(model["data"])
        for name in model["predictors"]:
            if name in model["levels"]:
                continue
            assert nomogram_axis(data[name]) == pytest.approx(model["default"]["axes"][name]["values"]), name


def test_selectors_learn_on_training_data_only_and_keep_names():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(120, 30)), columns=[f"f{i}" for i in range(30)])
    X["f29"] = 1.0
    X["f28"] = X["f0"] * 0.99 + rng.normal(0, 0.01, 120)
    y = (X["f0"] + 0.5 * rng.normal(size=120) > 0).astype(int).to_numpy()
    for selector in (selection.VarianceFilter(), selection.UnivariateFilter("anova"),
                     selection.UnivariateFilter("mannwhitney"), selection.UnivariateFilter("ttest"),
                     selection.CorrelationFilter(threshold=0.9), MRMRSelector(k=5), MRMRSelector(k=5, scheme="MID"),
                     selection.LassoSelector(cv=3), selection.SVMRFESelector(cv=3),
                     selection.UnivariateFilter("auto"), selection.CorrelationFilter("auto"),
                     LightGBMSubsetSelector(cv=5, max_features=4)):
        fitted = clone(selector).fit(X.iloc[:80], y[:80])
        names = fitted.get_feature_names_out()
        assert len(names) == fitted.get_support().sum() >= 1
        assert fitted.transform(X.iloc[80:]).shape == (40, len(names))
        if isinstance(selector, selection.VarianceFilter):
            assert "f29" not in names  # the constant column
    assert "f28" not in selection.CorrelationFilter(threshold=0.9).fit(X, y).get_feature_names_out() or \
        "f0" not in selection.CorrelationFilter(threshold=0.9).fit(X, y).get_feature_names_out()
    pipeline = Pipeline([("anova", selection.UnivariateFilter()), ("model", make_classifier("logistic"))])
    assert cross_val_predict(pipeline, X, y, cv=3, method="predict_proba").shape == (120, 2)


def _noise(n=300, p=1000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{i}" for i in range(p)]), rng.integers(0, 2, n)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["lasso-lr", "liu2025", "he2025", "zeng2025", "zhang2025", "lu2025"])
def test_null_cohort_cv_auc_stays_near_chance_and_leaky_control_does_not(recipe):
    """Random labels: every recipe's pooled out-of-fold AUC stays near 0.5 on 3 seeds (5,000 noise
    features; 1,000 for recipes marked slow; a noise second reader and noise clinical variables
    for recipes that need them), while selecting on all data first does not."""
    from AxillaryPredictorLib.modeling.reproducibility import reliability_table

    loaded = load_recipe(recipe)
    for seed in (0, 1, 2):
        X, y = _noise(p=1000 if loaded.get("slow") else 5000, seed=seed)
        rng = np.random.default_rng(100 + seed)
        reliability = clinical = None
        if "reader2" in loaded.get("needs", []):
            # ICC ~0.86: most noise features pass the filter; a repeat of reader 1 when the recipe needs it
            reader2 = X + rng.normal(0, 0.4, X.shape)
            repeat = X + rng.normal(0, 0.4, X.shape) if "reader1-repeat" in loaded["needs"] else None
            reliability = reliability_table(X.assign(case_id=range(len(X))), reader2.assign(case_id=range(len(X))),
                                            None if repeat is None else repeat.assign(case_id=range(len(X))))
        if "clinical" in loaded.get("needs", []):
            clinical = pd.DataFrame({"ki67": rng.uniform(1, 90, len(y)), "us_aln": rng.integers(0, 2, len(y))})
        result = train(X, y, loaded, clinical=clinical, reliability=reliability)
        assert result.cv_auc <= 0.62, (recipe, seed, result.cv_auc)
    X, y = _noise(p=5000, seed=0)
    assert leaky_control_auc(X, y) >= 0.72  # selection on all data then CV: the test can fail


def test_signal_is_found_by_the_lasso_recipe():
    rng = np.random.default_rng(42)
    p, n_train, n_test = 2000, 300, 5000
    beta = np.zeros(p)
    beta[:5] = 1.5
    X = rng.normal(size=(n_train + n_test, p))
    lp = X @ beta
    y = (rng.random(len(lp)) < 1 / (1 + np.exp(-lp))).astype(int)
    columns = [f"f{i}" for i in range(p)]
    train_x, test_x = pd.DataFrame(X[:n_train], columns=columns), pd.DataFrame(X[n_train:], columns=columns)
    result = train(train_x, y[:n_train], load_recipe("lasso-lr"))
    model = result.pipeline.steps[-1][1]
    top = np.array(result.features)[np.argsort(-np.abs(model.coef_[0]))[:10]]
    assert len(set(top) & {f"f{i}" for i in range(5)}) >= 4
    from sklearn.metrics import roc_auc_score

    held_out = roc_auc_score(y[n_train:], result.pipeline.predict_proba(test_x)[:, 1])
    assert held_out >= roc_auc_score(y[n_train:], lp[n_train:]) - 0.06


def _fitted_models():
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(200, 6)), columns=[f"f{i}" for i in range(6)])
    y = ((X["f0"] - X["f1"] + 0.5 * X["f2"] ** 2 + rng.normal(size=200)) > 0.3).astype(int).to_numpy()
    return X, y


@pytest.mark.parametrize("kind", ["logistic", "linear-svm", "rbf-svm", "xgboost", "sgd"])
def test_package_scorer_reproduces_the_fitted_estimator(kind, tmp_path):
    X, y = _fitted_models()
    recipe = {"name": "t", "steps": [{"variance": {}}], "classifier": {"kind": kind}}
    pipeline = build_pipeline(recipe).fit(X, y)
    from AxillaryPredictorLib.modeling.training import TrainingResult

    result = TrainingResult(pipeline, pipeline.predict_proba(X)[:, 1], 0.5, [0.5], list(X.columns))
    document = to_package(result, X, y, model_id=f"t-{kind}", title="t", task="ALN metastasis", modality="MR",
                          views=["V"], regions=["tumor"], profile={"name": "zeng2025-dce-delta"})
    package = load_package(save_package(document, tmp_path / "m.json"))
    assert np.max(np.abs(package.predict_proba(X) - pipeline.predict_proba(X)[:, 1])) <= 1e-9


def test_stacked_post_fusion_package_round_trip(tmp_path):
    from AxillaryPredictorLib.modeling.classifiers import export_estimator
    from AxillaryPredictorLib.packages.package import seal

    X, y = _fitted_models()
    members = {"clinical": (["f0", "f1", "f2"], make_classifier("logistic")),
               "radiomics": (["f3", "f4", "f5", "f2"], make_classifier("logistic"))}
    fused = PostFusionClassifier(members, meta="linear-svm").fit(X, y)
    document = {"format": "axillary-predictor-model-package", "format_version": 1, "id": "stacked", "version": "1",
                "title": "t", "task": "ALN metastasis", "modality": "MG", "status": "demonstration",
                "inputs": {"views": ["CC"], "regions": ["tumor"], "profile": {"name": "liu2025-mammography"}},
                "features": [], "threshold": 0.5, "intended_use": "test", "provenance": {"date": "2026-01-01"},
                "estimator": {"type": "stacked", "meta": export_estimator(fused.meta_), "members": [
                    {"name": name, "features": columns, "estimator": export_estimator(model)}
                    for name, (columns, model) in fused.members_.items()],
                    # the meta-model's inputs are the members' probabilities z-scored
                    "meta_standardization": {"mean": fused.meta_mean_.tolist(), "scale": fused.meta_scale_.tolist()}}}
    package = load_package(save_package(seal(document), tmp_path / "s.json"))
    assert np.max(np.abs(package.predict_proba(X) - fused.predict_proba(X)[:, 1])) <= 1e-9


def test_tampered_or_malformed_packages_are_refused(tmp_path):
    X, y = _fitted_models()
    pipeline = build_pipeline({"name": "t", "classifier": {"kind": "logistic"}}).fit(X, y)
    from AxillaryPredictorLib.modeling.training import TrainingResult

    result = TrainingResult(pipeline, pipeline.predict_proba(X)[:, 1], 0.5, [0.5], list(X.columns))
    path = save_package(to_package(result, X, y, model_id="ok", title="t", task="ALN metastasis", modality="MR",
                                   views=["V"], regions=["tumor"], profile={"name": "p"}), tmp_path / "ok.json")
    document = json.loads(path.read_text(encoding="utf-8"))
    edited = copy.deepcopy(document)
    edited["estimator"]["coefficients"][0] += 0.1
    with pytest.raises(PackageError, match="SHA-256 mismatch"):
        load_package(edited)
    unknown = copy.deepcopy(document)
    unknown["estimator"] = {"type": "pickle", "payload": "gASV..."}
    with pytest.raises(PackageError, match="Unknown estimator type 'pickle'"):
        load_package(unknown)
    broken = copy.deepcopy(document)
    broken["inputs"]["views"] = ["C C"]
    with pytest.raises(PackageError, match=r"\$\.inputs\.views\[0\]"):
        load_package(broken)
    missing = pd.DataFrame({"f0": [0.1]})
    with pytest.raises(ValueError, match="feature\\(s\\) missing"):
        load_package(document).predict_proba(missing)


def _with_missing(X: pd.DataFrame, fraction: float = 0.1, seed: int = 5) -> pd.DataFrame:
    return X.mask(np.random.default_rng(seed).random(X.shape) < fraction)


def test_imputation_is_fitted_inside_each_fold_and_exported(tmp_path):
    from sklearn.model_selection import StratifiedKFold

    X, y = _fitted_models()
    X = _with_missing(X)
    plain = {"name": "plain", "steps": [{"variance": {}}], "classifier": {"kind": "logistic"},
             "cv": {"folds": 5, "seed": 0}}
    with pytest.raises(ValueError, match=r"does not impute. Add '- impute: \{strategy: median\}'"):
        train(X, y, plain)
    with pytest.raises(ValueError, match="'impute' must be the first step"):
        build_pipeline({**plain, "steps": [{"variance": {}}, {"impute": {}}]})
    recipe = {**plain, "name": "imputing", "steps": [{"impute": {"strategy": "median"}}, {"variance": {}}]}
    result = train(X, y, recipe)
    # refitting fold 1 from its training rows alone reproduces its out-of-fold probabilities, and its
    # imputer holds the training-fold medians (not the medians of all cases: no leakage)
    train_index, test_index = next(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    fold = build_pipeline(recipe).fit(X.iloc[train_index], y[train_index])
    assert np.allclose(result.oof_probability[test_index], fold.predict_proba(X.iloc[test_index])[:, 1], atol=1e-12)
    assert np.allclose(fold[0].statistics_, X.iloc[train_index].median())
    assert not np.allclose(fold[0].statistics_, X.median())
    document = to_package(result, X, y, model_id="imputing", title="t", task="ALN metastasis", modality="MR",
                          views=["V"], regions=["tumor"], profile={"name": "zeng2025-dce-delta"})
    assert document["imputation"] == {"strategy": "median",
                                      "values": pytest.approx(X[document["features"]].median().tolist())}
    package = load_package(save_package(document, tmp_path / "m.json"))
    assert np.max(np.abs(package.predict_proba(X) - result.pipeline.predict_proba(X)[:, 1])) <= 1e-9
    row = X.iloc[[int(np.flatnonzero(X[document["features"]].isna().any(axis=1))[0])]]
    assert package.imputed(row) == [f for f in document["features"] if row[f].isna().any()]


def test_combined_model_radscores_impute_with_their_training_medians(tmp_path):
    X, y = _fitted_models()
    X = _with_missing(X, seed=6)
    clinical = pd.DataFrame({"age": np.random.default_rng(1).normal(55, 10, len(y))}, index=X.index)
    recipe = {"name": "combined", "steps": [{"impute": {}}], "classifier": {"kind": "logistic"},
              "combined": {"selection": "none"}, "cv": {"folds": 5, "seed": 0}}
    groups = {"tumor_score": ["f0", "f1", "f2"], "ln_score": ["f3", "f4", "f5"]}
    result = train(X, y, recipe, clinical=clinical, score_groups=groups)
    document = to_package(result, X, y, model_id="combined", title="t", task="ALN metastasis", modality="MR",
                          views=["V"], regions=["tumor"], profile={"name": "zeng2025-dce-delta"},
                          clinical_data=clinical)
    for derived in document["derived"]:
        assert derived["impute"] == pytest.approx(X[derived["features"]].median().tolist())
    package = load_package(save_package(document, tmp_path / "c.json"))
    scores = pd.DataFrame({n: p.decision_function(X[groups[n]]) for n, p in result.score_pipelines.items()})
    expected = result.combined.predict_proba(pd.concat([scores, clinical.reset_index(drop=True)], axis=1)
                                             [[*result.combined.feature_names_in_]])[:, 1]
    assert np.max(np.abs(package.predict_proba(pd.concat([X, clinical], axis=1)) - expected)) <= 1e-9


def test_post_fusion_recipe_trains_exports_and_scores(tmp_path):
    """liu2025 with column groups: one chain per view, stacked by an SVM on out-of-fold probabilities,
    the whole stack refitted in each CV fold; the exported package reproduces the stack to 1e-9."""
    rng = np.random.default_rng(11)
    n = 160
    columns = {f"tumor__{view}__original_firstorder_F{j}": rng.normal(size=n) for view in ("CC", "MLO")
               for j in range(25)}
    X = pd.DataFrame(columns)
    signal = X["tumor__CC__original_firstorder_F0"] + X["tumor__MLO__original_firstorder_F1"]
    y = (signal + rng.normal(0, 0.8, n) > 0).astype(int).to_numpy()
    groups = {view: [c for c in X.columns if f"__{view}__" in c] for view in ("CC", "MLO")}
    recipe = load_recipe("liu2025")
    result = train(X, y, recipe, score_groups=groups)
    assert result.cv_auc > 0.7 and len(result.cv_auc_folds) == 5
    document = to_package(result, X, y, model_id="fused", title="t", task="ALN metastasis", modality="MG",
                          views=["CC", "MLO"], regions=["tumor"], profile={"name": "liu2025-mammography"})
    assert document["estimator"]["type"] == "stacked" and [m["name"] for m in document["estimator"]["members"]] == \
        ["CC", "MLO"]
    package = load_package(save_package(document, tmp_path / "fused.json"))
    assert np.max(np.abs(package.predict_proba(X) - result.pipeline.predict_proba(X)[:, 1])) <= 1e-9
    with pytest.raises(ValueError, match="at least two groups"):
        train(X, y, recipe, score_groups={"all": list(X.columns)})


def test_every_shipped_recipe_loads_and_builds():
    from AxillaryPredictorLib.modeling.recipes import list_recipes

    assert {"he2025", "zeng2025", "zhang2025", "lu2025", "liu2025", "lasso-lr"} <= set(list_recipes())
    for name in list_recipes():
        recipe = load_recipe(name)
        reliability = pd.DataFrame({"feature": ["f0", "f0"], "comparison": ["inter", "intra"]})
        assert recipe["description"] and build_pipeline(recipe, reliability=reliability)


def test_tuned_recipe_runs_nested_cv_and_exports_the_chosen_settings(tmp_path):
    """A recipe with 'tune' wraps the chain in a grid search whose inner CV runs inside every outer
    training fold (nested CV): refitting fold 1's search by hand reproduces its out-of-fold
    probabilities; on noise the nested CV AUC stays near chance."""
    from sklearn.model_selection import StratifiedKFold

    X, y = _fitted_models()
    recipe = {"name": "tuned", "steps": [{"variance": {}}], "classifier": {"kind": "logistic"},
              "tune": {"grid": {"C": [0.01, 0.1, 1.0, 10.0]}, "cv": 3}, "cv": {"folds": 5, "seed": 0}}
    result = train(X, y, recipe)
    assert result.tuned and result.tuned["model__C"] in (0.01, 0.1, 1.0, 10.0)
    assert result.tuned["model__C"] == result.pipeline.named_steps["model"].C
    train_index, test_index = next(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    fold = build_pipeline(recipe).fit(X.iloc[train_index], y[train_index])
    assert np.allclose(result.oof_probability[test_index], fold.predict_proba(X.iloc[test_index])[:, 1], atol=1e-12)
    document = to_package(result, X, y, model_id="tuned", title="t", task="ALN metastasis", modality="MR",
                          views=["V"], regions=["tumor"], profile={"name": "zeng2025-dce-delta"})
    assert document["provenance"]["tuned_parameters"] == result.tuned
    package = load_package(save_package(document, tmp_path / "t.json"))
    assert np.max(np.abs(package.predict_proba(X) - result.pipeline.predict_proba(X)[:, 1])) <= 1e-9
    noise, labels = _noise(n=200, p=300, seed=5)
    tuned_lasso = {**load_recipe("lasso-lr"), "tune": {"grid": {"C": [0.1, 1.0]}, "cv": 3}}
    assert train(noise, labels, tuned_lasso).cv_auc <= 0.62
    with pytest.raises(ValueError, match="'tune' needs a grid"):
        build_pipeline({**recipe, "tune": {"cv": 3}})


def test_lasso_one_standard_error_rule_is_sparser_than_the_minimum():
    rng = np.random.default_rng(8)
    X = pd.DataFrame(rng.normal(size=(240, 60)), columns=[f"f{i}" for i in range(60)])
    y = ((X[["f0", "f1", "f2", "f3"]].sum(axis=1) * 0.6 + rng.normal(size=240)) > 0).astype(int).to_numpy()
    minimum = selection.LassoSelector(rule="min").fit(X, y)
    one_se = selection.LassoSelector(rule="1se").fit(X, y)
    assert one_se.lambda_ >= minimum.lambda_
    assert one_se.get_support().sum() <= minimum.get_support().sum()
    assert np.array_equal(one_se.cv_auc_, minimum.cv_auc_)  # same penalty path and folds, another rule
    assert {"f0", "f1", "f2", "f3"} <= set(one_se.get_feature_names_out())
    with pytest.raises(ValueError, match="rule must be"):
        selection.LassoSelector(rule="max").fit(X, y)


def test_stepwise_both_directions_re_adds_a_dropped_term_as_r_does():
    """On this fixture R's step(direction = "both") re-adds a term that backward elimination dropped."""
    case = FIXTURES["step_addback"]
    data = pd.DataFrame(case["data"])
    X, y = data.drop(columns="y"), data["y"].to_numpy()
    both, backward = case["both"]["terms"], case["backward"]["terms"]  # jsonlite unboxes a single term
    assert stepwise_aic(X, y, "both") == list(both) == ["c", "f"]
    assert stepwise_aic(X, y, "backward") == [backward] == ["c"]
    chosen = CombinedLogisticModel(selection="aic", direction="both").fit(X, y)
    assert chosen.fit_.aic == pytest.approx(case["both"]["aic"], abs=1e-6)
