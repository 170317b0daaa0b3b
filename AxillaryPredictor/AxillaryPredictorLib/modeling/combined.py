"""Combined clinical-radiomics models: multivariable logistic regression with variable
selection by stepwise AIC (as R's ``step()``) or backward elimination at p < 0.05, and the
coefficient table the studies print (β, SE, z, p, OR with 95% CI).

A recipe's ``combined:`` section configures it (``combined_settings`` reads it):

- ``selection``: ``aic`` (alias ``stepwise-aic``; ``direction: both|backward|forward``),
  ``backward-p`` (alias ``p``; drop the term with the largest Wald p while it is above ``p``,
  alias ``p_threshold``, default 0.05 — Zhang et al.), ``lightgbm`` (alias ``lightgbm-subset``;
  Lu et al.: the candidates, optionally screened by univariable logistic p < ``screen_p``, ranked by
  LightGBM importance and added one at a time, the subset with the best mean stratified ``cv``-fold
  AUC kept — ``importance_selection.LightGBMSubsetSelector`` with ``cv`` (10), ``importance``,
  ``estimator``, ``max_features`` and ``seed``) or ``none``;
- ``radscore_scale``: what a RadScore is in the combined model — ``linear-predictor`` (default;
  intercept + Σβ·z of its radiomics logistic model, He et al.'s formula) or ``probability`` (that
  model's predicted probability, Zeng et al.'s Radscore_DIR / Radscore_DPR).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from AxillaryPredictorLib.errors import InputError
from AxillaryPredictorLib.evaluation.glm import LogisticFit, logistic_mle

#: a RadScore in a combined model: the radiomics model's linear predictor, or its predicted probability
LINEAR_PREDICTOR, PROBABILITY = "linear-predictor", "probability"
RADSCORE_SCALES = (LINEAR_PREDICTOR, PROBABILITY)
#: recipe spellings of the selection methods -> CombinedLogisticModel's
SELECTIONS = {"aic": "aic", "stepwise-aic": "aic", "p": "p", "backward-p": "p", "lightgbm": "lightgbm",
              "lightgbm-subset": "lightgbm", "none": "none"}
#: ``combined:`` keys of the LightGBM subset selection (recipe key -> LightGBMSubsetSelector parameter)
LIGHTGBM_KEYS = {"cv": "cv", "importance": "importance", "estimator": "estimator", "max_features": "max_features",
                 "seed": "random_state"}
DIRECTIONS = ("both", "backward", "forward")


def check_radscore_scale(scale: str) -> str:
    """``scale`` when it is a RadScore scale; InputError naming the choices otherwise."""
    if scale not in RADSCORE_SCALES:
        raise InputError(f"RadScore scale '{scale}' is not one of {', '.join(RADSCORE_SCALES)} (linear-predictor: "
                         "intercept + sum of coefficient x z-scored feature; probability: the radiomics model's "
                         "predicted probability, as Zeng et al.'s Radscore).")
    return scale


def combined_settings(spec: dict | None, recipe: str = "recipe") -> tuple[dict, str]:
    """(``CombinedLogisticModel`` parameters, RadScore scale) of a recipe's ``combined:`` section;
    InputError for an unknown key, selection, direction or threshold."""
    spec = dict(spec or {})
    known = {"selection", "direction", "p", "p_threshold", "radscore_scale", "screen_p", *LIGHTGBM_KEYS}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise InputError(f"Recipe '{recipe}': unknown key(s) {', '.join(unknown)} in 'combined'; known: "
                         f"{', '.join(sorted(known))}.")
    selection = str(spec.get("selection", "aic"))
    if selection not in SELECTIONS:
        raise InputError(f"Recipe '{recipe}': combined selection '{selection}' is not one of "
                         f"{', '.join(SELECTIONS)} (e.g. 'selection: backward-p' with 'p: 0.05').")
    direction = str(spec.get("direction", "both"))
    if direction not in DIRECTIONS:
        raise InputError(f"Recipe '{recipe}': combined direction '{direction}' is not one of {', '.join(DIRECTIONS)}.")
    if "p" in spec and "p_threshold" in spec and float(spec["p"]) != float(spec["p_threshold"]):
        raise InputError(f"Recipe '{recipe}': 'combined' gives both p and p_threshold; give one.")
    threshold = float(spec.get("p", spec.get("p_threshold", 0.05)))
    if not 0 < threshold < 1:
        raise InputError(f"Recipe '{recipe}': the combined model's p threshold must lie between 0 and 1, got "
                         f"{threshold:g}.")
    scale = check_radscore_scale(str(spec.get("radscore_scale", LINEAR_PREDICTOR)))
    params = {"selection": SELECTIONS[selection], "direction": direction, "p_threshold": threshold}
    subset = _lightgbm_settings(spec, recipe)
    if SELECTIONS[selection] == "lightgbm":
        params["subset"] = subset
    elif subset:
        raise InputError(f"Recipe '{recipe}': 'combined' key(s) {', '.join(sorted(subset))} belong to "
                         "'selection: lightgbm'.")
    return params, scale


def _lightgbm_settings(spec: dict, recipe: str) -> dict:
    """The LightGBM subset selection's settings of a ``combined:`` section (``screen_p`` and the
    selector's parameters); InputError for a screening threshold outside (0, 1)."""
    settings = {LIGHTGBM_KEYS[key]: spec[key] for key in LIGHTGBM_KEYS if key in spec}
    if "screen_p" in spec:
        screen = float(spec["screen_p"])
        if not 0 < screen <= 1:
            raise InputError(f"Recipe '{recipe}': the combined model's screen_p must lie in (0, 1], got {screen:g}.")
        settings["screen_p"] = screen
    return settings


def _fit(frame: pd.DataFrame, y: np.ndarray, terms: list[str]) -> LogisticFit:
    x = np.column_stack([np.ones(len(y))] + [frame[t].to_numpy(float) for t in terms])
    return logistic_mle(x, y)


def stepwise_aic(frame: pd.DataFrame, y, direction: str = "both", start: list[str] | None = None) -> list[str]:
    """Terms chosen by AIC = −2·logL + 2·k, moving one term at a time from ``start`` (default:
    all terms for "both"/"backward", none for "forward") while AIC decreases (R ``step``)."""
    y = np.asarray(y, float)
    scope = list(frame.columns)
    current = list(start) if start is not None else ([] if direction == "forward" else list(scope))
    best_aic = _fit(frame, y, current).aic
    while True:
        moves = []
        if direction in ("both", "backward"):
            moves += [[t for t in current if t != drop] for drop in current]
        if direction in ("both", "forward"):
            moves += [[*current, add] for add in scope if add not in current]
        if not moves:
            return current
        scored = [(_fit(frame, y, terms).aic, terms) for terms in moves]
        aic, terms = min(scored, key=lambda item: item[0])
        if aic >= best_aic - 1e-10:
            return current
        best_aic, current = aic, [t for t in scope if t in terms]


def univariable_p(frame: pd.DataFrame, y) -> dict[str, float]:
    """Wald p of each column in its own univariable logistic regression (NaN when it cannot be fitted)."""
    y = np.asarray(y, float)
    values = {}
    for term in frame.columns:
        try:
            fit = _fit(frame, y, [term])
            values[term] = float(2 * stats.norm.sf(abs(fit.beta[1] / fit.se[1])))
        except (InputError, np.linalg.LinAlgError, ValueError):
            values[term] = float("nan")
    return values


def lightgbm_terms(frame: pd.DataFrame, y, settings: dict | None = None) -> list[str]:
    """Lu et al.'s variable selection: the columns with univariable logistic p < ``screen_p`` (all
    when it is not set), ranked by LightGBM importance, the top-m with the best mean stratified CV AUC
    kept (``importance_selection.importance_subset``); in the frame's column order."""
    from AxillaryPredictorLib.modeling.importance_selection import importance_subset

    settings = dict(settings or {})
    screen = settings.pop("screen_p", None)
    candidates = list(frame.columns)
    if screen is not None:
        p = univariable_p(frame, y)
        candidates = [t for t in candidates if p[t] < screen]
    if not candidates:
        return []
    chosen = set(importance_subset(frame[candidates], np.asarray(y, int), **settings))
    return [t for t in frame.columns if t in chosen]


def backward_p(frame: pd.DataFrame, y, p_threshold: float = 0.05) -> list[str]:
    """Drop the term with the largest Wald p-value while it exceeds ``p_threshold``."""
    y = np.asarray(y, float)
    current = list(frame.columns)
    while current:
        fit = _fit(frame, y, current)
        p = 2 * stats.norm.sf(np.abs(fit.beta[1:] / fit.se[1:]))
        worst = int(np.argmax(p))
        if p[worst] <= p_threshold:
            break
        current.pop(worst)
    return current


class CombinedLogisticModel(ClassifierMixin, BaseEstimator):
    """Multivariable logistic regression of RadScore(s) + clinical factors.

    ``selection``: "aic" (stepwise, ``direction`` both/backward/forward), "p" or "backward-p"
    (backward at ``p_threshold``), "lightgbm" (``lightgbm_terms`` with the settings ``subset``) or
    "none". Works on DataFrames so terms keep their names.
    """

    def __init__(self, selection: str = "aic", direction: str = "both", p_threshold: float = 0.05,
                 subset: dict | None = None):
        self.selection = selection
        self.direction = direction
        self.p_threshold = p_threshold
        self.subset = subset

    def fit(self, X, y):
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
        y = np.asarray(y, float)
        selection = SELECTIONS.get(self.selection)
        if selection == "aic":
            terms = stepwise_aic(frame, y, self.direction)
        elif selection == "p":
            terms = backward_p(frame, y, self.p_threshold)
        elif selection == "lightgbm":
            terms = lightgbm_terms(frame, y, self.subset)
        elif selection == "none":
            terms = list(frame.columns)
        else:
            raise InputError(f"selection must be one of {', '.join(SELECTIONS)}, not '{self.selection}'.")
        self.feature_names_in_ = np.array(frame.columns, dtype=object)
        self.terms_ = terms
        self.fit_ = _fit(frame, y, terms)
        self.intercept_ = float(self.fit_.beta[0])
        self.coef_ = dict(zip(terms, self.fit_.beta[1:].tolist(), strict=True))
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X) -> np.ndarray:
        check_is_fitted(self, "terms_")
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X, columns=self.feature_names_in_)
        linear = np.full(len(frame), self.intercept_)  # an intercept-only model still scores every row
        for term, beta in self.coef_.items():
            linear = linear + frame[term].to_numpy(float) * beta
        return linear

    def predict_proba(self, X) -> np.ndarray:
        p = 1 / (1 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def summary_table(self) -> pd.DataFrame:
        """β, SE, z, p and OR (95% CI) per term, intercept first."""
        check_is_fitted(self, "terms_")
        beta, se = self.fit_.beta, self.fit_.se
        z = beta / se
        return pd.DataFrame({"term": ["(Intercept)", *self.terms_], "beta": beta, "se": se, "z": z,
                             "p": 2 * stats.norm.sf(np.abs(z)), "odds_ratio": np.exp(beta),
                             "or_lower": np.exp(beta - 1.959963984540054 * se),
                             "or_upper": np.exp(beta + 1.959963984540054 * se)})
