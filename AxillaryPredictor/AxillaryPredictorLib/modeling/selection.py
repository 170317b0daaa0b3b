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


UNIVARIATE_TESTS = ("anova", "ttest", "mannwhitney", "auto")


class UnivariateFilter(_Selector):
    """Keep features associated with the outcome at p < ``p_threshold`` (at least ``min_features``,
    by smallest p).

    ``test`` for continuous features: "anova" (F), "ttest" (Welch), "mannwhitney", or "auto": per
    feature, Welch's t-test when Shapiro–Wilk finds both outcome groups normal (p ≥ 0.05), else the
    Wilcoxon rank-sum test, with R's defaults (``evaluation.clinical_tables``, as ``table1``): the
    papers' "t-test or Mann–Whitney U-test".

    ``categorical``: None (every feature continuous), "auto" (numeric features with at most
    ``max_levels`` distinct training values, the ``table1`` rule for ``max_levels=2``) or the names
    (DataFrame input) or column indices of categorical features. These get Fisher's exact test when an
    expected count is below 5, else Pearson's χ² with Yates' correction on 2 × 2 tables (R's
    ``fisher.test`` / ``chisq.test``; ``table1``'s rule). ``tests_`` names each feature's test.
    """

    def __init__(self, test: str = "anova", p_threshold: float = 0.05, min_features: int = 1,
                 categorical=None, max_levels: int = 2):
        self.test = test
        self.p_threshold = p_threshold
        self.min_features = min_features
        self.categorical = categorical
        self.max_levels = max_levels

    def fit(self, X, y):
        if self.test not in UNIVARIATE_TESTS:
            raise InputError(f"test must be one of {', '.join(UNIVARIATE_TESTS)}, not '{self.test}'.")
        X, y = self._validate(X, y)
        categorical = self._categorical_mask(X)
        p = np.ones(X.shape[1])
        tests = np.full(X.shape[1], self.test, dtype=object)
        continuous = np.flatnonzero(~categorical)
        if continuous.size:
            p[continuous], tests[continuous] = self._continuous_p(X[:, continuous], y)
        for index in np.flatnonzero(categorical):
            p[index], tests[index] = _categorical_p(X[:, index], y)
        self.categorical_ = categorical
        self.tests_ = tests
        self.pvalues_ = np.nan_to_num(p, nan=1.0)
        self.support_ = self._keep_at_least(-self.pvalues_, self.pvalues_ < self.p_threshold, self.min_features)
        return self

    def _categorical_mask(self, X: np.ndarray) -> np.ndarray:
        if self.categorical is None:
            return np.zeros(X.shape[1], bool)
        if isinstance(self.categorical, str):
            if self.categorical != "auto":
                raise InputError("categorical must be None, 'auto' or a list of feature names or column indices.")
            return np.array([np.unique(column).size <= self.max_levels for column in X.T], bool)
        names = list(getattr(self, "feature_names_in_", []))
        mask = np.zeros(X.shape[1], bool)
        for item in self.categorical:
            if isinstance(item, str):
                if item not in names:
                    raise InputError(f"Categorical feature '{item}' is not among the selector's input columns "
                                     "(names need DataFrame input; give column indices otherwise).")
                mask[names.index(item)] = True
            else:
                mask[int(item)] = True
        return mask

    def _continuous_p(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, b = X[y == 1], X[y == 0]
        if self.test == "anova":
            p = f_classif(X, y)[1]
        elif self.test == "ttest":
            p = stats.ttest_ind(a, b, axis=0, equal_var=False).pvalue
        elif self.test == "mannwhitney":
            p = stats.mannwhitneyu(a, b, axis=0, alternative="two-sided").pvalue
        else:
            return _auto_p(a, b)
        return np.asarray(p, float), np.full(X.shape[1], self.test, dtype=object)


def _auto_p(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Welch's t-test or the Wilcoxon rank-sum test per column, by Shapiro–Wilk in each group."""
    from AxillaryPredictorLib.evaluation.clinical_tables import continuous_test, is_normal

    p, tests = np.ones(a.shape[1]), np.empty(a.shape[1], dtype=object)
    for index in range(a.shape[1]):
        samples = [a[:, index], b[:, index]]
        normal = is_normal(samples)
        tests[index] = "ttest" if normal else "mannwhitney"
        try:
            p[index] = continuous_test(samples, normal).p
        except InputError:  # constant in both groups: no evidence of association
            p[index] = 1.0
    return p, tests


def _categorical_p(values: np.ndarray, y: np.ndarray) -> tuple[float, str]:
    """χ² (Yates on 2 × 2) or Fisher's exact test of a feature's levels against the outcome."""
    from AxillaryPredictorLib.evaluation.clinical_tables import categorical_test

    levels, codes = np.unique(values, return_inverse=True)
    if levels.size < 2:
        return 1.0, "constant"
    table = np.zeros((levels.size, 2))
    np.add.at(table, (codes, y.astype(int)), 1)
    test = categorical_test(table)
    return float(test.p), "fisher" if test.test.startswith("Fisher") else "chi2"


CORRELATION_METHODS = ("pearson", "spearman", "auto")


class CorrelationFilter(_Selector):
    """Remove redundancy: of two features with |r| > ``threshold``, drop the one less associated with
    the outcome (smaller |point-biserial r| on the same scale).

    ``method``: "pearson", "spearman", or "auto" (Liu et al.: "Pearson or Spearman"): Pearson for a
    pair of features that both pass Shapiro–Wilk on the training data (p ≥ 0.05), Spearman otherwise.
    ``pearson_`` flags the features measured on their values (Pearson), the others on their ranks.
    """

    def __init__(self, method: str = "pearson", threshold: float = 0.9):
        self.method = method
        self.threshold = threshold

    def fit(self, X, y):
        X, y = self._validate(X, y)
        if self.method not in CORRELATION_METHODS:
            raise InputError(f"method must be one of {', '.join(CORRELATION_METHODS)}, not '{self.method}'.")
        if self.method == "auto":
            pearson = np.array([_shapiro_normal(column) for column in X.T], bool)
        else:
            pearson = np.full(X.shape[1], self.method == "pearson")
        if pearson.all():
            relevance, correlation = _relevance(X, y), _abs_correlation(X)
        else:
            ranks = np.apply_along_axis(stats.rankdata, 0, X)
            relevance, correlation = _relevance(ranks, y), _abs_correlation(ranks)
            if pearson.any():  # Pearson where both features are normal
                relevance = np.where(pearson, _relevance(X, y), relevance)
                correlation = np.where(np.outer(pearson, pearson), _abs_correlation(X), correlation)
        keep = np.ones(X.shape[1], bool)
        for index in np.argsort(-relevance, kind="stable"):
            if not keep[index]:
                continue
            redundant = (correlation[index] > self.threshold) & keep
            redundant[index] = False
            keep[redundant] = False
        self.pearson_ = pearson
        self.relevance_ = relevance
        self.support_ = keep
        return self


def _standardized(X: np.ndarray) -> np.ndarray:
    sd = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1)


def _abs_correlation(X: np.ndarray) -> np.ndarray:
    centred = _standardized(X)
    return np.abs(centred.T @ centred) / len(X)


def _relevance(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """|point-biserial r| of every column with the 0/1 outcome."""
    return np.abs(_standardized(X).T @ (y - y.mean())) / (len(y) * y.std())


def _shapiro_normal(column: np.ndarray, alpha: float = 0.05) -> bool:
    """Shapiro–Wilk p ≥ alpha (constant or very short columns count as not normal)."""
    if column.size < 3 or column.min() == column.max():
        return False
    return bool(stats.shapiro(column[:5000]).pvalue >= alpha)


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
