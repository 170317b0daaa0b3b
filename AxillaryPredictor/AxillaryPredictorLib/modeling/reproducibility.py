"""Reproducibility of features between two readers (or sessions): ICC and an ICC filter.

``icc(reader1, reader2)`` gives psych::ICC's two-way ANOVA estimates (``lmer=FALSE``):

- ICC(2,1) absolute agreement = (MSB − MSE) / (MSB + (k − 1)·MSE + k·(MSJ − MSE)/n), CI by
  McGraw & Wong with Satterthwaite degrees of freedom;
- ICC(3,1) consistency = (MSB − MSE) / (MSB + (k − 1)·MSE), F-based CI;

with MSB (subjects), MSJ (raters), MSE (residual) mean squares, k = 2 raters, n subjects.
The studies keep features with ICC ≥ 0.75 or 0.8 (``ICCFilter``): between two readers (inter-observer)
and, for Zhang et al., also between the first reader and that reader's repeat segmentation two weeks
later (intra-observer); ``reliability_table`` holds both, one row per feature and comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.validation import check_is_fitted

from AxillaryPredictorLib.errors import InputError


@dataclass(frozen=True)
class ICCResult:
    icc2_1: float
    icc2_1_ci: tuple[float, float]
    icc3_1: float
    icc3_1_ci: tuple[float, float]
    f: float
    df1: int
    df2: int
    p: float
    icc1_1: float


def _mean_squares(data: np.ndarray) -> tuple[float, float, float, float]:
    n, k = data.shape
    grand = data.mean()
    ss_subjects = k * ((data.mean(axis=1) - grand) ** 2).sum()
    ss_raters = n * ((data.mean(axis=0) - grand) ** 2).sum()
    ss_total = ((data - grand) ** 2).sum()
    ss_error = ss_total - ss_subjects - ss_raters
    msb = ss_subjects / (n - 1)
    msj = ss_raters / (k - 1)
    mse = ss_error / ((n - 1) * (k - 1))
    msw = (ss_raters + ss_error) / (n * (k - 1))
    return msb, msj, mse, msw


def icc(reader1, reader2, level: float = 0.95) -> ICCResult:
    """ICC(2,1) and ICC(3,1) of one feature measured by two readers on the same subjects."""
    data = np.column_stack([np.asarray(reader1, float), np.asarray(reader2, float)])
    if data.shape[0] < 3 or not np.isfinite(data).all():
        raise InputError("ICC needs at least 3 subjects with finite values from both readers.")
    n, k = data.shape
    msb, msj, mse, msw = _mean_squares(data)
    alpha = 1 - level
    icc1 = (msb - msw) / (msb + (k - 1) * msw)
    icc2 = (msb - mse) / (msb + (k - 1) * mse + k * (msj - mse) / n)
    icc3 = (msb - mse) / (msb + (k - 1) * mse)
    f = msb / mse
    df1, df2 = n - 1, (n - 1) * (k - 1)
    p = float(stats.f.sf(f, df1, df2))
    f_low = f / stats.f.ppf(1 - alpha / 2, df1, df2)
    f_high = f * stats.f.ppf(1 - alpha / 2, df2, df1)
    icc3_ci = ((f_low - 1) / (f_low + k - 1), (f_high - 1) / (f_high + k - 1))
    fj = msj / mse
    vn = (k - 1) * (n - 1) * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    vd = (n - 1) * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    v = vn / vd
    f_upper = stats.f.ppf(1 - alpha / 2, n - 1, v)
    f_lower = stats.f.ppf(1 - alpha / 2, v, n - 1)
    low2 = n * (msb - f_upper * mse) / (f_upper * (k * msj + (k * n - k - n) * mse) + n * msb)
    high2 = n * (f_lower * msb - mse) / (k * msj + (k * n - k - n) * mse + n * f_lower * msb)
    return ICCResult(float(icc2), (float(low2), float(high2)), float(icc3), (float(icc3_ci[0]), float(icc3_ci[1])),
                     float(f), int(df1), int(df2), p, float(icc1))


def icc_table(reader1: pd.DataFrame, reader2: pd.DataFrame, id_column: str = "case_id") -> pd.DataFrame:
    """Per-feature ICCs of two readers' feature tables (matched on ``id_column``)."""
    a = reader1.set_index(id_column) if id_column in reader1.columns else reader1
    b = reader2.set_index(id_column) if id_column in reader2.columns else reader2
    common = a.index.intersection(b.index)
    if len(common) < 3:
        raise InputError(f"The two readers' tables share {len(common)} cases; ICC needs at least 3.")
    features = [c for c in a.columns if c in b.columns and pd.api.types.is_numeric_dtype(a[c])]
    rows = []
    for feature in features:
        x, y = a.loc[common, feature].to_numpy(float), b.loc[common, feature].to_numpy(float)
        if not (np.isfinite(x).all() and np.isfinite(y).all()) or np.ptp(np.concatenate([x, y])) == 0:
            rows.append({"feature": feature, "icc2_1": np.nan, "icc3_1": np.nan})
            continue
        result = icc(x, y)
        rows.append({"feature": feature, "icc2_1": result.icc2_1, "icc2_1_lower": result.icc2_1_ci[0],
                     "icc2_1_upper": result.icc2_1_ci[1], "icc3_1": result.icc3_1})
    return pd.DataFrame(rows)


COMPARISONS = ("inter", "intra")


def reliability_table(reader1: pd.DataFrame, reader2: pd.DataFrame | None = None,
                      reader1_repeat: pd.DataFrame | None = None, id_column: str = "case_id") -> pd.DataFrame:
    """``icc_table`` rows of the inter-observer (reader 1 vs reader 2) and intra-observer (reader 1 vs
    reader 1's repeat) comparisons given, with a ``comparison`` column ("inter" / "intra")."""
    tables = [icc_table(reader1, other, id_column).assign(comparison=name)
              for name, other in zip(COMPARISONS, (reader2, reader1_repeat), strict=True) if other is not None]
    if not tables:
        raise InputError("A reliability table needs a second reader's table, a repeat of the first reader's, or both.")
    return pd.concat(tables, ignore_index=True)


def comparisons_in(reliability: pd.DataFrame) -> list[str]:
    """The comparisons a reliability table holds (a table without a ``comparison`` column is inter-observer)."""
    if "comparison" not in reliability.columns:
        return ["inter"]
    return [c for c in COMPARISONS if c in set(reliability["comparison"])]


class ICCFilter(SelectorMixin, BaseEstimator):
    """Keep features whose ICC reaches ``threshold`` in every required comparison.

    ``reliability`` is a table from ``reliability_table`` (or ``icc_table``: inter-observer only),
    computed once on the reader study, which is separate from the outcome data, so no outcome
    information leaks. ``require``: the comparisons that must pass ("inter", "intra"); None: every
    comparison the table holds. A feature missing from a required comparison is dropped.
    ``passed_`` maps each comparison to its pass mask.
    """

    def __init__(self, reliability: pd.DataFrame | None = None, threshold: float = 0.75, kind: str = "icc2_1",
                 require: list[str] | None = None):
        self.reliability = reliability
        self.threshold = threshold
        self.kind = kind
        self.require = require

    def fit(self, X, y=None):
        names = np.asarray(getattr(X, "columns", [f"x{i}" for i in range(np.shape(X)[1])]), dtype=object)
        if self.reliability is None:
            raise InputError("ICCFilter needs the reliability table of a reader study (reproducibility."
                             "reliability_table).")
        table = self.reliability if "comparison" in self.reliability.columns else \
            self.reliability.assign(comparison="inter")
        required = list(self.require) if self.require is not None else comparisons_in(table)
        check_comparisons(required, comparisons_in(table))
        self.feature_names_in_ = names
        self.passed_ = {}
        for comparison in required:
            values = table[table["comparison"] == comparison].set_index("feature")[self.kind]
            self.passed_[comparison] = np.array([bool(values.get(n, np.nan) >= self.threshold) for n in names])
        self.support_ = np.logical_and.reduce(list(self.passed_.values()))
        return self

    def _get_support_mask(self):
        check_is_fitted(self, "support_")
        return self.support_


READER_OPTIONS = {"inter": "--reader2 (a second reader's feature table)",
                  "intra": "--reader1-repeat (the first reader's repeated segmentation)"}


def check_comparisons(required: list[str], available: list[str]) -> None:
    """InputError naming the reader tables to give when a required comparison is missing."""
    unknown = [c for c in required if c not in COMPARISONS]
    if unknown or not required:
        raise InputError(f"Unknown ICC comparison(s) {', '.join(unknown)}; use {' and/or '.join(COMPARISONS)}.")
    missing = [c for c in required if c not in available]
    if missing:
        raise InputError("The ICC filter needs " + " and ".join(f"{c}-observer ICCs: give {READER_OPTIONS[c]}"
                                                                 for c in missing) + ".")
