"""Agreement between two readers' categorical reads: Cohen's kappa, unweighted and weighted
(linear or quadratic), equal to R ``psych::cohen.kappa`` (see ``docs/evaluation.md``).

- Pairs with a missing read are dropped. Categories are the sorted union of both readers' values
  (numbers numerically, text by code point) unless ``levels`` gives the order; weights depend on it.
- Weights: quadratic w_ij = 1 − (i − j)²/(k − 1)² (psych's default), linear 1 − |i − j|/(k − 1).
- Unweighted kappa's variance is psych's ``var.kappa`` (Fleiss, Cohen & Everitt 1969, the
  large-sample variance), CI = κ ± z₀.₉₇₅·√var, clipped to [−1, 1] as psych does.
- Weighted kappa's variance is the same Fleiss–Cohen–Everitt formula with weights. psych 2.2.9's
  ``var.weighted`` differs: it multiplies row i of the weights by the row margin p_i. where the
  formula has Σ_i w_ij p_i., and can go negative (psych then reports 0 and a zero-width CI). Ours is
  the published formula; psych's value is kept as ``psych_weighted_variance`` for comparison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from AxillaryPredictorLib.errors import InputError

WEIGHTS = ("none", "linear", "quadratic")
CI_METHOD = "normal approximation with the Fleiss-Cohen-Everitt (1969) large-sample variance, clipped to [-1, 1]"


@dataclass(frozen=True)
class KappaResult:
    n: int
    levels: tuple[str, ...]
    kappa: float
    kappa_variance: float
    kappa_ci: tuple[float, float]
    weights: str
    weighted_kappa: float
    weighted_variance: float
    weighted_ci: tuple[float, float]
    psych_weighted_variance: float
    ci_method: str = CI_METHOD


def weight_matrix(k: int, weights: str) -> np.ndarray:
    if weights not in WEIGHTS:
        raise InputError(f"weights must be one of {', '.join(WEIGHTS)}, got '{weights}'.")
    distance = np.abs(np.subtract.outer(np.arange(k), np.arange(k))).astype(float)
    if weights == "none":
        return np.eye(k)
    power = 1 if weights == "linear" else 2
    return 1 - distance**power / (k - 1) ** power


def _fce_variance(p: np.ndarray, w: np.ndarray, n: int) -> float:
    """Fleiss, Cohen & Everitt (1969) large-sample variance of (weighted) kappa; p = cell proportions."""
    rows, columns = p.sum(axis=1), p.sum(axis=0)
    observed, chance = float((w * p).sum()), float((w * np.outer(rows, columns)).sum())
    kappa = (observed - chance) / (1 - chance)
    row_weights, column_weights = w @ columns, w.T @ rows
    spread = w - np.add.outer(row_weights, column_weights) * (1 - kappa)
    return float(((p * spread**2).sum() - (kappa - chance * (1 - kappa)) ** 2) / (n * (1 - chance) ** 2))


def _psych_weighted_variance(p: np.ndarray, w: np.ndarray, n: int) -> float:
    """psych 2.2.9's ``var.weighted`` (see module docstring), 0 when negative as psych reports it."""
    rows, columns = p.sum(axis=1), p.sum(axis=0)
    wpo, wpc = float((w * p).sum()), float((w * np.outer(rows, columns)).sum())
    column_weights = (w * columns[:, None]).sum(axis=0)
    row_weights = (w * rows[:, None]).sum(axis=1)
    value = (((p * (w * (1 - wpc) - np.add.outer(column_weights, row_weights) * (1 - wpo)) ** 2).sum()
              - (wpo * wpc - 2 * wpc + wpo) ** 2) / (n * (1 - wpc) ** 4))
    return max(float(value), 0.0) if math.isfinite(value) else 0.0


def _ci(estimate: float, variance: float, level: float) -> tuple[float, float]:
    half = stats.norm.ppf(0.5 + level / 2) * math.sqrt(max(variance, 0.0))
    return (max(-1.0, estimate - half), min(1.0, estimate + half))


def _label(value) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _reads(reader1, reader2, levels) -> tuple[np.ndarray, tuple[str, ...]]:
    """The k × k table of paired reads (complete pairs) and its category labels."""
    a, b = pd.Series(list(reader1)), pd.Series(list(reader2))
    if a.size != b.size:
        raise InputError(f"The two readers must read the same cases ({a.size} vs {b.size} reads).")
    keep = a.notna() & b.notna()
    a, b = a[keep], b[keep]
    if a.empty:
        raise InputError("No case has reads from both readers.")
    if levels is None:
        values = pd.concat([a, b])
        numeric = pd.api.types.is_numeric_dtype(values)
        levels = [_label(v) for v in sorted(values.unique())] if numeric else sorted(map(str, values.unique()))
    levels = tuple(str(v) for v in levels)
    a, b = a.map(_label), b.map(_label)
    unknown = sorted((set(a) | set(b)) - set(levels))
    if unknown:
        raise InputError(f"Read(s) {', '.join(unknown)} are not among the levels {', '.join(levels)}.")
    index = {level: i for i, level in enumerate(levels)}
    table = np.zeros((len(levels), len(levels)))
    np.add.at(table, (a.map(index).to_numpy(), b.map(index).to_numpy()), 1)
    return table, levels


def cohen_kappa(reader1, reader2, *, weights: str = "quadratic", levels=None, level: float = 0.95) -> KappaResult:
    """Cohen's kappa of two readers' categorical reads, and its weighted form (see module docstring)."""
    table, labels = _reads(reader1, reader2, levels)
    if len(labels) < 2:
        raise InputError(f"Every read is '{labels[0]}': kappa needs at least two categories.")
    n = int(table.sum())
    p = table / n
    chance = float(np.outer(p.sum(axis=1), p.sum(axis=0)).trace())
    kappa = (float(np.trace(p)) - chance) / (1 - chance) if chance < 1 else math.nan
    w = weight_matrix(len(labels), weights)
    wpo, wpc = float((w * p).sum()), float((w * np.outer(p.sum(axis=1), p.sum(axis=0))).sum())
    weighted = (wpo - wpc) / (1 - wpc) if wpc < 1 else math.nan
    kappa_variance = _fce_variance(p, np.eye(len(labels)), n)
    weighted_variance = _fce_variance(p, w, n)
    return KappaResult(n, labels, kappa, kappa_variance, _ci(kappa, kappa_variance, level), weights, weighted,
                       weighted_variance, _ci(weighted, weighted_variance, level),
                       _psych_weighted_variance(p, w, n))


def kappa_table(reads1: pd.DataFrame, reads2: pd.DataFrame, columns: list[str], *,
                weights: str = "quadratic") -> pd.DataFrame:
    """One row of kappa statistics per column read by both readers (rows matched by case_id when present)."""
    if "case_id" in reads1.columns and "case_id" in reads2.columns:
        reads1, reads2 = reads1.set_index("case_id"), reads2.set_index("case_id")
        common = reads1.index.intersection(reads2.index)
        reads1, reads2 = reads1.loc[common], reads2.loc[common]
    rows = []
    for column in columns:
        if column not in reads1.columns or column not in reads2.columns:
            raise InputError(f"Column '{column}' is not in both readers' tables.")
        r = cohen_kappa(reads1[column], reads2[column], weights=weights)
        rows.append({"column": column, "n": r.n, "levels": " < ".join(r.levels), "kappa": r.kappa,
                     "kappa_lower": r.kappa_ci[0], "kappa_upper": r.kappa_ci[1], "weights": r.weights,
                     "weighted_kappa": r.weighted_kappa, "weighted_lower": r.weighted_ci[0],
                     "weighted_upper": r.weighted_ci[1], "ci_method": r.ci_method})
    return pd.DataFrame(rows)
