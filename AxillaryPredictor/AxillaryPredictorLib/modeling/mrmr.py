"""Minimum-redundancy maximum-relevance (mRMR) feature selection as a scikit-learn selector.

Greedy search (Peng, Long & Ding 2005, doi:10.1109/TPAMI.2005.159): the most relevant feature first,
then at each step the candidate j maximising

- difference: relevance(j) − mean over chosen s of redundancy(j, s)  ("D" schemes), or
- quotient: relevance(j) / mean over chosen s of redundancy(j, s)     ("Q" schemes);

with two measures:

- ``MID`` / ``MIQ``: mutual information (the original mRMR). Relevance I(j; y) is scikit-learn's
  ``mutual_info_classif``; redundancy I(j; s) is ``mutual_info_regression`` (or ``mutual_info_classif``
  when s is discrete). Continuous values use the k-nearest-neighbour estimator (Kraskov et al., with
  scikit-learn's small jitter, fixed by ``random_state``); discrete features
  (``discrete_features``) the plug-in estimate from counts. In nats.
- ``FCQ`` / ``FCD`` (Ding & Peng 2005, doi:10.1142/S0219720005001004): ANOVA F-statistic relevance
  and mean |Pearson r| redundancy.
"""

from __future__ import annotations

import numpy as np
from sklearn.feature_selection import f_classif, mutual_info_classif, mutual_info_regression

from AxillaryPredictorLib.errors import InputError
from AxillaryPredictorLib.modeling.selection import _Selector, _standardized

SCHEMES = ("FCQ", "FCD", "MID", "MIQ")


class MRMRSelector(_Selector):
    """mRMR keeping ``k`` features (see module docstring for ``scheme``).

    ``n_candidates`` (mutual-information schemes): search only the most relevant candidates (None:
    all); each greedy step estimates the MI of every remaining candidate with the last chosen feature,
    so this bounds the cost on thousands of features. ``ranking_`` lists the chosen columns in the
    order picked; ``relevance_`` holds every feature's relevance.
    """

    def __init__(self, k: int = 10, scheme: str = "FCQ", n_neighbors: int = 3, discrete_features=False,
                 n_candidates: int | None = None, random_state: int = 0):
        self.k = k
        self.scheme = scheme
        self.n_neighbors = n_neighbors
        self.discrete_features = discrete_features
        self.n_candidates = n_candidates
        self.random_state = random_state

    def fit(self, X, y):
        if self.scheme not in SCHEMES:
            raise InputError(f"mRMR scheme must be one of {', '.join(SCHEMES)}, not '{self.scheme}'.")
        X, y = self._validate(X, y)
        mutual = self.scheme.startswith("MI")
        discrete = self._discrete_mask(X.shape[1])
        if mutual:
            relevance = mutual_info_classif(X, y, discrete_features=discrete, n_neighbors=self.n_neighbors,
                                            random_state=self.random_state)
        else:
            relevance = np.nan_to_num(f_classif(X, y)[0])
        pool = np.arange(X.shape[1])
        if mutual and self.n_candidates:
            pool = np.sort(np.argsort(-relevance, kind="stable")[: self.n_candidates])
        standardized = None if mutual else _standardized(X)
        chosen = [int(pool[np.argmax(relevance[pool])])]
        redundancy = np.zeros(X.shape[1])
        while len(chosen) < min(self.k, pool.size):
            remaining = np.setdiff1d(pool, chosen)
            if mutual:
                redundancy[remaining] += self._mutual_information(X, remaining, chosen[-1], discrete)
            else:
                redundancy[remaining] += np.abs(standardized[:, remaining].T @ standardized[:, chosen[-1]]) / len(y)
            mean = redundancy[remaining] / len(chosen)
            score = relevance[remaining] - mean if self.scheme.endswith("D") else \
                relevance[remaining] / np.maximum(mean, 1e-6)
            chosen.append(int(remaining[np.argmax(score)]))
        self.relevance_ = relevance
        self.ranking_ = np.array(chosen)
        self.support_ = np.zeros(X.shape[1], bool)
        self.support_[chosen] = True
        return self

    def _discrete_mask(self, n_features: int) -> np.ndarray:
        if isinstance(self.discrete_features, bool | np.bool_):
            return np.full(n_features, bool(self.discrete_features))
        given = np.asarray(self.discrete_features)
        if given.dtype == bool:
            if given.size != n_features:
                raise InputError(f"discrete_features has {given.size} flags for {n_features} features.")
            return given
        mask = np.zeros(n_features, bool)
        mask[given.astype(int)] = True
        return mask

    def _mutual_information(self, X: np.ndarray, columns: np.ndarray, target: int,
                            discrete: np.ndarray) -> np.ndarray:
        """I(column; target column) for each of ``columns`` (kNN or plug-in estimate, nats)."""
        estimate = mutual_info_classif if discrete[target] else mutual_info_regression
        return estimate(X[:, columns], X[:, target], discrete_features=discrete[columns],
                        n_neighbors=self.n_neighbors, random_state=self.random_state)
