"""The estimator registry: every classifier type a model package can hold, in one place.

Each ``EstimatorKind`` in ``ESTIMATORS`` (keyed by the package's ``estimator.type``) knows how to

- ``make`` the scikit-learn estimators that recipes name (``classifier: {kind: ...}``),
- ``export`` a fitted one as the package's JSON estimator, and
- ``score`` that JSON: our own numpy code, so loading and scoring a package needs no
  scikit-learn and never unpickles anything (xgboost is imported only to score an xgboost package).

A new classifier is one entry in ``ESTIMATORS`` plus its name in the schema's estimator type enum
(``resources/schemas/model-package.schema.json``, ``$defs/estimator/properties/type``); a test
checks that the two agree. scikit-learn and the classifiers module are imported inside the
``make``/``export`` functions, which only training calls.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from AxillaryPredictorLib.errors import ModelError

#: (estimator JSON, standardized model inputs, the case frame for stacked members) -> P(outcome)
Scorer = Callable[[dict, np.ndarray, "pd.DataFrame | None"], np.ndarray]


@dataclass(frozen=True)
class EstimatorKind:
    """One package estimator type: how to score it, export it and make it."""

    score: Scorer
    #: the package JSON of a fitted estimator of this type; None when ``estimator`` is of another type
    export: Callable[[Any], dict[str, Any] | None]
    #: classifier names (recipes, ``make_classifier``) -> factory of an unfitted estimator
    make: Mapping[str, Callable[..., Any]] = field(default_factory=dict)


# ---------------------------------------------------------------------------- inputs


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def fill_missing(x: np.ndarray, values: list[float] | None) -> np.ndarray:
    """Missing inputs (NaN) -> the package's training fill values, when it has them."""
    if values is None or not np.isnan(x).any():
        return x
    return np.where(np.isnan(x), np.asarray(values, float)[None, :], x)


def model_inputs(frame: pd.DataFrame, features: list[str], standardization: dict | None,
                 imputation: dict | None = None) -> np.ndarray:
    """The estimator's input matrix: ``features`` of ``frame``, filled, then standardized."""
    x = np.column_stack([frame[f].to_numpy(dtype=float) for f in features]) if features else np.zeros((len(frame), 0))
    x = fill_missing(x, imputation["values"] if imputation else None)
    if standardization:
        x = (x - np.asarray(standardization["mean"], float)) / np.asarray(standardization["scale"], float)
    return x


def estimator_probability(estimator: dict, x: np.ndarray, frame: pd.DataFrame | None = None) -> np.ndarray:
    """P(outcome) of an exported estimator on its (standardized) inputs ``x``."""
    kind = ESTIMATORS.get(estimator.get("type"))
    if kind is None:
        raise ModelError(f"Unknown estimator type '{estimator.get('type')}'; supported: {', '.join(ESTIMATORS)}.")
    return kind.score(estimator, x, frame)


# ---------------------------------------------------------------------------- scorers


def _linear(estimator: dict, x: np.ndarray) -> np.ndarray:
    return float(estimator["intercept"]) + x @ np.asarray(estimator["coefficients"], float)


def _platt(estimator: dict, decision: np.ndarray) -> np.ndarray:
    platt = estimator["platt"]
    return sigmoid(-(float(platt["a"]) * decision + float(platt["b"])))


def _score_logistic(estimator: dict, x: np.ndarray, frame: pd.DataFrame | None) -> np.ndarray:
    return sigmoid(_linear(estimator, x))


def _score_linear_svm(estimator: dict, x: np.ndarray, frame: pd.DataFrame | None) -> np.ndarray:
    return _platt(estimator, _linear(estimator, x))


def _score_rbf_svm(estimator: dict, x: np.ndarray, frame: pd.DataFrame | None) -> np.ndarray:
    vectors = np.asarray(estimator["support_vectors"], float)
    squared = (x**2).sum(axis=1)[:, None] + (vectors**2).sum(axis=1)[None, :] - 2 * x @ vectors.T
    kernel = np.exp(-float(estimator["gamma"]) * np.maximum(squared, 0.0))
    return _platt(estimator, kernel @ np.asarray(estimator["dual_coef"], float) + float(estimator["intercept"]))


def _score_xgboost(estimator: dict, x: np.ndarray, frame: pd.DataFrame | None) -> np.ndarray:
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(bytearray(json.dumps(estimator["booster"]).encode("utf-8")))
    return booster.predict(xgboost.DMatrix(x)).astype(float)


def _score_stacked(estimator: dict, x: np.ndarray, frame: pd.DataFrame | None) -> np.ndarray:
    """Each member on its own columns of ``frame``, then the meta model on their probabilities
    (z-scored with ``meta_standardization`` when the package has it)."""
    members = [estimator_probability(member["estimator"],
                                     model_inputs(frame, member["features"], member.get("standardization")), frame)
               for member in estimator["members"]]
    stacked = np.column_stack(members)
    scaling = estimator.get("meta_standardization")
    if scaling:
        stacked = (stacked - np.asarray(scaling["mean"], float)) / np.asarray(scaling["scale"], float)
    return estimator_probability(estimator["meta"], stacked)


# ---------------------------------------------------------------------------- exporters


def _export_logistic(estimator: Any) -> dict[str, Any] | None:
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    if not isinstance(estimator, LogisticRegression | SGDClassifier):
        return None
    return {"type": "logistic", "intercept": float(estimator.intercept_[0]),
            "coefficients": estimator.coef_[0].astype(float).tolist()}


def _platt_svc(estimator: Any, kernel: str) -> bool:
    from AxillaryPredictorLib.modeling.classifiers import PlattSVC

    return isinstance(estimator, PlattSVC) and estimator.kernel == kernel


def _export_linear_svm(estimator: Any) -> dict[str, Any] | None:
    if not _platt_svc(estimator, "linear"):
        return None
    svc = estimator.svc_
    return {"type": "linear-svm", "intercept": float(svc.intercept_[0]),
            "coefficients": svc.coef_[0].astype(float).tolist(),
            "platt": {"a": estimator.platt_a_, "b": estimator.platt_b_}}


def _export_rbf_svm(estimator: Any) -> dict[str, Any] | None:
    if not _platt_svc(estimator, "rbf"):
        return None
    svc = estimator.svc_
    return {"type": "rbf-svm", "support_vectors": svc.support_vectors_.astype(float).tolist(),
            "dual_coef": svc.dual_coef_[0].astype(float).tolist(), "gamma": float(svc._gamma),
            "intercept": float(svc.intercept_[0]), "platt": {"a": estimator.platt_a_, "b": estimator.platt_b_}}


def _export_xgboost(estimator: Any) -> dict[str, Any] | None:
    if type(estimator).__name__ != "XGBClassifier":
        return None
    raw = estimator.get_booster().save_raw(raw_format="json")
    return {"type": "xgboost", "booster": json.loads(bytes(raw).decode("utf-8"))}


def _export_stacked(estimator: Any) -> dict[str, Any] | None:
    from AxillaryPredictorLib.modeling.classifiers import PostFusionClassifier, export_stacked

    return export_stacked(estimator) if isinstance(estimator, PostFusionClassifier) else None


# ---------------------------------------------------------------------------- factories


def _make_logistic(**params: Any) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**{"C": 1.0, "max_iter": 5000, **params})


def _make_sgd(**params: Any) -> Any:
    """SGD with log loss: a logistic model (Liu et al. 2025), exported as ``logistic``."""
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(**{"loss": "log_loss", "alpha": 1e-3, "max_iter": 2000, "random_state": 0, **params})


def _make_linear_svm(**params: Any) -> Any:
    from AxillaryPredictorLib.modeling.classifiers import PlattSVC

    return PlattSVC(kernel="linear", **{"C": 0.1, **params})


def _make_rbf_svm(**params: Any) -> Any:
    from AxillaryPredictorLib.modeling.classifiers import PlattSVC

    return PlattSVC(kernel="rbf", **params)


def _make_xgboost(**params: Any) -> Any:
    from xgboost import XGBClassifier

    return XGBClassifier(**{"n_estimators": 100, "max_depth": 3, "learning_rate": 0.1, "n_jobs": 1,
                            "random_state": 0, "eval_metric": "logloss", **params})


#: package estimator type -> how to score, export and make it. Add a classifier here and in the schema enum.
ESTIMATORS: dict[str, EstimatorKind] = {
    "logistic": EstimatorKind(_score_logistic, _export_logistic, {"logistic": _make_logistic, "sgd": _make_sgd}),
    "linear-svm": EstimatorKind(_score_linear_svm, _export_linear_svm, {"linear-svm": _make_linear_svm}),
    "rbf-svm": EstimatorKind(_score_rbf_svm, _export_rbf_svm, {"rbf-svm": _make_rbf_svm}),
    "xgboost": EstimatorKind(_score_xgboost, _export_xgboost, {"xgboost": _make_xgboost}),
    # made by ``classifiers.PostFusionClassifier`` from other classifiers, not by name
    "stacked": EstimatorKind(_score_stacked, _export_stacked),
}

#: classifier name (recipes' ``classifier.kind``) -> factory, from the registry
CLASSIFIERS: dict[str, Callable[..., Any]] = {name: factory for kind in ESTIMATORS.values()
                                              for name, factory in kind.make.items()}
