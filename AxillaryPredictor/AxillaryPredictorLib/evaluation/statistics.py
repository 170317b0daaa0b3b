"""Model evaluation statistics that equal R's reference implementations.

Conventions (docs/evaluation.md; checked against R fixtures in
``Testing/fixtures/evaluation`` made by the committed R script):

- AUC: Mann–Whitney estimate, ties count ½, controls (y = 0) expected lower, never
  flipped (pROC ``roc(..., direction="<")``); DeLong variance from placement values
  (``ci.auc(method="delong")``); paired DeLong test (``roc.test(paired=TRUE)``).
- Unpaired DeLong test (two cohorts): D = (AUC1 − AUC2)/√(V1 + V2) against a t distribution with
  Welch–Satterthwaite df, as pROC ``roc.test(paired=FALSE, method="delong")``.
- Youden cut-off: candidate thresholds are the midpoints between consecutive sorted
  unique scores plus ±∞; a case is positive when p ≥ t (pROC ``coords("best")``). All
  thresholds that tie at the maximum (exact float equality of tp/n₁ + tn/n₀, computed as
  pROC does) are reported, the lowest is used.
- Hosmer–Lemeshow: type-7 decile breaks of p (duplicates dropped), groups (a, b] with the
  first closed, df = non-empty groups − 2.
- Decision curve: thresholds k/100, k = 1..99; NB = TP/n − FP/n · pt/(1 − pt).
- NRI/IDI: continuous (category-free) NRI and IDI as Hmisc ``improveProb``; categorical NRI
  for risk cut-offs with Pencina et al. (2008)'s z.

Degenerate inputs (see ``docs/evaluation.md``) raise ``ValueError`` with what is wrong and what
to do, or give documented values: a z statistic whose standard error is 0 is 0 (p = 1) when
its estimate is 0 (pROC's rule for the paired DeLong test), and an error otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from AxillaryPredictorLib.errors import InputError
from AxillaryPredictorLib.evaluation.glm import logistic_mle

Z975 = stats.norm.ppf(0.975)


# ------------------------------------------------------------------------- validation


def _validate(y, p, *, probabilities: bool = False, name: str = "p") -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float).ravel()
    p = np.asarray(p, dtype=float).ravel()
    if y.shape != p.shape:
        raise InputError(f"y and {name} must have the same length ({y.size} vs {p.size}).")
    if y.size == 0:
        raise InputError("y is empty: give at least one event and one non-event.")
    if not np.isin(y, (0.0, 1.0)).all():
        raise InputError("y must be binary (0 = no event, 1 = event); recode the outcome and drop missing values.")
    if y.min() == y.max():
        raise InputError(f"y has a single class ({int(y[0])}): AUC and related statistics need both events and "
                         "non-events.")
    if not np.isfinite(p).all():
        raise InputError(f"{name} has {int((~np.isfinite(p)).sum())} missing or infinite value(s); remove those cases "
                         "or impute them first.")
    if probabilities and (p.min() < 0 or p.max() > 1):
        raise InputError(f"{name} must be probabilities in [0, 1] (found {p.min():.3g} to {p.max():.3g}).")
    return y.astype(int), p


def validate_predictions(y, p, *, probabilities: bool = False, name: str = "p") -> tuple[np.ndarray, np.ndarray]:
    """``(y, p)`` as arrays, or ``ValueError`` for what every statistic here refuses: lengths that differ,
    an empty or non-binary ``y``, a single class in ``y``, NaN or infinite ``p``, and (``probabilities``)
    values outside [0, 1]."""
    return _validate(y, p, probabilities=probabilities, name=name)


def _require_two_per_class(y: np.ndarray, what: str) -> None:
    """Sample variances (ddof=1) over events and over non-events need two of each."""
    events = int(y.sum())
    if events < 2 or y.size - events < 2:
        raise InputError(f"{what} needs at least 2 events and 2 non-events (found {events} and {y.size - events}): "
                         "its variance uses the sample variance within each class. Use a larger cohort.")


def _z_and_p(estimate: float, se: float, what: str, hint: str) -> tuple[float, float]:
    """z = estimate / se with two-sided normal p; se = 0 gives z = 0, p = 1 for a zero estimate."""
    if se > 0:
        z = estimate / se
        return float(z), float(2 * stats.norm.sf(abs(z)))
    if estimate == 0:
        return 0.0, 1.0
    raise InputError(f"{what} is {estimate:.6g} with a standard error of 0, so its z and p are undefined; {hint}")


def _mean_var(x: np.ndarray) -> tuple[float, float]:
    """Mean and sample variance, exact for constant values (no rounding noise)."""
    if x.min() == x.max():
        return float(x[0]), 0.0
    return float(x.mean()), float(x.var(ddof=1))


# --------------------------------------------------------------------------- AUC


@dataclass(frozen=True)
class AUCResult:
    auc: float
    lower: float
    upper: float
    method: str
    level: float = 0.95
    variance: float = math.nan


def _placements(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong placement values: V10 per case (vs controls), V01 per control (vs cases)."""
    cases, controls = np.sort(p[y == 1]), np.sort(p[y == 0])
    below = np.searchsorted(controls, p[y == 1], side="left")
    equal = np.searchsorted(controls, p[y == 1], side="right") - below
    v10 = (below + 0.5 * equal) / controls.size
    above = cases.size - np.searchsorted(cases, p[y == 0], side="right")
    tied = np.searchsorted(cases, p[y == 0], side="right") - np.searchsorted(cases, p[y == 0], side="left")
    v01 = (above + 0.5 * tied) / cases.size
    return v10, v01


def auc(y, p) -> float:
    """Mann–Whitney AUC (ties ½); never flipped below 0.5."""
    y, p = _validate(y, p)
    v10, _ = _placements(y, p)
    return float(v10.mean())


def delong_variance(y, p) -> float:
    """DeLong variance of the AUC (pROC ``var(roc)``); 0 for a constant or perfectly separating p."""
    y, p = _validate(y, p)
    _require_two_per_class(y, "The DeLong variance")
    v10, v01 = _placements(y, p)
    return float(v10.var(ddof=1) / v10.size + v01.var(ddof=1) / v01.size)


def auc_ci(y, p, method: str = "delong", level: float = 0.95, *, n_boot: int = 2000, seed: int = 0) -> AUCResult:
    """AUC with a DeLong or stratified-bootstrap (percentile, seeded) confidence interval."""
    y, p = _validate(y, p)
    estimate = auc(y, p)
    z = stats.norm.ppf(0.5 + level / 2)
    if method == "delong":
        variance = delong_variance(y, p)
        half = z * math.sqrt(variance)
        return AUCResult(estimate, max(0.0, estimate - half), min(1.0, estimate + half), "delong", level, variance)
    if method == "bootstrap":
        rng = np.random.default_rng(seed)
        cases, controls = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        values = np.empty(n_boot)
        for b in range(n_boot):
            sample = np.concatenate([rng.choice(cases, cases.size), rng.choice(controls, controls.size)])
            values[b] = auc(y[sample], p[sample])
        lower, upper = np.quantile(values, [0.5 - level / 2, 0.5 + level / 2])
        return AUCResult(estimate, float(lower), float(upper), "bootstrap", level, float(values.var(ddof=1)))
    raise InputError("method must be 'delong' or 'bootstrap'.")


@dataclass(frozen=True)
class DeLongResult:
    auc1: float
    auc2: float
    z: float
    p: float
    var1: float = math.nan
    var2: float = math.nan
    cov12: float = math.nan
    se_diff: float = math.nan
    diff_ci: tuple[float, float] = (math.nan, math.nan)
    paired: bool = True
    df: float = math.inf  # reference distribution of z: normal (paired) or t with this df (unpaired)


def delong_test(y, p1, p2) -> DeLongResult:
    """Paired DeLong test of two correlated ROC curves on the same cases (Z > 0: p1 better)."""
    y, p1 = _validate(y, p1, name="p1")
    _, p2 = _validate(y, p2, name="p2")
    _require_two_per_class(y, "The DeLong test")
    a10, a01 = _placements(y, p1)
    b10, b01 = _placements(y, p2)
    s10 = np.cov(np.vstack([a10, b10]), ddof=1)
    s01 = np.cov(np.vstack([a01, b01]), ddof=1)
    s = s10 / a10.size + s01 / a01.size
    auc1, auc2 = float(a10.mean()), float(b10.mean())
    variance = s[0, 0] + s[1, 1] - 2 * s[0, 1]
    se = math.sqrt(variance) if variance > 0 else 0.0
    diff = auc1 - auc2
    z, p = _z_and_p(diff, se, f"The AUC difference ({auc1:.6g} − {auc2:.6g})",
                    "the placement values of both scores are constant (each score is constant or separates events "
                    "from non-events perfectly), so DeLong's variance is 0 (pROC reports Z = ±Inf, p = 0). Report "
                    "the two AUCs with their CIs instead, or compare with a bootstrap.")
    return DeLongResult(auc1, auc2, z, p, float(s[0, 0]), float(s[1, 1]), float(s[0, 1]), se,
                        (diff - Z975 * se, diff + Z975 * se))


def delong_test_unpaired(y1, p1, y2, p2) -> DeLongResult:
    """DeLong test of two independent ROC curves (e.g. two cohorts), as pROC
    ``roc.test(paired=FALSE, method="delong")``: ``z`` holds pROC's D = (AUC1 − AUC2)/√(V1 + V2), and
    ``p = 2·P(T > |D|)`` for T ~ t with the Welch–Satterthwaite ``df`` (V²/(V1²/(N1 − 1) + V2²/(N2 − 1)),
    N = cohort size). The CI of the difference uses the same t quantile."""
    y1, p1 = _validate(y1, p1, name="p1")
    y2, p2 = _validate(y2, p2, name="p2")
    _require_two_per_class(y1, "The unpaired DeLong test (first cohort)")
    _require_two_per_class(y2, "The unpaired DeLong test (second cohort)")
    a10, a01 = _placements(y1, p1)
    b10, b01 = _placements(y2, p2)
    auc1, auc2 = float(a10.mean()), float(b10.mean())
    var1 = float(a10.var(ddof=1) / a10.size + a01.var(ddof=1) / a01.size)
    var2 = float(b10.var(ddof=1) / b10.size + b01.var(ddof=1) / b01.size)
    total = var1 + var2
    se = math.sqrt(total)
    diff = auc1 - auc2
    if se == 0:
        z, p = _z_and_p(diff, se, f"The AUC difference ({auc1:.6g} − {auc2:.6g})",
                        "both cohorts' scores are constant or separate events from non-events perfectly, so both "
                        "DeLong variances are 0 (pROC reports D = NaN). Report the two AUCs instead.")
        return DeLongResult(auc1, auc2, z, p, var1, var2, 0.0, 0.0, (diff, diff), paired=False, df=math.nan)
    df = total**2 / (var1**2 / (y1.size - 1) + var2**2 / (y2.size - 1))
    z = diff / se
    half = stats.t.ppf(0.975, df) * se
    return DeLongResult(auc1, auc2, float(z), float(2 * stats.t.sf(abs(z), df)), var1, var2, 0.0, se,
                        (diff - half, diff + half), paired=False, df=float(df))


# -------------------------------------------------------------- threshold metrics


def wilson_ci(successes: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (NaN when total is 0)."""
    if total == 0:
        return (math.nan, math.nan)
    z = stats.norm.ppf(0.5 + level / 2)
    proportion = successes / total
    centre = (proportion + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(proportion * (1 - proportion) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (centre - half, centre + half)


@dataclass(frozen=True)
class ThresholdMetrics:
    threshold: float
    sensitivity: float
    specificity: float
    accuracy: float
    ppv: float
    npv: float
    f1: float
    sensitivity_ci: tuple[float, float]
    specificity_ci: tuple[float, float]
    accuracy_ci: tuple[float, float]
    ppv_ci: tuple[float, float]
    npv_ci: tuple[float, float]
    f1_ci: tuple[float, float]
    tied_thresholds: tuple[float, ...] = ()
    ci_method: str = "Wilson score (F1: stratified bootstrap percentile, 2000 resamples, seed 0)"
    counts: dict[str, int] = field(default_factory=dict)


def youden_thresholds(y, p) -> list[tuple[float, float, float]]:
    """All (threshold, sensitivity, specificity) maximizing sens + spec, as pROC does."""
    y, p = _validate(y, p)
    scores = np.unique(p)
    thresholds = np.concatenate([[-np.inf], (scores[:-1] + scores[1:]) / 2, [np.inf]])
    cases, controls = np.sort(p[y == 1]), np.sort(p[y == 0])
    # tp / n_cases and tn / n_controls, the same float operations as pROC, so exact ties agree with R
    sensitivity = (cases.size - np.searchsorted(cases, thresholds, side="left")) / cases.size
    specificity = np.searchsorted(controls, thresholds, side="left") / controls.size
    total = sensitivity + specificity
    best = np.flatnonzero(total == total.max())
    return [(float(thresholds[i]), float(sensitivity[i]), float(specificity[i])) for i in best]


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan


def threshold_metrics(y, p, threshold: float | None = None, level: float = 0.95, *, n_boot: int = 2000,
                      seed: int = 0) -> ThresholdMetrics:
    """Sensitivity, specificity, accuracy, PPV, NPV and F1 at ``threshold`` (positive when
    p ≥ threshold), or at the Youden-optimal threshold when none is given.

    A ratio whose denominator is 0 (e.g. PPV when nobody is test-positive) is NaN with a NaN CI.
    With a constant ``p`` the Youden cut-off is undefined and a ``ValueError`` asks for an explicit
    threshold."""
    y, p = _validate(y, p)
    tied: tuple[float, ...] = ()
    if threshold is not None and math.isnan(threshold):
        raise InputError("threshold is NaN; give a number, or None for the Youden cut-off.")
    if threshold is None and p.min() == p.max():
        raise InputError(f"p is constant (every value is {p[0]:.6g}), so no cut-off separates events from non-events "
                         "and the Youden threshold is undefined (pROC's coords('best') returns -Inf and Inf). Pass "
                         "threshold= explicitly, or check that the model's predictions are not all the same.")
    if threshold is None:
        optima = youden_thresholds(y, p)
        tied = tuple(t for t, _, _ in optima)
        threshold = optima[0][0]
    predicted = p >= threshold
    tp = int((predicted & (y == 1)).sum())
    fp = int((predicted & (y == 0)).sum())
    fn = int((~predicted & (y == 1)).sum())
    tn = int((~predicted & (y == 0)).sum())
    n = y.size

    def ratio(a: int, b: int) -> float:
        return a / b if b else math.nan

    rng = np.random.default_rng(seed)
    cases, controls = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    f1_values = []
    for _ in range(n_boot):
        sample = np.concatenate([rng.choice(cases, cases.size), rng.choice(controls, controls.size)])
        pred, truth = predicted[sample], y[sample]
        f1_values.append(_f1(int((pred & (truth == 1)).sum()), int((pred & (truth == 0)).sum()),
                             int((~pred & (truth == 1)).sum())))
    f1_values = np.array(f1_values)
    f1_values = f1_values[np.isfinite(f1_values)]
    f1_ci = tuple(np.quantile(f1_values, [0.5 - level / 2, 0.5 + level / 2])) if f1_values.size else (
        math.nan, math.nan)
    return ThresholdMetrics(
        threshold=float(threshold), sensitivity=ratio(tp, tp + fn), specificity=ratio(tn, tn + fp),
        accuracy=(tp + tn) / n, ppv=ratio(tp, tp + fp), npv=ratio(tn, tn + fn), f1=_f1(tp, fp, fn),
        sensitivity_ci=wilson_ci(tp, tp + fn, level), specificity_ci=wilson_ci(tn, tn + fp, level),
        accuracy_ci=wilson_ci(tp + tn, n, level), ppv_ci=wilson_ci(tp, tp + fp, level),
        npv_ci=wilson_ci(tn, tn + fn, level), f1_ci=(float(f1_ci[0]), float(f1_ci[1])), tied_thresholds=tied,
        counts={"tp": tp, "fp": fp, "fn": fn, "tn": tn})


# ------------------------------------------------------------------------ calibration


def brier(y, p) -> float:
    """Mean squared difference between outcome and predicted probability."""
    y, p = _validate(y, p, probabilities=True)
    return float(np.mean((p - y) ** 2))


def _logit(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(clipped / (1 - clipped))


@dataclass(frozen=True)
class CalibrationResult:
    bins: list[dict[str, float]]
    intercept: float  # calibration-in-the-large: logit(P(y)) = a + logit(p)
    intercept_ci: tuple[float, float]
    slope: float  # logit(P(y)) = a + b·logit(p)
    slope_ci: tuple[float, float]


def calibration(y, p, bins: int = 10) -> CalibrationResult:
    """Observed vs predicted per quantile bin, calibration intercept (in the large) and slope.

    Raises ``ValueError`` when the slope does not exist: a constant ``p`` (logit p has no spread) or a ``p``
    that separates events from non-events (every event's p ≥ every non-event's p, or the reverse), where
    the maximum-likelihood slope is infinite."""
    y, p = _validate(y, p, probabilities=True)
    if p.min() == p.max():
        raise InputError(f"The calibration slope needs at least two distinct predicted probabilities, but p is "
                         f"constant (every value is {p[0]:.6g}), so the slope of y on logit(p) is undefined. Use "
                         "calibration_bins() and brier() for such a model.")
    events, nonevents = p[y == 1], p[y == 0]
    if nonevents.max() <= events.min() or events.max() <= nonevents.min():
        raise InputError("p separates events from non-events perfectly (no overlap between their predicted "
                         "probabilities), so the maximum-likelihood calibration slope is infinite (R's glm warns "
                         "'fitted probabilities numerically 0 or 1'). Use calibration_bins() and brier() instead.")
    logit = _logit(p)
    try:
        in_the_large = logistic_mle(np.ones((y.size, 1)), y, logit)
        slope_fit = logistic_mle(np.column_stack([np.ones(y.size), logit]), y)
    except np.linalg.LinAlgError as error:
        raise InputError(f"The calibration fit of y on logit(p) failed ({error}); p is (nearly) degenerate.") from error
    a, se_a = in_the_large.beta[0], in_the_large.se[0]
    b, se_b = slope_fit.beta[1], slope_fit.se[1]
    if not np.isfinite([a, se_a, b, se_b]).all():
        raise InputError("The calibration fit of y on logit(p) did not give finite estimates; p is (nearly) "
                         "degenerate.")
    return CalibrationResult(calibration_bins(y, p, bins), float(a), (a - Z975 * se_a, a + Z975 * se_a), float(b),
                             (b - Z975 * se_b, b + Z975 * se_b))


def calibration_bins(y, p, bins: int = 10) -> list[dict[str, float]]:
    """Observed event rate vs mean predicted probability per quantile bin (the calibration plot's points);
    a constant ``p`` gives one bin."""
    y, p = _validate(y, p, probabilities=True)
    return [{"n": g["n"], "mean_predicted": g["expected_events"] / g["n"], "observed": g["observed_events"] / g["n"],
             "lower": g["lower"], "upper": g["upper"]} for g in _risk_groups(y, p, bins)]


def _risk_groups(y: np.ndarray, p: np.ndarray, groups: int) -> list[dict[str, float]]:
    """Groups by type-7 quantile breaks of p, (a, b] with the first closed (R's cut)."""
    breaks = np.unique(np.quantile(p, np.linspace(0, 1, groups + 1)))
    if breaks.size == 1:  # constant p: one group (R's cut() would stop)
        breaks = np.array([breaks[0], breaks[0]])
    index = np.clip(np.searchsorted(breaks, p, side="left") - 1, 0, None)
    index[p == breaks[0]] = 0
    table = []
    for g in range(len(breaks) - 1):
        member = index == g
        if not member.any():
            continue
        table.append({"n": int(member.sum()), "observed_events": float(y[member].sum()),
                      "expected_events": float(p[member].sum()), "observed_nonevents": float((1 - y[member]).sum()),
                      "expected_nonevents": float((1 - p[member]).sum()), "lower": float(breaks[g]),
                      "upper": float(breaks[g + 1])})
    return table


@dataclass(frozen=True)
class HosmerLemeshowResult:
    statistic: float
    df: int
    p: float
    groups: list[dict[str, float]]


def hosmer_lemeshow(y, p, groups: int = 10) -> HosmerLemeshowResult:
    """Hosmer–Lemeshow goodness of fit over deciles of predicted risk (R-CONVENTIONS)."""
    y, p = _validate(y, p, probabilities=True)
    table = _risk_groups(y, p, groups)
    if len(table) < 3:
        raise InputError(f"Hosmer–Lemeshow needs at least 3 distinct risk groups (df = groups − 2), but p has too few "
                         f"distinct values ({np.unique(p).size}) to make them. Report calibration_bins() instead.")
    for g in table:
        if g["expected_events"] <= 0 or g["expected_nonevents"] <= 0:
            kind = "events (every p in it is 0)" if g["expected_events"] <= 0 else "non-events (every p in it is 1)"
            raise InputError(f"The Hosmer–Lemeshow group [{g['lower']:.6g}, {g['upper']:.6g}] has 0 expected {kind}, "
                             "so its χ² term is undefined. Predicted probabilities of exactly 0 or 1 cannot be tested; "
                             "bound them away from 0 and 1 (e.g. clip to [1e-6, 1 − 1e-6]).")
    statistic = sum((g["observed_events"] - g["expected_events"]) ** 2 / g["expected_events"]
                    + (g["observed_nonevents"] - g["expected_nonevents"]) ** 2 / g["expected_nonevents"]
                    for g in table)
    df = len(table) - 2
    return HosmerLemeshowResult(float(statistic), df, float(stats.chi2.sf(statistic, df)), table)


# ------------------------------------------------------------------ decision curves


DEFAULT_THRESHOLDS = np.arange(1, 100) / 100


@dataclass(frozen=True)
class DecisionCurve:
    thresholds: np.ndarray
    net_benefit: np.ndarray
    treat_all: np.ndarray
    treat_none: np.ndarray
    true_positives: np.ndarray
    false_positives: np.ndarray


def decision_curve(y, p, thresholds=DEFAULT_THRESHOLDS) -> DecisionCurve:
    """Net benefit of treating when p ≥ pt, versus treat-all and treat-none."""
    y, p = _validate(y, p, probabilities=True)
    pt = np.asarray(thresholds, dtype=float)
    if np.any((pt <= 0) | (pt >= 1)):
        raise InputError("Decision-curve thresholds must lie strictly between 0 and 1.")
    n, prevalence = y.size, y.mean()
    positive = p[None, :] >= pt[:, None]
    tp = (positive & (y == 1)).sum(axis=1)
    fp = (positive & (y == 0)).sum(axis=1)
    odds = pt / (1 - pt)
    return DecisionCurve(pt, tp / n - fp / n * odds, prevalence - (1 - prevalence) * odds, np.zeros(pt.size), tp, fp)


@dataclass(frozen=True)
class ClinicalImpact:
    thresholds: np.ndarray
    high_risk: np.ndarray  # per ``population`` people
    true_positives: np.ndarray
    population: int


def clinical_impact(y, p, thresholds=DEFAULT_THRESHOLDS, population: int = 1000) -> ClinicalImpact:
    """Number classified high risk (p ≥ pt) and true positives among them, per ``population``."""
    curve = decision_curve(y, p, thresholds)
    y = np.asarray(y)
    scale = population / y.size
    return ClinicalImpact(curve.thresholds, (curve.true_positives + curve.false_positives) * scale,
                          curve.true_positives * scale, population)


# ------------------------------------------------------------------------ NRI / IDI


@dataclass(frozen=True)
class NriIdiResult:
    nri: float
    nri_z: float
    nri_p: float
    idi: float
    idi_z: float
    idi_p: float
    nri_events: float
    nri_nonevents: float
    nri_se: float
    idi_se: float
    nri_ci: tuple[float, float]
    idi_ci: tuple[float, float]
    categorical_nri: float | None = None
    categorical_nri_events: float | None = None
    categorical_nri_nonevents: float | None = None
    categorical_nri_se: float | None = None  # Pencina et al. (2008)
    categorical_nri_z: float | None = None
    categorical_nri_p: float | None = None
    cutoffs: tuple[float, ...] | None = None


def nri_idi(y, p_old, p_new, cutoffs: tuple[float, ...] | None = None) -> NriIdiResult:
    """Continuous NRI and IDI (Hmisc ``improveProb``); categorical NRI for risk ``cutoffs``.

    Categorical NRI: risk categories are ``[-inf, c1), [c1, c2), …, [ck, inf)`` (a risk equal to a cut-off
    belongs to the higher category, R's ``findInterval``); NRI = (P(up|event) − P(down|event)) +
    (P(down|non-event) − P(up|non-event)) with Pencina et al. (2008)'s
    z = NRI / √((P(up|ev) + P(down|ev))/n_ev + (P(up|ne) + P(down|ne))/n_ne).

    A standard error of 0 with an estimate of 0 (e.g. identical predictions, or nobody changing category)
    gives z = 0 and p = 1; a standard error of 0 with a non-zero estimate raises ``ValueError``."""
    y, p_old = _validate(y, p_old, probabilities=True, name="p_old")
    _, p_new = _validate(y, p_new, probabilities=True, name="p_new")
    _require_two_per_class(y, "NRI/IDI")
    d = p_new - p_old
    events, nonevents = y == 1, y == 0
    n_ev, n_ne = int(events.sum()), int(nonevents.sum())
    up_ev, down_ev = int((d[events] > 0).sum()), int((d[events] < 0).sum())
    up_ne, down_ne = int((d[nonevents] > 0).sum()), int((d[nonevents] < 0).sum())
    nri_ev = (up_ev - down_ev) / n_ev
    nri_ne = (down_ne - up_ne) / n_ne
    nri = nri_ev + nri_ne
    v_ev = (up_ev + down_ev) / n_ev**2 - (up_ev - down_ev) ** 2 / n_ev**3
    v_ne = (up_ne + down_ne) / n_ne**2 - (up_ne - down_ne) ** 2 / n_ne**3
    nri_se = math.sqrt(max(v_ev + v_ne, 0.0))
    mean_ev, var_ev = _mean_var(d[events])
    mean_ne, var_ne = _mean_var(d[nonevents])
    idi = mean_ev - mean_ne
    idi_se = math.sqrt(var_ev / n_ev + var_ne / n_ne)
    nri_z, nri_p = _z_and_p(nri, nri_se, "The continuous NRI",
                            "every event moved the same way and every non-event moved the same way, so Hmisc's "
                            "variance estimate is 0 (Hmisc reports z = ±Inf). Use more cases or a bootstrap CI.")
    idi_z, idi_p = _z_and_p(idi, idi_se, "The IDI",
                            "p_new − p_old is constant within events and within non-events (e.g. both models are "
                            "constant), so its variance is 0. Check the models' predictions.")
    categorical: tuple = (None,) * 7
    if cutoffs is not None and len(cutoffs) > 0:
        cuts = np.sort(np.asarray(cutoffs, dtype=float).ravel())
        if not np.isfinite(cuts).all() or cuts.min() <= 0 or cuts.max() >= 1 or np.unique(cuts).size != cuts.size:
            raise InputError(f"Risk cut-offs must be distinct numbers strictly between 0 and 1 (got {list(cutoffs)}).")
        moved = np.searchsorted(cuts, p_new, side="right") - np.searchsorted(cuts, p_old, side="right")
        cat_up_ev, cat_down_ev = (moved[events] > 0).sum() / n_ev, (moved[events] < 0).sum() / n_ev
        cat_up_ne, cat_down_ne = (moved[nonevents] > 0).sum() / n_ne, (moved[nonevents] < 0).sum() / n_ne
        cat_ev, cat_ne = cat_up_ev - cat_down_ev, cat_down_ne - cat_up_ne
        cat_nri = cat_ev + cat_ne
        cat_se = math.sqrt((cat_up_ev + cat_down_ev) / n_ev + (cat_up_ne + cat_down_ne) / n_ne)
        cat_z, cat_p = _z_and_p(cat_nri, cat_se, "The categorical NRI", "nobody changed risk category.")
        categorical = (float(cat_nri), float(cat_ev), float(cat_ne), cat_se, cat_z, cat_p,
                       tuple(float(c) for c in cuts))
    return NriIdiResult(float(nri), nri_z, nri_p, float(idi), idi_z, idi_p, float(nri_ev), float(nri_ne), nri_se,
                        idi_se, (nri - Z975 * nri_se, nri + Z975 * nri_se), (idi - Z975 * idi_se, idi + Z975 * idi_se),
                        *categorical)
