"""Test helper: the classic leaky model-building mistake, as a control for the leakage-free CV."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from AxillaryPredictorLib.modeling.classifiers import make_classifier


def leaky_control_auc(features: pd.DataFrame, y, k: int = 10, folds: int = 5, seed: int = 0) -> float:
    """Out-of-fold AUC when the top-k ANOVA features are chosen on ALL data, then cross-validated."""
    y = np.asarray(y, int)
    chosen = SelectKBest(f_classif, k=k).fit(features, y).get_support()
    oof = np.zeros(len(y))
    for train_index, test_index in StratifiedKFold(folds, shuffle=True, random_state=seed).split(features, y):
        model = Pipeline([("scale", StandardScaler()), ("model", make_classifier("logistic"))])
        model.fit(features.iloc[train_index, chosen], y[train_index])
        oof[test_index] = model.predict_proba(features.iloc[test_index, chosen])[:, 1]
    return float(roc_auc_score(y, oof))
