"""Classifiers of the studies, as scikit-learn estimators that export to model packages.

- ``make_classifier("logistic" | "linear-svm" | "rbf-svm" | "xgboost" | "sgd", **params)`` (the kinds of
  the estimator registry, ``estimators.ESTIMATORS``);
- ``PlattSVC``: an SVM with Platt-scaled probabilities fitted on out-of-fold decision
  values (deterministic; scikit-learn deprecated ``SVC(probability=True)``);
- ``PostFusionClassifier``: an SVM (or logistic) meta-model on out-of-fold probabilities of
  single-modality models (radiomics, deep features, clinical variables), each on its own columns
  (Liu et al. 2025);
- ``export_estimator``: a fitted estimator as the package's JSON estimator;
- ``radscore_formula``: the RadScore printed like the papers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted

from AxillaryPredictorLib.errors import InputError, ModelError
from AxillaryPredictorLib.modeling.estimators import CLASSIFIERS, ESTIMATORS


class PlattSVC(ClassifierMixin, BaseEstimator):
    """SVC whose probabilities are p = 1 / (1 + exp(a·f + b)) for decision value f, with a, b
    fitted by logistic regression on ``cv``-fold out-of-fold decision values (on the in-sample ones
    when the out-of-fold fit would make the probability fall as the decision rises)."""

    def __init__(self, kernel: str = "linear", C: float = 1.0, gamma: str | float = "scale", cv: int = 5,  # noqa: N803
                 random_state: int = 0, class_weight: str | None = None):
        self.kernel = kernel
        self.C = C
        self.gamma = gamma
        self.cv = cv
        self.random_state = random_state
        self.class_weight = class_weight

    def fit(self, X, y):
        X, y = np.asarray(X, float), np.asarray(y)
        svc = SVC(kernel=self.kernel, C=self.C, gamma=self.gamma, class_weight=self.class_weight)
        folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        decision = cross_val_predict(svc, X, y, cv=folds, method="decision_function")
        self.svc_ = clone(svc).fit(X, y)
        platt = LogisticRegression(C=np.inf, max_iter=1000).fit(decision[:, None], y)
        if platt.coef_[0, 0] <= 0:  # out-of-fold decisions not rising with the outcome (weak signal, few cases):
            # a Platt fit on them would invert the SVM's own ranking; fit it on the in-sample decisions instead
            platt = LogisticRegression(C=np.inf, max_iter=1000).fit(self.svc_.decision_function(X)[:, None], y)
        self.platt_a_, self.platt_b_ = -float(platt.coef_[0, 0]), -float(platt.intercept_[0])
        self.classes_ = self.svc_.classes_
        return self

    def decision_function(self, X) -> np.ndarray:
        check_is_fitted(self, "svc_")
        return self.svc_.decision_function(np.asarray(X, float))

    def predict_proba(self, X) -> np.ndarray:
        p = 1 / (1 + np.exp(self.platt_a_ * self.decision_function(X) + self.platt_b_))
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def make_classifier(kind: str = "logistic", **params: Any) -> BaseEstimator:
    """A fresh classifier of the studies' kinds (deterministic defaults; ``estimators.CLASSIFIERS``)."""
    if kind not in CLASSIFIERS:
        names = list(CLASSIFIERS)
        raise InputError(f"Unknown classifier '{kind}'; choose {', '.join(names[:-1])} or {names[-1]}.")
    return CLASSIFIERS[kind](**params)


class PostFusionClassifier(ClassifierMixin, BaseEstimator):
    """Stacking of single-modality models: each member (a pipeline on its own columns)
    gives out-of-fold probabilities on the training data, a meta-model is fitted on them
    (z-scored, as any classifier's inputs: ``meta_mean_``, ``meta_scale_``), then every member is
    refitted on all training data.

    An SVM meta-model weighs the classes equally (``class_weight="balanced"``; its Platt scaling,
    fitted unweighted, keeps the probabilities calibrated): with unequal classes whose members'
    probabilities overlap, the hinge loss is minimized by the constant majority-class decision
    (weights 0, whatever C), and the Platt fit on its rounding-level decision values then follows
    noise — it inverted the fused ranking of the Liu replication (training AUC 0.20)."""

    def __init__(self, members: Mapping[str, tuple[Sequence[str], BaseEstimator]] | None = None,
                 meta: str = "linear-svm", cv: int = 5, random_state: int = 0):
        self.members = members
        self.meta = meta
        self.cv = cv
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y):
        y = np.asarray(y)
        folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        probabilities, self.members_ = [], {}
        for name, (columns, estimator) in (self.members or {}).items():
            data = X[list(columns)]
            probabilities.append(cross_val_predict(clone(estimator), data, y, cv=folds, method="predict_proba")[:, 1])
            self.members_[name] = (list(columns), clone(estimator).fit(data, y))
        stacked = np.column_stack(probabilities)
        self.meta_mean_ = stacked.mean(axis=0)
        spread = stacked.std(axis=0)
        self.meta_scale_ = np.where(spread > 0, spread, 1.0)
        balanced = {"class_weight": "balanced"} if self.meta.endswith("svm") else {}
        self.meta_ = make_classifier(self.meta, **balanced).fit((stacked - self.meta_mean_) / self.meta_scale_, y)
        self.classes_ = np.array([0, 1])
        return self

    def member_probabilities(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "meta_")
        return np.column_stack([m.predict_proba(X[c])[:, 1] for c, m in self.members_.values()])

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.meta_.predict_proba((self.member_probabilities(X) - self.meta_mean_) / self.meta_scale_)

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


# --------------------------------------------------------------------------- export


def export_estimator(estimator: BaseEstimator) -> dict[str, Any]:
    """The package JSON of a fitted final estimator (its inputs already standardized), by the
    first entry of the estimator registry that exports it."""
    for kind in ESTIMATORS.values():
        exported = kind.export(estimator)
        if exported is not None:
            return exported
    raise ModelError(f"Cannot export a {type(estimator).__name__} to a model package.")


def export_stacked(fusion: PostFusionClassifier) -> dict[str, Any]:
    """The package JSON of a fitted post-fusion stack: each member's selected features,
    standardization and estimator (and fill values when it imputes), then the meta-model."""
    members = []
    for name, (_, member) in fusion.members_.items():
        member = getattr(member, "best_estimator_", member)  # a tuned member: its chosen pipeline
        features, standardization, estimator = split_pipeline(member)
        entry = {"name": name, "features": features, "estimator": export_estimator(estimator)}
        if standardization:
            entry["standardization"] = standardization
        if pipeline_imputation(member):
            raise ModelError("Imputation inside post-fusion members cannot be exported yet; impute before training.")
        members.append(entry)
    return {"type": "stacked", "members": members, "meta": export_estimator(fusion.meta_),
            "meta_standardization": {"mean": fusion.meta_mean_.astype(float).tolist(),
                                     "scale": fusion.meta_scale_.astype(float).tolist()}}


def split_pipeline(pipeline: Any) -> tuple[list[str], dict | None, BaseEstimator]:
    """(selected feature names, standardization, final estimator) of a fitted pipeline of
    selectors -> StandardScaler -> classifier."""
    from sklearn.feature_selection import SelectorMixin
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    names = np.asarray(pipeline.feature_names_in_, dtype=object)
    standardization = None
    for _, step in pipeline.steps[:-1]:
        if isinstance(step, SelectorMixin):
            names = names[step.get_support()]
        elif isinstance(step, StandardScaler):
            standardization = {"mean": step.mean_.astype(float).tolist(), "scale": step.scale_.astype(float).tolist()}
        elif isinstance(step, SimpleImputer):
            continue  # exported by ``pipeline_imputation``
        elif step is not None and step != "passthrough":
            raise ModelError(f"Cannot export pipeline step {type(step).__name__}.")
    return [str(n) for n in names], standardization, pipeline.steps[-1][1]


def pipeline_imputation(pipeline: Any) -> dict | None:
    """The fitted imputer's fill values for the selected features (``split_pipeline`` order),
    as ``{"strategy", "values"}``; None when the pipeline has no imputer."""
    from sklearn.feature_selection import SelectorMixin
    from sklearn.impute import SimpleImputer

    values, strategy = None, None
    for _, step in pipeline.steps[:-1]:
        if isinstance(step, SimpleImputer):
            values, strategy = np.asarray(step.statistics_, float), step.strategy
        elif isinstance(step, SelectorMixin) and values is not None:
            values = values[step.get_support()]
    if values is None:
        return None
    return {"strategy": strategy, "values": values.tolist()}


def radscore_formula(names: Sequence[str], coefficients: Sequence[float], intercept: float,
                     standardized: bool = True, name: str = "RadScore") -> str:
    """``RadScore = -0.113 + 5.632 × z(wavelet-HLH_glcm_Idn) − …`` ordered by |coefficient|."""
    order = np.argsort(-np.abs(np.asarray(coefficients, float)), kind="stable")
    terms = []
    for i in order:
        coefficient = float(coefficients[i])
        sign = "−" if coefficient < 0 else "+"
        feature = f"z({names[i]})" if standardized else names[i]
        terms.append(f"{sign} {abs(coefficient):.3f} × {feature}")
    return f"{name} = {intercept:.3f} " + " ".join(terms)
