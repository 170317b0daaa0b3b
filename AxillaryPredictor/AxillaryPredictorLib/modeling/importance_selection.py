"""Importance-ranked incremental subset selection (Lu et al. 2025) as a scikit-learn selector.

Lu et al. rank the candidate variables by LightGBM importance, add them one at a time in rank order,
estimate each subset's mean AUC (with 95% CI) by stratified 10-fold cross-validation, and keep the
subset with the highest mean AUC. ``LightGBMSubsetSelector`` does exactly that on its training data
only, so inside a Pipeline or an outer CV the ranking and the inner folds never see held-out cases.

LightGBM is imported when a selector is fitted (the package is needed only for this step).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from AxillaryPredictorLib.errors import InputError
from AxillaryPredictorLib.modeling.selection import _Selector

IMPORTANCE_TYPES = ("split", "gain")
SUBSET_ESTIMATORS = ("logistic", "lightgbm")


class LightGBMSubsetSelector(_Selector):
    """Rank features by LightGBM importance; keep the top-m with the best stratified CV AUC.

    - ``importance``: "split" (times a feature is used; LightGBM's default) or "gain" (its total gain);
      ties are broken by the other measure, then by column order. The paper does not say which.
    - Features are added from the most important down. The paper writes "in ascending order of
      importance"; its chosen set is its six top-ranked variables, so ascending *rank* is meant.
    - ``estimator`` scored on every subset: "logistic" (standardized, unpenalized, as the paper's
      models, all logistic regressions built in R) or "lightgbm" (the ranking model itself).
    - ``cv``-fold stratified CV (shuffled, ``random_state``); the mean AUC is over folds, its 95% CI
      mean ± t₀.₉₇₅,cv−1 · SD/√cv. Ties go to the smaller subset. ``max_features`` caps the subsets tried.

    Fitted: ``importances_`` (per input column), ``ranking_`` (column indices, most important first),
    ``cv_auc_`` and ``cv_auc_ci_`` (per subset size 1, 2, …), ``n_features_selected_``.
    """

    def __init__(self, cv: int = 10, importance: str = "split", estimator: str = "logistic",
                 max_features: int | None = None, n_estimators: int = 100, learning_rate: float = 0.1,
                 num_leaves: int = 31, min_child_samples: int = 20, random_state: int = 0):
        self.cv = cv
        self.importance = importance
        self.estimator = estimator
        self.max_features = max_features
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.random_state = random_state

    def fit(self, X, y):
        if self.importance not in IMPORTANCE_TYPES:
            raise InputError(f"importance must be one of {', '.join(IMPORTANCE_TYPES)}, not '{self.importance}'.")
        if self.estimator not in SUBSET_ESTIMATORS:
            raise InputError(f"estimator must be one of {', '.join(SUBSET_ESTIMATORS)}, not '{self.estimator}'.")
        X, y = self._validate(X, y)
        smallest = int(min(np.bincount(y, minlength=2)))
        if smallest < self.cv:
            raise InputError(f"LightGBM subset selection runs stratified {self.cv}-fold CV, which needs at least "
                             f"{self.cv} cases of each outcome; the training data has {smallest} of one. Lower 'cv'.")
        booster = self._lightgbm().fit(X, y).booster_
        split = booster.feature_importance(importance_type="split").astype(float)
        gain = booster.feature_importance(importance_type="gain")
        primary, secondary = (split, gain) if self.importance == "split" else (gain, split)
        ranking = np.lexsort((np.arange(X.shape[1]), -secondary, -primary))
        sizes = min(X.shape[1], self.max_features or X.shape[1])
        folds = list(StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state).split(X, y))
        aucs = np.array([self._fold_aucs(X[:, ranking[:size]], y, folds) for size in range(1, sizes + 1)])
        mean = aucs.mean(axis=1)
        half = stats.t.ppf(0.975, self.cv - 1) * aucs.std(axis=1, ddof=1) / np.sqrt(self.cv)
        best = int(np.argmax(mean)) + 1
        self.importances_ = primary
        self.ranking_ = ranking
        self.cv_auc_ = mean
        self.cv_auc_ci_ = np.column_stack([mean - half, mean + half])
        self.n_features_selected_ = best
        self.support_ = np.zeros(X.shape[1], bool)
        self.support_[ranking[:best]] = True
        return self

    def _lightgbm(self) -> Any:
        try:
            import lightgbm
        except (ImportError, OSError) as error:  # OSError: its OpenMP library is missing (macOS: libomp)
            raise InputError(f"LightGBM subset selection needs the 'lightgbm' package ({error}): pip install "
                             "lightgbm (in Slicer it is one of the module's requirements; on macOS LightGBM also "
                             "needs OpenMP: brew install libomp).") from error
        return lightgbm.LGBMClassifier(n_estimators=self.n_estimators, learning_rate=self.learning_rate,
                                       num_leaves=self.num_leaves, min_child_samples=self.min_child_samples,
                                       random_state=self.random_state, n_jobs=1, deterministic=True,
                                       force_row_wise=True, verbose=-1)

    def _subset_model(self) -> Any:
        if self.estimator == "lightgbm":
            return self._lightgbm()
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(C=np.inf, solver="newton-cholesky", max_iter=1000))

    def _fold_aucs(self, X: np.ndarray, y: np.ndarray, folds: list) -> list[float]:
        aucs = []
        for train, test in folds:
            with warnings.catch_warnings():  # separable folds: the AUC (a ranking) is still right
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = self._subset_model().fit(X[train], y[train])
            aucs.append(float(roc_auc_score(y[test], model.predict_proba(X[test])[:, 1])))
        return aucs


def importance_subset(frame, y, **params: Any) -> list[str]:
    """The columns of ``frame`` (a DataFrame) that ``LightGBMSubsetSelector(**params)`` keeps, most
    important first (for combined models built on named clinical and score columns)."""
    selector = LightGBMSubsetSelector(**params).fit(frame, y)
    return [str(frame.columns[i]) for i in selector.ranking_[: selector.n_features_selected_]]
