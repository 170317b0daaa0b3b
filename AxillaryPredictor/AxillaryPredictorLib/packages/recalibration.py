"""Local recalibration of published signatures (and any logistic package).

Published models omit what a site needs to use them (feature means/SDs, intercepts). On a
local cohort ``recalibrate`` fits the missing standardization, then a logistic
recalibration of the package's linear predictor LP: intercept only (logit P = a + LP) or
intercept and slope (logit P = a + b·LP); the new package carries status
``locally-recalibrated`` — or ``locally-validated`` when its performance was measured on a
held-out part of the local cohort that the recalibration did not see.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from AxillaryPredictorLib.errors import ModelError
from AxillaryPredictorLib.evaluation.glm import logistic_mle
from AxillaryPredictorLib.packages.package import (
    LOCALLY_RECALIBRATED,
    LOCALLY_VALIDATED,
    RADSCORE_LINEAR_PREDICTOR,
    RADSCORE_LINKS,
    ModelPackage,
    build_date,
)


@dataclass
class Recalibration:
    document: dict[str, Any]
    intercept_shift: float
    intercept_shift_se: float
    slope: float
    slope_se: float
    validation: dict[str, Any]
    validated_on_holdout: bool
    #: the validation cases: outcome ``y`` and the recalibrated model's ``probability``
    predictions: pd.DataFrame | None = None


def _needs_standardization(document: dict) -> bool:
    return "standardization" not in document and any("z-score" in u for u in document.get("unpublished", []))


def _linear_predictor(document: dict, frame: pd.DataFrame) -> np.ndarray:
    package = ModelPackage(document)
    frame = package.with_derived(package.encode_clinical(frame))
    x = np.column_stack([frame[f].to_numpy(float) for f in document["features"]])
    if document.get("standardization"):
        x = (x - np.array(document["standardization"]["mean"])) / np.array(document["standardization"]["scale"])
    return float(document["estimator"]["intercept"]) + x @ np.asarray(document["estimator"]["coefficients"], float)


def embed_scores(document: dict[str, Any], scores: dict[str, ModelPackage], link: str | None = None) -> None:
    """Make the site's own radiomics models the package's input scores (e.g. Zeng et al.'s
    Radscore_DIR / Radscore_DPR, Zhang et al.'s tumor and LN scores, whose feature weights were not
    published): each becomes a ``derived`` score computed from the case's features, so the package can
    go from images to a prediction. The score is on the package's ``radscore_scale``: the model's
    predicted probability (``probability``, ``link: logistic``, as Zeng's) or its linear predictor
    (``linear-predictor``, the default); ``link`` overrides it."""
    link = link or RADSCORE_LINKS[document.get("radscore_scale", RADSCORE_LINEAR_PREDICTOR)]
    inputs = set(document["features"])
    for name, score in scores.items():
        if name not in inputs:
            raise ModelError(f"'{name}' is not an input of {document['id']} (inputs: "
                             f"{', '.join(document['features'])}).")
        spec = score.document
        if spec["estimator"]["type"] != "logistic" or spec.get("derived"):
            raise ModelError(f"The score model for '{name}' ({score.id}) must be a plain logistic radiomics package.")
        wanted, given = document["inputs"]["profile"].get("sha256"), spec["inputs"]["profile"].get("sha256")
        if wanted and given and wanted != given:
            raise ModelError(f"The score model for '{name}' ({score.id}) was trained on features of another "
                             f"extraction profile ({spec['inputs']['profile'].get('name')}) than {document['id']} "
                             f"({document['inputs']['profile'].get('name')}).")
        entry = {"name": name, "features": list(spec["features"]), "intercept": spec["estimator"]["intercept"],
                 "coefficients": list(spec["estimator"]["coefficients"]), "link": link,
                 "description": f"{name}: local model {score.id} (sha256 {spec['sha256'][:12]}…)"}
        if spec.get("standardization"):
            entry.update(mean=spec["standardization"]["mean"], scale=spec["standardization"]["scale"])
        if spec.get("imputation"):
            entry["impute"] = spec["imputation"]["values"]
        document.setdefault("derived", [])
        document["derived"] = [d for d in document["derived"] if d["name"] != name] + [entry]
        for feature in spec["features"]:
            if feature in spec.get("training_ranges", {}):
                document.setdefault("training_ranges", {})[feature] = spec["training_ranges"][feature]


def recalibrate(package: ModelPackage, frame: pd.DataFrame, y, *, slope: bool = False, holdout: float | None = None,
                seed: int = 0, scores: dict[str, ModelPackage] | None = None) -> Recalibration:
    """Recalibrate a logistic package on local cases (see module docstring); ``scores``: the
    site's models for input scores the paper did not publish (see ``embed_scores``)."""
    from AxillaryPredictorLib.evaluation.statistics import auc_ci, brier, calibration, hosmer_lemeshow

    document = copy.deepcopy(package.document)
    if document["estimator"]["type"] != "logistic":
        raise ModelError("Recalibration supports logistic packages (the published signatures are logistic).")
    if scores:
        embed_scores(document, scores)
    y = np.asarray(y, int)
    ModelPackage({**document, "status": LOCALLY_RECALIBRATED}).check_inputs(
        ModelPackage(document).encode_clinical(frame))
    index = np.arange(len(y))
    fit_index, test_index = index, index
    if holdout:
        from sklearn.model_selection import train_test_split

        fit_index, test_index = train_test_split(index, test_size=holdout, stratify=y, random_state=seed)
    fit_frame = frame.iloc[fit_index]
    if _needs_standardization(document):
        values = ModelPackage(document).encode_clinical(fit_frame)
        x = np.column_stack([values[f].to_numpy(float) for f in document["features"]])
        document["standardization"] = {"mean": x.mean(axis=0).tolist(), "scale": x.std(axis=0).tolist()}
    local = ModelPackage(document).with_derived(ModelPackage(document).encode_clinical(fit_frame))
    document["training_ranges"] = {**document.get("training_ranges", {}),  # out-of-range checks, nomogram axes
                                   **{f: [float(local[f].min()), float(local[f].max())] for f in document["features"]
                                      if f in local.columns}}
    lp = _linear_predictor(document, fit_frame)
    if slope:
        result = logistic_mle(np.column_stack([np.ones(lp.size), lp]), y[fit_index])
        a, b = result.beta
        a_se, b_se = result.se
    else:
        result = logistic_mle(np.ones((lp.size, 1)), y[fit_index], lp)
        (a,), (a_se,) = result.beta, result.se
        b, b_se = 1.0, 0.0
    estimator = document["estimator"]
    estimator["intercept"] = float(a + b * estimator["intercept"])
    estimator["coefficients"] = [float(b * c) for c in estimator["coefficients"]]
    probability = 1 / (1 + np.exp(-_linear_predictor(document, frame.iloc[test_index])))
    truth = y[test_index]
    cal = calibration(truth, probability)
    hl = hosmer_lemeshow(truth, probability)
    auc = auc_ci(truth, probability)
    validation = {"cases": int(truth.size), "events": int(truth.sum()),
                  "data": "held-out local cases" if holdout else "the recalibration cases (apparent)",
                  "auc": auc.auc, "auc_ci": [auc.lower, auc.upper], "brier": brier(truth, probability),
                  "calibration_intercept": cal.intercept, "calibration_intercept_ci": list(cal.intercept_ci),
                  "calibration_slope": cal.slope, "calibration_slope_ci": list(cal.slope_ci),
                  "hosmer_lemeshow": {"statistic": hl.statistic, "df": hl.df, "p": hl.p}}
    document["status"] = LOCALLY_VALIDATED if holdout else LOCALLY_RECALIBRATED
    document["id"] = f"{package.id}-local"
    document["performance"] = {**document.get("performance", {}), "local": validation}
    document["provenance"] = {**document["provenance"], "date": build_date(), "recalibration": {
        "from": f"{package.id} sha256 {package.document['sha256']}", "cases": len(fit_index),
        "events": int(y[fit_index].sum()), "intercept_shift": float(a), "intercept_shift_se": float(a_se),
        "slope": float(b), "slope_se": float(b_se), "method": "intercept and slope" if slope else "intercept only",
        "scores": {name: f"{score.id} sha256 {score.document['sha256']}" for name, score in (scores or {}).items()}}}
    document["intended_use"] = ("Locally recalibrated" + (" and validated on held-out cases" if holdout else
                                                          ", not yet validated on held-out cases") +
                                "; research use, not a medical device.")
    predictions = pd.DataFrame({"y": truth, "probability": probability}, index=frame.index[test_index])
    return Recalibration(document, float(a), float(a_se), float(b), float(b_se), validation, bool(holdout),
                         predictions)
