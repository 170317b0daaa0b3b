"""Two- and k-group tests with R's defaults (the tests behind ``table1``).

Each returns a ``GroupTest`` (test name, statistic, p). Conventions, checked against R fixtures
(``Testing/fixtures/clinical``):

- ``welch_t``: ``t.test(x ~ g)`` (Welch, ``var.equal = FALSE``); t = (mean₁ − mean₂)/se.
- ``mann_whitney``: ``wilcox.test(x ~ g)`` defaults: exact when both groups have < 50 values and
  there are no ties, else the normal approximation with continuity correction and tie-corrected
  variance; W = rank sum of the first group − n₁(n₁ + 1)/2.
- ``welch_anova`` / ``kruskal_wallis``: ``oneway.test`` (``var.equal = FALSE``) and ``kruskal.test``.
- ``chi_squared``: ``chisq.test(table)``: Yates' correction on 2 × 2 tables only.
- ``fisher_exact``: ``fisher.test(table)``: p = sum of the probabilities of the tables with the same
  margins that are at most as probable as the observed one (relative tolerance 1e-7), by full
  enumeration (R's network algorithm gives the same sum). Enumeration is limited to
  ``MAX_FISHER_TABLES`` tables (every 2 × c table of a clinical cohort fits; large r × c tables with
  r, c ≥ 3 may not): beyond it ``FisherTooLargeError`` is raised and ``table1`` falls back to χ², saying so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from AxillaryPredictorLib.errors import InputError

WELCH_T = "Welch two-sample t-test"
MANN_WHITNEY = "Wilcoxon rank-sum (Mann-Whitney U)"
WELCH_ANOVA = "Welch one-way ANOVA"
KRUSKAL = "Kruskal-Wallis rank-sum test"
CHI2_YATES = "Pearson chi-squared with Yates' continuity correction"
CHI2 = "Pearson chi-squared"
FISHER = "Fisher's exact test"

#: tables with more cells to enumerate than this are refused by ``fisher_exact``
MAX_FISHER_TABLES = 100_000


class FisherTooLargeError(InputError):
    """The table has too many tables with its margins to enumerate."""


@dataclass(frozen=True)
class GroupTest:
    test: str
    statistic: float
    p: float
    df: float = math.nan


def _groups(samples: list[np.ndarray], minimum: int, what: str) -> list[np.ndarray]:
    samples = [np.asarray(s, float) for s in samples]
    if any(s.size < minimum for s in samples):
        raise InputError(f"{what} needs at least {minimum} value(s) per group (sizes: "
                         f"{', '.join(str(s.size) for s in samples)}).")
    return samples


def welch_t(a, b) -> GroupTest:
    """Welch's t-test of two samples (R ``t.test``)."""
    a, b = _groups([a, b], 2, "The t-test")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0:
        raise InputError("The t-test is undefined: both groups are constant.")
    t = (a.mean() - b.mean()) / se
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    return GroupTest(WELCH_T, float(t), float(2 * stats.t.sf(abs(t), df)), float(df))


def mann_whitney(a, b) -> GroupTest:
    """Wilcoxon rank-sum test with R ``wilcox.test`` defaults (see module docstring)."""
    a, b = _groups([a, b], 1, "The Wilcoxon rank-sum test")
    ranks = stats.rankdata(np.concatenate([a, b]))
    w = float(ranks[: a.size].sum() - a.size * (a.size + 1) / 2)
    _, ties = np.unique(ranks, return_counts=True)
    if a.size < 50 and b.size < 50 and (ties == 1).all():
        p = stats.mannwhitneyu(a, b, alternative="two-sided", method="exact").pvalue
        return GroupTest(MANN_WHITNEY, w, float(min(1.0, p)))
    n = a.size + b.size
    z = w - a.size * b.size / 2
    sigma = math.sqrt(a.size * b.size / 12 * ((n + 1) - float((ties**3 - ties).sum()) / (n * (n - 1))))
    if sigma == 0:
        raise InputError("The Wilcoxon rank-sum test is undefined: every value is the same.")
    z = (z - math.copysign(0.5, z) if z != 0 else 0.0) / sigma
    return GroupTest(MANN_WHITNEY, w, float(2 * min(stats.norm.cdf(z), stats.norm.sf(z))))


def welch_anova(samples: list) -> GroupTest:
    """Welch's one-way ANOVA (R ``oneway.test(var.equal = FALSE)``)."""
    samples = _groups(samples, 2, "Welch's ANOVA")
    k = len(samples)
    n = np.array([s.size for s in samples], float)
    means = np.array([s.mean() for s in samples])
    variances = np.array([s.var(ddof=1) for s in samples])
    if (variances == 0).any():
        raise InputError("Welch's ANOVA is undefined when a group is constant.")
    weights = n / variances
    total = weights.sum()
    centre = (weights * means).sum() / total
    tmp = ((1 - weights / total) ** 2 / (n - 1)).sum() / (k**2 - 1)
    statistic = ((weights * (means - centre) ** 2).sum() / (k - 1)) / (1 + 2 * (k - 2) * tmp)
    df2 = 1 / (3 * tmp)
    return GroupTest(WELCH_ANOVA, float(statistic), float(stats.f.sf(statistic, k - 1, df2)), float(df2))


def kruskal_wallis(samples: list) -> GroupTest:
    """Kruskal–Wallis rank-sum test, tie-corrected (R ``kruskal.test``)."""
    samples = _groups(samples, 1, "The Kruskal-Wallis test")
    result = stats.kruskal(*samples)
    return GroupTest(KRUSKAL, float(result.statistic), float(result.pvalue), float(len(samples) - 1))


def expected_counts(table) -> np.ndarray:
    table = np.asarray(table, float)
    return np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()


def _check_table(table) -> np.ndarray:
    table = np.asarray(table, float)
    if table.ndim != 2 or min(table.shape) < 2:
        raise InputError("A contingency test needs at least 2 levels and 2 groups with observations.")
    if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
        raise InputError("A contingency table has an empty row or column; drop levels or groups without cases.")
    return table


def chi_squared(table) -> GroupTest:
    """Pearson's χ² test (R ``chisq.test``): Yates' correction for 2 × 2 tables."""
    table = _check_table(table)
    expected = expected_counts(table)
    difference = np.abs(table - expected)
    name = CHI2
    if table.shape == (2, 2):
        difference = difference - min(0.5, float(difference.min()))
        name = CHI2_YATES
    statistic = float((difference**2 / expected).sum())
    df = (table.shape[0] - 1) * (table.shape[1] - 1)
    return GroupTest(name, statistic, float(stats.chi2.sf(statistic, df)), float(df))


def _compositions(total: int, caps: np.ndarray):
    """Every split of ``total`` into len(caps) non-negative parts with part i ≤ caps[i]."""
    if caps.size == 1:
        if total <= caps[0]:
            yield (total,)
        return
    rest = int(caps[1:].sum())
    for first in range(max(0, total - rest), min(total, int(caps[0])) + 1):
        for tail in _compositions(total - first, caps[1:]):
            yield (first, *tail)


def _log_probabilities(rows: np.ndarray, columns: np.ndarray) -> list[float]:
    """log P(table | margins) for every table with these margins (columns filled one by one)."""
    results: list[float] = []
    base = float(special.gammaln(rows + 1).sum() + special.gammaln(columns + 1).sum()
                 - special.gammaln(rows.sum() + 1))

    def fill(j: int, remaining: np.ndarray, log_p: float) -> None:
        if len(results) > MAX_FISHER_TABLES:
            raise FisherTooLargeError(f"Fisher's exact test: more than {MAX_FISHER_TABLES} tables share these "
                                      "margins, too many to enumerate; use the chi-squared test.")
        if j == columns.size - 1:
            results.append(log_p - float(special.gammaln(remaining + 1).sum()))
            return
        for cells in _compositions(int(columns[j]), remaining):
            cells = np.array(cells)
            fill(j + 1, remaining - cells, log_p - float(special.gammaln(cells + 1).sum()))

    fill(0, rows.astype(int), base)
    return results


def fisher_exact(table) -> GroupTest:
    """Fisher's exact test of an r × c table, two-sided as R ``fisher.test``."""
    table = _check_table(table).astype(int)
    rows, columns = table.sum(axis=1), table.sum(axis=0)
    observed = float(special.gammaln(rows + 1).sum() + special.gammaln(columns + 1).sum()
                     - special.gammaln(table.sum() + 1) - special.gammaln(table + 1).sum())
    log_p = np.array(_log_probabilities(rows, columns))
    p = float(np.exp(log_p[log_p <= observed + math.log1p(1e-7)]).sum())
    return GroupTest(FISHER, math.nan, min(1.0, p))
