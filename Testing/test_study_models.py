"""The studies' model designs: RadScore scale (Zeng: probability), blood indices from the clinical spec
(Lu), Zhang's published combined model, post-fusion with a clinical model (Liu), the classifier
comparison by DeLong (He) and backward elimination from a recipe (Zhang)."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from AxillaryPredictorLib.cli.main import main
from AxillaryPredictorLib.errors import InputError
from AxillaryPredictorLib.evaluation.statistics import auc_ci, delong_test
from AxillaryPredictorLib.modeling.clinical import (
    ClinicalVariable,
    add_derived_clinical,
    read_clinical_spec,
    validate_clinical,
)
from AxillaryPredictorLib.modeling.combined import CombinedLogisticModel, backward_p, combined_settings
from AxillaryPredictorLib.modeling.recipes import build_pipeline, load_recipe
from AxillaryPredictorLib.modeling.training import comparison_settings, train
from AxillaryPredictorLib.packages.export import to_package
from AxillaryPredictorLib.packages.package import PackageError, load_package, save_package, seal
from AxillaryPredictorLib.packages.recalibration import recalibrate
from AxillaryPredictorLib.packages.registry import find_model

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "Testing" / "fixtures" / "studies" / "STUDIES.md"
SMALL = {"name": "small", "steps": [{"variance": {}}, {"univariate": {"test": "ttest", "p_threshold": 0.05}}],
         "classifier": {"kind": "logistic", "C": 0.5}, "cv": {"folds": 5, "seed": 0}}


def _cohort(n: int = 160, seed: int = 0, width: int = 12) -> tuple[pd.DataFrame, np.ndarray]:
    """Tumor and node radiomics columns of one view; the outcome depends on one column of each."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"{region}__US__original_firstorder_F{j}": rng.normal(size=n)
                          for region in ("tumor", "node") for j in range(width)})
    signal = frame["tumor__US__original_firstorder_F0"] + frame["node__US__original_firstorder_F1"]
    return frame, (signal + rng.normal(0, 0.9, n) > 0).astype(int).to_numpy()


def _groups(frame: pd.DataFrame) -> dict[str, list[str]]:
    return {f"{region}_score": [c for c in frame.columns if c.startswith(f"{region}__")]
            for region in ("tumor", "node")}


def _package(result, frame, y, tmp_path, name="m", views=("US",), **fields):
    document = to_package(result, frame, y, model_id=name, title="t", task="ALN metastasis", modality="US",
                          views=list(views), regions=["tumor", "node"], profile={"name": "zhang2025-us"}, **fields)
    return load_package(save_package(document, tmp_path / f"{name}.json"))


# ------------------------------------------------------------------------------ RadScore scale


@pytest.mark.parametrize("scale", ["linear-predictor", "probability"])
def test_radscore_scale_is_trained_recorded_and_scored_the_same_way(scale, tmp_path):
    frame, y = _cohort()
    rng = np.random.default_rng(1)
    clinical = pd.DataFrame({"us_aln": (y + (rng.random(len(y)) < 0.3)) % 2}, index=frame.index).astype(float)
    recipe = {**SMALL, "combined": {"selection": "none"}}
    result = train(frame, y, recipe, clinical=clinical, score_groups=_groups(frame), radscore_scale=scale)
    assert result.radscore_scale == scale
    for name, pipeline in result.score_pipelines.items():  # the combined model's inputs are on the chosen scale
        columns = _groups(frame)[name]
        expected = pipeline.predict_proba(frame[columns])[:, 1] if scale == "probability" else \
            pipeline.decision_function(frame[columns])
        assert np.allclose(result.scores_train[name], expected, atol=1e-12)
    inside = result.scores_train.to_numpy()
    assert ((inside > 0) & (inside < 1)).all() == (scale == "probability")
    variable = ClinicalVariable("us_aln", "binary", levels=("0", "1"))
    package = _package(result, frame, y, tmp_path, clinical_variables=[variable],
                       clinical_data=clinical.reset_index(drop=True))
    assert package.radscore_scale == scale and package.document["radscore_scale"] == scale
    links = {d["name"]: d["link"] for d in package.document["derived"]}
    assert links == dict.fromkeys(_groups(frame), "logistic" if scale == "probability" else "identity")
    design = pd.concat([result.scores_train, clinical.reset_index(drop=True)], axis=1)
    expected = result.combined.predict_proba(design[[*result.combined.feature_names_in_]])[:, 1]
    cases = pd.concat([frame, clinical.astype(int).astype(str)], axis=1)
    assert np.max(np.abs(package.predict_proba(cases) - expected)) <= 1e-9
    labels = {p["name"]: p["label"] for p in package.document["nomogram"]["predictors"]}
    assert labels["tumor_score"] == ("tumor score (probability)" if scale == "probability" else "tumor score")
    if scale == "probability":  # a 0-1 axis, the paper's Radscore range
        axis = next(p["axis"] for p in package.document["nomogram"]["predictors"] if p["name"] == "tumor_score")
        assert min(axis) >= 0 and max(axis) <= 1


def test_train_radscore_scale_option_reaches_the_package(tmp_path, capsys):
    frame, y = _cohort(n=140, seed=3, width=6)
    ids = [f"r{i}" for i in range(len(y))]
    frame.assign(case_id=ids).to_csv(tmp_path / "f.csv", index=False)
    us = np.where((y + (np.random.default_rng(4).random(len(y)) < 0.3)) % 2 == 1, "positive", "negative")
    pd.DataFrame({"case_id": ids, "us_aln": us, "aln": y}).to_csv(tmp_path / "c.csv", index=False)
    arguments = ["train", "--features", str(tmp_path / "f.csv"), "--clinical", str(tmp_path / "c.csv"), "--outcome",
                 "aln", "--recipe", "lasso-lr", "--groups", "region", "--clinical-vars", "us_aln", "--profile",
                 "zhang2025-us"]
    assert main([*arguments, "--radscore-scale", "probability", "--out", str(tmp_path / "p.json")]) == 0
    assert "= 1 / (1 + exp(−(" in capsys.readouterr().out  # the printed score formulas are probabilities
    package = load_package(tmp_path / "p.json")
    assert package.radscore_scale == "probability"
    assert {d["link"] for d in package.document["derived"]} == {"logistic"}
    assert main([*arguments, "--out", str(tmp_path / "lp.json")]) == 0  # the recipe's (default) scale
    assert load_package(tmp_path / "lp.json").radscore_scale == "linear-predictor"


def test_a_package_whose_score_links_contradict_its_radscore_scale_is_refused():
    document = copy.deepcopy(find_model("demo-us-aln").document)
    assert document["radscore_scale"] == "linear-predictor"
    document["radscore_scale"] = "probability"
    with pytest.raises(PackageError, match=r"radscore_scale is probability.*tumor_score, ln_score disagree"):
        load_package(seal(document))


def test_recipes_choose_the_radscore_scale_and_the_combined_selection():
    assert combined_settings(load_recipe("zeng2025")["combined"])[1] == "probability"
    assert combined_settings(load_recipe("he2025").get("combined"))[1] == "linear-predictor"
    params, scale = combined_settings(load_recipe("zhang2025")["combined"])
    assert params == {"selection": "p", "direction": "both", "p_threshold": 0.05} and scale == "linear-predictor"
    assert combined_settings({"selection": "backward-p", "p": 0.01})[0]["p_threshold"] == 0.01
    with pytest.raises(InputError, match="unknown key\\(s\\) radscore in 'combined'"):
        combined_settings({"radscore": "probability"})
    with pytest.raises(InputError, match="selection 'backwards' is not one of"):
        combined_settings({"selection": "backwards"})
    with pytest.raises(InputError, match="RadScore scale 'prob' is not one of linear-predictor, probability"):
        combined_settings({"radscore_scale": "prob"})


def test_backward_p_from_a_recipe_keeps_the_terms_r_style_backward_elimination_keeps():
    frame, y = _cohort(n=220, seed=5)
    rng = np.random.default_rng(2)
    clinical = pd.DataFrame({"noise_a": rng.normal(size=len(y)), "noise_b": rng.normal(size=len(y)),
                             "signal": y + rng.normal(0, 0.8, len(y))}, index=frame.index)
    recipe = {**SMALL, "combined": {"selection": "backward-p", "p": 0.05}}
    result = train(frame, y, recipe, clinical=clinical)
    design = pd.concat([result.scores_train, clinical.reset_index(drop=True)], axis=1)
    assert result.combined.terms_ == backward_p(design, y, 0.05)
    assert {"radscore", "signal"} <= set(result.combined.terms_)
    table = result.combined.summary_table()
    assert (table["p"].iloc[1:] <= 0.05).all()
    full = CombinedLogisticModel(selection="none").fit(design, y).summary_table().set_index("term")
    dropped = set(design.columns) - set(result.combined.terms_)
    assert dropped and all(full.loc[t, "p"] > 0.05 for t in dropped)


def test_lu_combined_model_screens_ranks_by_lightgbm_and_keeps_the_best_cv_subset():
    """Lu et al.'s integrated model: candidates with univariable p < 0.05, ranked by LightGBM importance,
    the subset with the best stratified 10-fold CV AUC kept (recipe lu2025's ``combined``), in every fold."""
    from AxillaryPredictorLib.modeling.combined import lightgbm_terms, univariable_p
    from AxillaryPredictorLib.modeling.importance_selection import LightGBMSubsetSelector

    params, _ = combined_settings(load_recipe("lu2025")["combined"])
    assert params["selection"] == "lightgbm"
    assert params["subset"] == {"cv": 10, "importance": "split", "estimator": "logistic", "screen_p": 0.05}
    with pytest.raises(InputError, match="key\\(s\\) cv belong to 'selection: lightgbm'"):
        combined_settings({"selection": "aic", "cv": 10})
    with pytest.raises(InputError, match="screen_p must lie in"):
        combined_settings({"selection": "lightgbm", "screen_p": 0})
    rng = np.random.default_rng(11)
    n = 300
    design = pd.DataFrame({"radscore": rng.normal(size=n), "sad_aln": rng.normal(size=n),
                           "age": rng.normal(size=n), "noise_a": rng.normal(size=n), "noise_b": rng.normal(size=n)})
    y = (1.6 * design.radscore + 1.2 * design.sad_aln - 0.5 * design.age + rng.normal(0, 1, n) > 0).astype(int)
    p = univariable_p(design, y)
    screened = [t for t in design.columns if p[t] < 0.05]
    assert {"radscore", "sad_aln", "age"} <= set(screened) and len(screened) < 5
    # the same choice as the selector run by hand on the screened candidates, in the design's order
    selector = LightGBMSubsetSelector(cv=10).fit(design[screened], y)
    chosen = {screened[i] for i in selector.ranking_[: selector.n_features_selected_]}
    terms = lightgbm_terms(design, y, params["subset"])
    assert set(terms) == chosen and terms == [t for t in design.columns if t in chosen]
    assert {"radscore", "sad_aln"} <= set(terms) and "noise_a" not in terms
    model = CombinedLogisticModel(**params).fit(design, y)
    assert model.terms_ == terms
    refit = CombinedLogisticModel(selection="none").fit(design[terms], y)
    assert model.fit_.beta == pytest.approx(refit.fit_.beta, rel=1e-9)
    # inside train(): the RadScore and the clinical columns are the candidates, selected in every fold
    frame, y2 = _cohort(n=220, seed=5)
    clinical = pd.DataFrame({"signal": y2 + rng.normal(0, 0.8, len(y2)), "noise": rng.normal(size=len(y2))},
                            index=frame.index)
    result = train(frame, y2, {**SMALL, "combined": load_recipe("lu2025")["combined"]}, clinical=clinical)
    full = pd.concat([result.scores_train, clinical.reset_index(drop=True)], axis=1)
    assert result.combined.selection == "lightgbm"
    assert result.combined.terms_ == lightgbm_terms(full, y2, params["subset"])
    assert {"radscore", "signal"} <= set(result.combined.terms_) and result.cv_auc > 0.8


# ------------------------------------------------------------------------------ blood indices (Lu)


def _counts(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"neut": rng.uniform(1.5, 8, n), "lymph": rng.uniform(0.6, 3.5, n),
                         "plt": rng.uniform(120, 420, n), "mono": rng.uniform(0.1, 1.0, n),
                         "white_cells": rng.uniform(3.5, 11, n)}).round(2)


SPEC = """\
counts: {neutrophils: neut, lymphocytes: lymph, platelets: plt, monocytes: mono, wbc: white_cells}
variables:
  - {name: sii, blood_index: sii, unit: "10^9/L"}
  - {name: nlr, blood_index: nlr}
  - {name: plr, blood_index: plr}
  - {name: mlr, blood_index: mlr}
  - {name: wlr, blood_index: wlr}
"""


def test_blood_indices_declared_in_the_spec_equal_the_hand_formulas(tmp_path):
    (tmp_path / "spec.yaml").write_text(SPEC, encoding="utf-8")
    declared = read_clinical_spec(tmp_path / "spec.yaml")
    counts = _counts(25, seed=1)
    out = add_derived_clinical(counts, list(declared.values()))
    n, lym, plt, mono, wbc = (counts[c].to_numpy() for c in ("neut", "lymph", "plt", "mono", "white_cells"))
    assert np.allclose(out["sii"], n * plt / lym, rtol=1e-15)
    assert np.allclose(out["nlr"], n / lym, rtol=1e-15) and np.allclose(out["plr"], plt / lym, rtol=1e-15)
    assert np.allclose(out["mlr"], mono / lym, rtol=1e-15) and np.allclose(out["wlr"], wbc / lym, rtol=1e-15)
    # one case by hand: 4.2 x 250 / 1.5 = 700
    assert validate_clinical({"neut": "4.2", "plt": "250", "lymph": "1.5"}, [declared["sii"]]) == \
        {"sii": pytest.approx(700.0, rel=1e-12)}
    assert validate_clinical({"sii": "512"}, [declared["sii"]]) == {"sii": 512.0}  # a given value wins
    given = counts.assign(sii=[np.nan] + [1.0] * 24)
    assert add_derived_clinical(given, [declared["sii"]])["sii"].tolist() == [pytest.approx(n[0] * plt[0] / lym[0])] \
        + [1.0] * 24
    with pytest.raises(InputError, match=r"sii is required .*give it or its counts neut, plt, lymph"):
        validate_clinical({"neut": "4.2"}, [declared["sii"]])
    with pytest.raises(InputError, match="lymph \\(lymphocytes count for sii\\) must be a positive number"):
        validate_clinical({"neut": "4.2", "plt": "250", "lymph": "0"}, [declared["sii"]])
    with pytest.raises(InputError, match="has no column lymph"):
        add_derived_clinical(counts.drop(columns="lymph"), [declared["nlr"]])
    with pytest.raises(InputError, match="blood_index must be one of sii, nlr, plr, mlr, wlr"):
        ClinicalVariable("x", blood_index="lmr")
    assert declared["sii"].to_dict()["counts"] == {"neutrophils": "neut", "platelets": "plt", "lymphocytes": "lymph"}
    assert "blood_index" not in ClinicalVariable("age").to_dict()  # other variables keep their dict


def test_blood_indices_from_the_cli_train_and_score_from_raw_counts(tmp_path, capsys):
    """``train --clinical-spec`` computes SII and NLR from the count columns; the package records them
    and ``evaluate`` scores a cohort whose clinical table holds only the raw counts."""
    (tmp_path / "spec.yaml").write_text(SPEC, encoding="utf-8")
    n = 150
    frame, _ = _cohort(n=n, seed=7, width=6)
    counts = _counts(n, seed=8)
    sii, nlr = counts["neut"] * counts["plt"] / counts["lymph"], counts["neut"] / counts["lymph"]
    rng = np.random.default_rng(9)
    lp = frame["tumor__US__original_firstorder_F0"] + 0.004 * (sii - sii.mean()) + 0.5 * (nlr - nlr.mean())
    y = (lp + rng.normal(0, 0.8, n) > 0).astype(int)
    ids = [f"c{i}" for i in range(n)]
    frame.assign(case_id=ids).to_csv(tmp_path / "f.csv", index=False)
    counts.assign(case_id=ids, aln=y).to_csv(tmp_path / "c.csv", index=False)
    assert main(["train", "--features", str(tmp_path / "f.csv"), "--clinical", str(tmp_path / "c.csv"), "--outcome",
                 "aln", "--recipe", "lasso-lr", "--clinical-vars", "sii,nlr", "--clinical-spec",
                 str(tmp_path / "spec.yaml"), "--id", "lu-like", "--out", str(tmp_path / "m.json")]) == 0
    package = load_package(tmp_path / "m.json")
    declared = {v["name"]: v for v in package.document["clinical_variables"]}
    assert declared["sii"]["blood_index"] == "sii" and declared["nlr"]["counts"] == {"neutrophils": "neut",
                                                                                     "lymphocytes": "lymph"}
    assert set(package.clinical_inputs()) == {"sii", "nlr", "neut", "plt", "lymph"}
    raw = pd.concat([frame, counts], axis=1)
    by_hand = pd.concat([frame, pd.DataFrame({"sii": sii, "nlr": nlr})], axis=1)
    assert np.max(np.abs(package.predict_proba(raw) - package.predict_proba(by_hand))) <= 1e-12
    package.check_clinical({"neut": "4", "plt": "200", "lymph": "2", "nlr": "2"})  # counts are accepted inputs
    with pytest.raises(InputError, match="Unknown clinical variable"):
        package.check_clinical({"neutrophil": "4"})
    frame.assign(case_id=ids, aln=y).to_csv(tmp_path / "cohort.csv", index=False)
    counts.assign(case_id=ids).to_csv(tmp_path / "counts.csv", index=False)
    capsys.readouterr()
    assert main(["evaluate", "--model", str(tmp_path / "m.json"), "--cohort", f"test={tmp_path / 'cohort.csv'}",
                 "--clinical", str(tmp_path / "counts.csv"), "--outcome", "aln", "--out", str(tmp_path / "ev")]) == 0
    table = pd.read_csv(tmp_path / "ev" / "models.csv")
    assert table.loc[0, "auc"] == pytest.approx(auc_ci(y, package.predict_proba(by_hand)).auc, abs=1e-12)
    # the clinical-statistics commands take the same spec
    assert main(["univariable", "--clinical", str(tmp_path / "c.csv"), "--outcome", "aln", "--variables", "sii,nlr",
                 "--clinical-spec", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "u.csv")]) == 0
    assert set(pd.read_csv(tmp_path / "u.csv")["variable"]) == {"sii", "nlr"}


# ------------------------------------------------------------------------------ Zhang's published model


def test_zhang2025_package_holds_the_published_odds_ratios():
    text = STUDIES.read_text(encoding="utf-8")
    published = re.search(r"US-reported ALNM ([\d.]+) \(([\d.]+)–([\d.]+)\),\s+tumor score\s+([\d.]+) \(([\d.]+)–"
                          r"([\d.]+)\),\s+LN score ([\d.]+) \(([\d.]+)–([\d.]+)\)", text)
    ors = {"us_aln": float(published.group(1)), "tumor_score": float(published.group(4)),
           "ln_score": float(published.group(7))}
    package = find_model("zhang2025-us-combined")
    document = package.document
    coefficients = dict(zip(document["features"], document["estimator"]["coefficients"], strict=True))
    assert {name: math.exp(beta) for name, beta in coefficients.items()} == pytest.approx(ors, rel=1e-9)
    assert document["status"] == "published-needs-recalibration" and package.verified
    assert document["radscore_scale"] == "linear-predictor" and "intercept" in document["unpublished"][0]
    assert any("tumor score's 14" in u and "--score tumor_score=" in u for u in document["unpublished"])
    assert "10.1093/oncolo/oyaf052" in document["citation"]
    with pytest.raises(ValueError, match="must be recalibrated on local cases"):
        package.predict_proba(pd.DataFrame({"us_aln": ["positive"], "tumor_score": [0.1], "ln_score": [0.2]}))


def _zhang_cohort(n: int, seed: int, intercept: float) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"tumor_score": rng.normal(0, 1, n), "ln_score": rng.normal(0, 1, n),
                          "us_aln": rng.choice(["negative", "positive"], n)})
    lp = intercept + math.log(2.24) * (frame["us_aln"] == "positive") + math.log(2.72) * frame["tumor_score"] + \
        math.log(3.14) * frame["ln_score"]
    return frame, (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)


def test_zhang2025_recalibrate_cli_recovers_the_intercept(tmp_path, capsys):
    frame, y = _zhang_cohort(1500, seed=21, intercept=-0.8)
    frame.insert(0, "case_id", [f"z{i}" for i in range(len(frame))])
    frame[["case_id", "tumor_score", "ln_score"]].to_csv(tmp_path / "scores.csv", index=False)
    frame[["case_id", "us_aln"]].assign(aln=y).to_csv(tmp_path / "clinical.csv", index=False)
    out = tmp_path / "zhang-local.json"
    assert main(["recalibrate", "--model", "zhang2025-us-combined", "--features", str(tmp_path / "scores.csv"),
                 "--clinical", str(tmp_path / "clinical.csv"), "--outcome", "aln", "--out", str(out)]) == 0
    assert "status locally-recalibrated" in capsys.readouterr().out
    document = json.loads(out.read_text(encoding="utf-8"))
    shift = document["provenance"]["recalibration"]
    assert abs(document["estimator"]["intercept"] - (-0.8)) <= 2.5 * shift["intercept_shift_se"]
    assert load_package(out).predict_proba(frame.iloc[:3]).shape == (3,)


def test_zhang2025_takes_the_sites_tumor_and_ln_score_models_as_linear_predictors(tmp_path):
    """Zhang et al.'s score weights are not in the paper's text: a site's own tumor and node models
    become the package's derived scores, on the package's scale (linear predictors)."""
    frame, y = _cohort(n=200, seed=11, width=6)
    sites = {}
    for score, region in (("tumor_score", "tumor"), ("ln_score", "node")):
        columns = [c for c in frame.columns if c.startswith(f"{region}__")]
        result = train(frame[columns], y, SMALL)
        sites[score] = _package(result, frame[columns], y, tmp_path, name=f"site-{region}")
    cases = frame.assign(us_aln=np.where(np.random.default_rng(3).random(len(y)) < 0.5, "negative", "positive"))
    result = recalibrate(find_model("zhang2025-us-combined"), cases, y, slope=True, scores=sites)
    package = load_package(save_package(result.document, tmp_path / "zhang-local.json"))
    assert {d["name"]: d["link"] for d in package.document["derived"]} == {"tumor_score": "identity",
                                                                           "ln_score": "identity"}
    site = sites["tumor_score"]
    site_lp = site.document["estimator"]["intercept"] + (
        (frame[site.features] - site.document["standardization"]["mean"]) / site.document["standardization"]["scale"]
    ).to_numpy() @ np.asarray(site.document["estimator"]["coefficients"])
    assert np.allclose(package.with_derived(cases)["tumor_score"], site_lp, atol=1e-12)
    assert package.column_scheme == "radiomics" and "tumor_score" not in package.required_columns()
    assert result.validation["auc"] > 0.75 and result.slope > 0


# ------------------------------------------------------------------------------ post-fusion with clinical (Liu)


def _fusion_cohort(n: int = 170, seed: int = 13):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"tumor__{view}__original_firstorder_F{j}": rng.normal(size=n)
                          for view in ("CC", "MLO") for j in range(10)})
    margin = rng.choice(["circumscribed", "indistinct", "spiculated"], n)
    mg_ln = rng.integers(0, 2, n)
    lp = frame["tumor__CC__original_firstorder_F0"] + frame["tumor__MLO__original_firstorder_F2"] + \
        1.2 * (margin == "spiculated") + 0.8 * mg_ln
    y = (lp + rng.normal(0, 0.9, n) > 0.8).astype(int).to_numpy()
    clinical_values = pd.DataFrame({"margin": margin, "mg_ln": mg_ln.astype(str),
                                    "age": rng.normal(55, 9, n).round(0)})
    return frame, y, clinical_values


def _clinical_design(values: pd.DataFrame):
    variables = [ClinicalVariable("margin", "categorical", levels=("circumscribed", "indistinct", "spiculated")),
                 ClinicalVariable("mg_ln", "binary", levels=("0", "1")), ClinicalVariable("age", "continuous")]
    rows = [validate_clinical(r, variables) for r in values.to_dict(orient="records")]
    return pd.DataFrame(rows, index=values.index), variables


def test_post_fusion_with_a_clinical_model_trains_inside_cv_exports_and_scores(tmp_path):
    frame, y, values = _fusion_cohort()
    design, variables = _clinical_design(values)
    recipe = {**SMALL, "classifier": {"kind": "sgd"}, "fusion": {"meta": "linear-svm", "cv": 5}}
    groups = {view: [c for c in frame.columns if f"__{view}__" in c] for view in ("CC", "MLO")}
    result = train(frame, y, recipe, clinical=design, score_groups=groups)
    assert list(result.pipeline.members_) == ["CC", "MLO", "clinical"]
    clinical_columns, _ = result.pipeline.members_["clinical"]
    assert clinical_columns == list(design.columns)
    # every fold refits the whole stack on its training rows: fold 1 by hand gives its out-of-fold values
    data = pd.concat([frame, design], axis=1)
    train_index, test_index = next(StratifiedKFold(5, shuffle=True, random_state=0).split(data, y))
    fold = clone(result.pipeline).fit(data.iloc[train_index], y[train_index])
    assert np.allclose(result.oof_probability[test_index], fold.predict_proba(data.iloc[test_index])[:, 1],
                       atol=1e-12)
    assert result.cv_auc > 0.7
    package = _package(result, frame, y, tmp_path, name="fused", views=("CC", "MLO"), clinical_variables=variables,
                       clinical_data=design.reset_index(drop=True))
    members = package.document["estimator"]["members"]
    assert [m["name"] for m in members] == ["CC", "MLO", "clinical"]
    assert {v["name"] for v in package.document["clinical_variables"]} <= {"margin", "mg_ln", "age"}
    assert set(members[2]["features"]) <= set(design.columns) and members[2]["features"]
    in_memory = result.pipeline.predict_proba(data)[:, 1]
    cases = pd.concat([frame, values], axis=1)  # raw clinical values, encoded by the package
    assert np.max(np.abs(package.predict_proba(cases) - in_memory)) <= 1e-9
    with pytest.raises(InputError, match=r"at least two groups of feature columns .* or clinical variables"):
        train(frame, y, recipe, score_groups={"all": list(frame.columns)})


@pytest.mark.slow
def test_post_fusion_meta_model_is_not_degenerate_on_an_imbalanced_outcome():
    """The meta SVM weighs the classes equally (and its inputs are z-scored): with ~28% events and
    overlapping member probabilities the unweighted hinge loss is minimized by the constant all-negative
    decision (weights 0), whose Platt fit follows noise; the fused model then ranked cases at or below
    chance (Liu replication)."""
    from AxillaryPredictorLib.modeling.classifiers import PostFusionClassifier, make_classifier

    rng = np.random.default_rng(4)
    n = 200
    latent = rng.normal(size=(n, 2))
    y = (latent @ [1.2, 1.0] + rng.normal(0, 1, n) > 1.1).astype(int)
    assert 0.2 < y.mean() < 0.35
    frame = pd.DataFrame({"r0": latent[:, 0] + rng.normal(0, 0.7, n), "r1": rng.normal(size=n),
                          "d0": latent[:, 1] + rng.normal(0, 0.7, n), "d1": rng.normal(size=n)})
    members = {"radiomics": (["r0", "r1"], make_classifier("sgd")), "deep": (["d0", "d1"], make_classifier("sgd"))}
    fused = PostFusionClassifier(members, meta="linear-svm").fit(frame, y)
    weights = fused.meta_.svc_.coef_[0]
    assert (weights > 0.1).all() and fused.meta_.platt_a_ < 0  # both members count, probability rises with them
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, fused.predict_proba(frame)[:, 1]) > 0.8


def test_liu_recipe_fuses_clinical_radiomics_and_view_models_from_the_cli(tmp_path, capsys):
    frame, y, values = _fusion_cohort(n=160, seed=17)
    ids = [f"m{i}" for i in range(len(y))]
    frame.assign(case_id=ids).to_csv(tmp_path / "f.csv", index=False)
    values.assign(case_id=ids, sln=y).to_csv(tmp_path / "c.csv", index=False)
    assert main(["train", "--features", str(tmp_path / "f.csv"), "--clinical", str(tmp_path / "c.csv"), "--outcome",
                 "sln", "--recipe", "liu2025", "--groups", "view", "--clinical-vars", "margin,mg_ln,age", "--profile",
                 "liu2025-mammography", "--id", "liu-like", "--out", str(tmp_path / "liu.json")]) == 0
    assert "post-fusion of CC" in capsys.readouterr().out
    package = load_package(tmp_path / "liu.json")
    assert [m["name"] for m in package.document["estimator"]["members"]] == ["CC", "MLO", "clinical"]
    frame.assign(case_id=ids, sln=y).to_csv(tmp_path / "cohort.csv", index=False)
    values.assign(case_id=ids).to_csv(tmp_path / "values.csv", index=False)
    assert main(["evaluate", "--model", str(tmp_path / "liu.json"), "--cohort", f"train={tmp_path / 'cohort.csv'}",
                 "--clinical", str(tmp_path / "values.csv"), "--outcome", "sln", "--out", str(tmp_path / "ev")]) == 0
    assert pd.read_csv(tmp_path / "ev" / "models.csv").loc[0, "auc"] == pytest.approx(
        package.document["performance"]["training_apparent_auc"], abs=1e-9)


# ------------------------------------------------------------------------------ classifier comparison (He)


def test_classifier_comparison_shares_each_folds_selection_and_tests_by_delong():
    frame, y = _cohort(n=180, seed=23)
    recipe = {**SMALL, "compare": {"classifiers": ["logistic", "svm", "xgboost"], "reference": "logistic"}}
    result = train(frame, y, recipe)
    table = result.comparison.set_index("classifier")
    assert list(table.index) == ["logistic", "rbf-svm", "xgboost"] and (table["reference"] == "logistic").all()
    # the recipe's own classifier is the trained chain: the same out-of-fold probabilities
    assert np.array_equal(result.comparison_oof["logistic"], result.oof_probability)
    # fold 1 by hand: the chain's selection fitted on the training rows once, each classifier on its output
    train_index, test_index = next(StratifiedKFold(5, shuffle=True, random_state=0).split(frame, y))
    chain = build_pipeline(SMALL).fit(frame.iloc[train_index], y[train_index])
    selected = chain[:-1]
    from AxillaryPredictorLib.modeling.classifiers import make_classifier

    booster = make_classifier("xgboost").fit(selected.transform(frame.iloc[train_index]), y[train_index])
    assert np.allclose(result.comparison_oof["xgboost"][test_index],
                       booster.predict_proba(selected.transform(frame.iloc[test_index]))[:, 1], atol=1e-7)
    for kind in table.index:  # AUC with DeLong CI and the paired DeLong test (pROC, see test_evaluation)
        ci = auc_ci(y, result.comparison_oof[kind])
        assert table.loc[kind, ["auc", "auc_lower", "auc_upper"]].tolist() == pytest.approx([ci.auc, ci.lower,
                                                                                           ci.upper], abs=1e-12)
        if kind == "logistic":
            assert math.isnan(table.loc[kind, "delong_p"])
        else:
            test = delong_test(y, result.comparison_oof[kind], result.comparison_oof["logistic"])
            assert table.loc[kind, "delong_p"] == pytest.approx(test.p, abs=1e-12)
    assert table["auc"].min() > 0.7
    assert comparison_settings(load_recipe("he2025")) == (["logistic", "rbf-svm", "xgboost"], "best")
    with pytest.raises(InputError, match="Cannot compare classifier 'forest'"):
        comparison_settings(SMALL, ["logistic", "forest"])
    with pytest.raises(InputError, match="reference 'sgd' is not one of the compared"):
        comparison_settings(SMALL, ["logistic", "xgboost"], "sgd")


def test_classifier_comparison_on_noise_stays_near_chance():
    rng = np.random.default_rng(29)
    frame = pd.DataFrame(rng.normal(size=(200, 400)), columns=[f"f{j}" for j in range(400)])
    y = rng.integers(0, 2, 200)
    result = train(frame, y, {**SMALL, "name": "noise"}, compare=["logistic", "rbf-svm", "xgboost"])
    assert result.comparison["auc"].max() <= 0.62, result.comparison


def test_compare_classifiers_from_the_cli_writes_the_table_and_records_it(tmp_path, capsys):
    frame, y = _cohort(n=150, seed=31, width=8)
    ids = [f"h{i}" for i in range(len(y))]
    frame.assign(case_id=ids).to_csv(tmp_path / "f.csv", index=False)
    pd.DataFrame({"case_id": ids, "aln": y}).to_csv(tmp_path / "c.csv", index=False)
    assert main(["train", "--features", str(tmp_path / "f.csv"), "--clinical", str(tmp_path / "c.csv"), "--outcome",
                 "aln", "--recipe", "lasso-lr", "--compare-classifiers", "logistic,svm,xgboost", "--profile",
                 "zhang2025-us", "--out", str(tmp_path / "he.json")]) == 0
    assert "DeLong p vs" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "he.comparison.csv")
    assert list(table.columns) == ["classifier", "auc", "auc_lower", "auc_upper", "ci_method", "reference",
                                   "delong_z", "delong_p"]
    best = table.loc[table["auc"].idxmax(), "classifier"]
    assert (table["reference"] == best).all() and table["delong_p"].isna().sum() == 1
    recorded = load_package(tmp_path / "he.json").document["performance"]["classifier_comparison"]
    assert [row["classifier"] for row in recorded] == table["classifier"].tolist()
    assert recorded[0]["auc"] == pytest.approx(table.loc[0, "auc"], abs=1e-12)
