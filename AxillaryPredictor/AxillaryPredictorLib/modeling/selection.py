"""Feature selectors as scikit-learn transformers, so selection happens inside CV folds.

Each learns its support in ``fit`` (on training data only) and applies it in
``transform``; ``get_support`` and ``get_feature_names_out`` keep feature names flowing,
so they compose in ``Pipeline`` and cross-validation without leakage.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.feature_selection import RFECV, SelectorMixin, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted, validate_data

from AxillaryPredictorLib.errors import InputError


class _Selector(SelectorMixin, BaseEstimator):
    """Shared plumbing: validate X, remember names, expose the support mask."""

    def _validate(self, X, y=None, reset: bool = True):
        if y is None:
            return validate_data(self, X, reset=reset, ensure_all_finite=True)
        X, y = validate_data(self, X, y, reset=reset, ensure_all_finite=True)
        if not set(np.unique(y)) <= {0, 1}:
            raise InputError("The outcome must be binary 0/1.")
        return X, y

    def _get_support_mask(self):
        check_is_fitted(self, "support_")
        return self.support_

    def _keep_at_least(self, scores: np.ndarray, mask: np.ndarray, minimum: int) -> np.ndarray:
        if mask.sum() < minimum:
            mask = np.zeros_like(mask)
            mask[np.argsort(-scores, kind="stable")[:minimum]] = True
        return mask


class VarianceFilter(_Selector):
    """Drop features whose training variance is <= ``threshold`` (constant columns)."""

    def __init__(self, threshold: float = 0.0):
        self.threshold = threshold

    def fit(self, X, y=None):
        X = self._validate(X)
        self.variances_ = X.var(axis=0)
        self.support_ = self.variances_ > self.threshold
        if not self.support_.any():
            raise InputError("Every feature is constant in the training data.")
        return self


class UnivariateFilter(_Selector):
    """Keep features associated with the outcome: ANOVA F, Welch t-test or Mann–Whitney U
    with p < ``p_threshold`` (at least ``min_features`` by smallest p)."""

    def __init__(self, test: str = "anova", p_threshold: float = 0.05, min_features: int = 1):
        self.test = test
        self.p_threshold = p_threshold
        self.min_features = min_features

    def fit(self, X, y):
        X, y = self._validate(X, y)
        a, b = X[y == 1], X[y == 0]
        if self.test == "anova":
            _, p = f_classif(X, y)
        elif self.test == "ttest":
            p = stats.ttest_ind(a, b, axis=0, equal_var=False).pvalue
        elif self.test == "mannwhitney":
            p = stats.mannwhitneyu(a, b, axis=0, alternative="two-sided").pvalue
        else:
            raise InputError("test must be 'anova', 'ttest' or 'mannwhitney'.")
        self.pvalues_ = np.nan_to_num(np.asarray(p, float), nan=1.0)
        self.support_ = self._keep_at_least(-self.pvalues_, self.pvalues_ < self.p_threshold, self.min_features)
        return self


class CorrelationFilter(_Selector):
    """Remove redundancy: of two features with |r| > ``threshold`` (Pearson or Spearman),
    drop the one less associated with the outcome (smaller |point-biserial r|)."""

    def __init__(self, method: str = "pearson", threshold: float = 0.9):
        self.method = method
        self.threshold = threshold

    def fit(self, X, y):
        X, y = self._validate(X, y)
        if self.method == "spearman":
            X = np.apply_along_axis(stats.rankdata, 0, X)
        elif self.method != "pearson":
            raise InputError("method must be 'pearson' or 'spearman'.")
        centred = (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1)
        relevance = np.abs(centred.T @ (y - y.mean())) / (len(y) * y.std())
        correlation = np.abs(centred.T @ centred) / len(y)
        keep = np.ones(X.shape[1], bool)
        for index in np.argsort(-relevance, kind="stable"):
            if not keep[index]:
                continue
            redundant = (correlation[index] > self.threshold) & keep
            redundant[index] = False
            keep[redundant] = False
        self.relevance_ = relevance
        self.support_ = keep
        return self


class MRMRSelector(_Selector):
    """Minimum-redundancy maximum-relevance, MID form with F-statistic relevance and mean
    absolute Pearson redundancy (FCQ variant: relevance / redundancy); keeps ``k``."""

    def __init__(self, k: int = 10, scheme: str = "FCQ"):
        self.k = k
        self.scheme = scheme

    def fit(self, X, y):
        X, y = self._validate(X, y)
        relevance, _ = f_classif(X, y)
        relevance = np.nan_to_num(relevance)
        standardized = (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1)
        chosen = [int(np.argmax(relevance))]
        redundancy = np.zeros(X.shape[1])
        while len(chosen) < min(self.k, X.shape[1]):
            redundancy += np.abs(standardized.T @ standardized[:, chosen[-1]]) / len(y)
            mean_redundancy = redundancy / len(chosen)
            score = relevance / np.maximum(mean_redundancy, 1e-6) if self.scheme == "FCQ" else (
                relevance - mean_redundancy)
            score[chosen] = -np.inf
            chosen.append(int(np.argmax(score)))
        self.ranking_ = np.array(chosen)
        self.support_ = np.zeros(X.shape[1], bool)
        self.support_[chosen] = True
        return self


class LassoSelector(_Selector):
    """L1 logistic regression on standardized features with the penalty chosen by
    stratified CV (``rule="min"``: best mean AUC; ``"1se"``: the strongest penalty within
    one standard error). λ is glmnet's (C = 1/(n·λ), R-CONVENTIONS), but the solver is
    liblinear, which also penalizes the intercept: coefficients agree with glmnet only to about
    1e-5 (saga matches it to 1e-8 but is far slower on thousands of features). The selector's
    job is the support, which these differences do not change in practice; the final model's
    coefficients come from the classifier fitted after selection."""

    def __init__(self, cv: int = 5, rule: str = "min", n_cs: int = 20, random_state: int = 0, max_features=None):
        self.cv = cv
        self.rule = rule
        self.n_cs = n_cs
        self.random_state = random_state
        self.max_features = max_features

    def fit(self, X, y):
        X, y = self._validate(X, y)
        scaler = StandardScaler().fit(X)
        Z = scaler.transform(X)
        n = len(y)
        # lambda grid from the smallest lambda that zeros every coefficient (as glmnet does)
        lambda_max = np.max(np.abs(Z.T @ (y - y.mean()))) / n
        lambdas = lambda_max * np.logspace(0, -2, self.n_cs)
        folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        from sklearn.metrics import roc_auc_score

        scores = np.zeros((len(lambdas), self.cv))
        for f, (train, test) in enumerate(folds.split(Z, y)):
            fold_scaler = StandardScaler().fit(X[train])
            a, b = fold_scaler.transform(X[train]), fold_scaler.transform(X[test])
            for i, lam in enumerate(lambdas):
                model = _l1_model(1 / (len(train) * lam)).fit(a, y[train])
                scores[i, f] = roc_auc_score(y[test], model.decision_function(b)) if model.coef_.any() else 0.5
        mean, se = scores.mean(axis=1), scores.std(axis=1, ddof=1) / np.sqrt(self.cv)
        best = int(np.argmax(mean))
        if self.rule == "1se":
            eligible = np.flatnonzero(mean >= mean[best] - se[best])
            best = int(eligible.min())  # largest lambda (lambdas decrease along the grid)
        elif self.rule != "min":
            raise InputError("rule must be 'min' or '1se'.")
        self.lambda_ = float(lambdas[best])
        model = _l1_model(1 / (n * self.lambda_)).fit(Z, y)
        self.coef_ = model.coef_.ravel()
        self.cv_auc_ = mean
        support = self.coef_ != 0
        if self.max_features and support.sum() > self.max_features:
            support = np.zeros_like(support)
            support[np.argsort(-np.abs(self.coef_))[: self.max_features]] = True
        self.support_ = self._keep_at_least(np.abs(self.coef_), support, 1)
        return self


def _l1_model(c: float) -> LogisticRegression:
    """L1 logistic regression (liblinear: fast along a penalty path; it also penalizes the
    intercept slightly, which does not matter for choosing features)."""
    return LogisticRegression(l1_ratio=1.0, C=c, solver="liblinear", max_iter=5000, random_state=0)


class SVMRFESelector(_Selector):
    """Recursive feature elimination with a linear SVM, the number of features chosen by CV.

    With fewer than two features left there is nothing to eliminate (RFECV needs two): the step
    keeps them and says so in ``note_``."""

    def __init__(self, cv: int = 5, step: float = 0.2, min_features_to_select: int = 1, random_state: int = 0):
        self.cv = cv
        self.step = step
        self.min_features_to_select = min_features_to_select
        self.random_state = random_state

    def fit(self, X, y):
        X, y = self._validate(X, y)
        self.note_ = ""
        if X.shape[1] < 2:
            self.ranking_ = np.ones(X.shape[1], int)
            self.support_ = np.ones(X.shape[1], bool)
            self.note_ = (f"SVM-RFE skipped: only {X.shape[1]} feature left after the earlier selection steps "
                          "(elimination needs at least 2); it is kept.")
            return self
        Z = StandardScaler().fit_transform(X)
        rfe = RFECV(LinearSVC(C=0.1, dual=False, max_iter=5000), step=self.step, scoring="roc_auc",
                    cv=StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state),
                    min_features_to_select=self.min_features_to_select)
        rfe.fit(Z, y)
        self.ranking_ = rfe.ranking_
        self.support_ = rfe.support_
        return self
