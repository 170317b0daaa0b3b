"""The studies' clinical tables: baseline characteristics (Table 1) and univariable /
multivariable logistic odds ratios (Table 2), equal to R (see ``docs/clinical-statistics.md``).

- Variable types: a numeric column with more than 2 distinct values is continuous; any other
  column (text, or numeric with ≤ 2 distinct values) is categorical. Levels are sorted (numbers
  numerically, text by code point); the first is the reference of the logistic models.
- Continuous summaries: mean ± SD (sample SD) with Welch's t-test, or median [Q1; Q3] (R's
  default type-7 quantiles) with the Wilcoxon rank-sum test. ``continuous="auto"`` chooses per
  variable by Shapiro–Wilk in every group (R ``shapiro.test``, groups of 3–5000 non-constant
  values): median [IQR] when any group has p < 0.05. With more than two groups: Welch's ANOVA or
  Kruskal–Wallis.
- Categorical: n (%) per group (percent of the group's non-missing values); Fisher's exact test
  when any expected count is < 5 (the condition under which R's ``chisq.test`` warns), else
  Pearson's χ² (Yates' correction for 2 × 2).
- Missing values: every test and summary uses the complete cases of its variable (R's default);
  the ``missing`` column counts the others. Rows without an outcome are dropped.
- Odds ratios: ``glm(y ~ x, binomial)`` by maximum likelihood, Wald CI exp(β ± z₀.₉₇₅·SE) (R
  ``confint.default``) and Wald p (``summary(glm)``), complete cases of the model's variables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from AxillaryPredictorLib.errors import InputError
from AxillaryPredictorLib.evaluation import group_tests as T
from AxillaryPredictorLib.evaluation.glm import logistic_mle

CONTINUOUS_MODES = ("auto", "normal", "nonnormal")
#: cohorts are listed in this order (others after them, sorted)
COHORT_ORDER = ("train", "training", "validation", "internal", "test", "external", "prospective")
Z975 = stats.norm.ppf(0.975)


def is_categorical(values: pd.Series) -> bool:
    """Text columns and numeric columns with ≤ 2 distinct values are categorical."""
    return not pd.api.types.is_numeric_dtype(values) or values.dropna().nunique() <= 2


def as_categorical(frame: pd.DataFrame, names: list[str] | None) -> pd.DataFrame:
    """``frame`` with the columns ``names`` (e.g. numeric codes such as grade 1/2/3) made categorical:
    their values become text labels, sorted numerically when they are numbers."""
    if not names:
        return frame
    absent = [n for n in names if n not in frame.columns]
    if absent:
        raise InputError(f"Categorical column(s) not in the clinical table: {', '.join(absent)}.")
    frame = frame.copy()
    for name in names:
        values = frame[name]
        if pd.api.types.is_numeric_dtype(values):
            order = {_label(v): i for i, v in enumerate(sorted(values.dropna().unique()))}
            frame[name] = pd.Categorical(values.map(lambda v: v if pd.isna(v) else _label(v)), categories=list(order))
        else:
            frame[name] = values.astype(object)
    return frame


def levels(values: pd.Series) -> list:
    """Sorted distinct non-missing values (numbers numerically, text by code point; a categorical column
    in its categories' order)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.dropna().astype(str))
        return [str(c) for c in values.cat.categories if str(c) in present]
    distinct = values.dropna().unique().tolist()
    return sorted(distinct) if pd.api.types.is_numeric_dtype(values) else sorted(map(str, distinct))


def _label(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _column(group: str, value) -> str:
    """The summary column of one group, e.g. ``aln=1``."""
    return f"{group}={_label(value)}"


def is_normal(samples: list[np.ndarray], alpha: float = 0.05) -> bool:
    """False when a group's Shapiro–Wilk p < alpha (groups of 3–5000 non-constant values are tested)."""
    for sample in samples:
        if 3 <= sample.size <= 5000 and sample.min() != sample.max() and stats.shapiro(sample).pvalue < alpha:
            return False
    return True


def _format(value: float, digits: int) -> str:
    return f"{value:.{digits}f}"


def continuous_test(samples: list[np.ndarray], normal: bool) -> T.GroupTest:
    if len(samples) == 2:
        return T.welch_t(*samples) if normal else T.mann_whitney(*samples)
    return T.welch_anova(samples) if normal else T.kruskal_wallis(samples)


def categorical_test(table: np.ndarray) -> T.GroupTest:
    """Fisher's exact test when an expected count is below 5, else χ² (Yates for 2 × 2)."""
    if (T.expected_counts(table) < 5).any():
        try:
            return T.fisher_exact(table)
        except T.FisherTooLargeError:
            chi = T.chi_squared(table)
            return T.GroupTest(f"{chi.test} (Fisher's exact test: table too large to enumerate)", chi.statistic,
                               chi.p, chi.df)
    return T.chi_squared(table)


@dataclass
class Table1:
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _test_cells(test: T.GroupTest | None, problem: str) -> dict:
    if test is None:
        return {"test": "", "statistic": math.nan, "df": math.nan, "p": math.nan, "problem": problem}
    return {"test": test.test, "statistic": test.statistic, "df": test.df, "p": test.p, "problem": ""}


def _attempt(function, *args) -> tuple[T.GroupTest | None, str]:
    try:
        return function(*args), ""
    except ValueError as error:
        return None, str(error)


def _continuous_rows(name: str, values: pd.Series, groups: pd.Series, labels: list, mode: str,
                     digits: int) -> list[dict]:
    keep = values.notna()
    samples = [values[keep & (groups == g)].to_numpy(float) for g in labels]
    normal = mode == "normal" or (mode == "auto" and is_normal(samples))
    row = {"variable": name, "level": "", "kind": "continuous", "summary": "mean ± SD" if normal else "median [IQR]",
           "missing": int((~keep).sum())}
    for label, sample in zip(labels, samples, strict=True):
        row[_column(groups.name, label)] = _describe(sample, normal, digits)
    row["overall"] = _describe(values[keep].to_numpy(float), normal, digits)
    return [{**row, **_test_cells(*_attempt(continuous_test, samples, normal))}]


def _describe(sample: np.ndarray, normal: bool, digits: int) -> str:
    if sample.size == 0:
        return ""
    if normal:
        sd = sample.std(ddof=1) if sample.size > 1 else math.nan
        return f"{_format(sample.mean(), digits)} ± {_format(sd, digits)}"
    q1, median, q3 = np.quantile(sample, [0.25, 0.5, 0.75])
    return f"{_format(median, digits)} [{_format(q1, digits)}; {_format(q3, digits)}]"


def _categorical_rows(name: str, values: pd.Series, groups: pd.Series, labels: list, digits: int) -> list[dict]:
    keep = values.notna()
    categories = levels(values)
    text = values[keep].map(_label) if pd.api.types.is_numeric_dtype(values) else values[keep].astype(str)
    names = [_label(c) for c in categories]
    table = np.array([[int(((text == c) & (groups[keep] == g)).sum()) for g in labels] for c in names])
    present = table.sum(axis=0) > 0
    head = {"variable": name, "level": "", "kind": "categorical", "summary": "n (%)", "missing": int((~keep).sum())}
    rows = [{**head, **_test_cells(*_attempt(categorical_test, table[:, present]))}]
    totals = table.sum(axis=0)
    for index, category in enumerate(names):
        row = {"variable": name, "level": category, "kind": "categorical", "summary": "n (%)"}
        for column, label in enumerate(labels):
            share = 100 * table[index, column] / totals[column] if totals[column] else math.nan
            row[_column(groups.name, label)] = f"{table[index, column]} ({_format(share, digits)}%)"
        row["overall"] = f"{table[index].sum()} ({_format(100 * table[index].sum() / table.sum(), digits)}%)"
        rows.append(row)
    return rows


def compare_groups(frame: pd.DataFrame, group: str, variables: list[str], *, continuous: str = "auto",
                   digits: int = 2) -> pd.DataFrame:
    """One Table 1 block: every variable summarised per value of ``group`` with its test."""
    if continuous not in CONTINUOUS_MODES:
        raise InputError(f"continuous must be one of {', '.join(CONTINUOUS_MODES)}, got '{continuous}'.")
    groups = frame[group]
    labels = levels(groups)
    if len(labels) < 2:
        raise InputError(f"'{group}' has a single value ({labels[0] if labels else 'none'}); a table by group needs "
                         "at least two.")
    rows = [{"variable": "N", "level": "", "kind": "", "summary": "n",
             **{_column(group, g): str(int((groups == g).sum())) for g in labels}, "overall": str(len(frame))}]
    for name in variables:
        values = frame[name]
        if is_categorical(values):
            rows += _categorical_rows(name, values, groups, labels, digits)
        else:
            rows += _continuous_rows(name, values.astype(float), groups, labels, continuous, digits)
    columns = ["variable", "level", "kind", "summary", *[_column(group, g) for g in labels], "overall", "missing",
               "test", "statistic", "df", "p", "problem"]
    table = pd.DataFrame(rows).reindex(columns=columns)
    table["missing"] = table["missing"].astype("Int64")
    return table


def _outcome_frame(frame: pd.DataFrame, outcome: str, notes: list[str]) -> pd.DataFrame:
    if outcome not in frame.columns:
        raise InputError(f"No outcome column '{outcome}'; columns: {', '.join(map(str, frame.columns))}.")
    missing = frame[outcome].isna()
    if missing.any():
        notes.append(f"{int(missing.sum())} case(s) without an outcome were left out.")
    return frame[~missing]


def table1(frame: pd.DataFrame, outcome: str, *, variables: list[str] | None = None, cohort: str | None = None,
           continuous: str = "auto", digits: int = 2,
           categorical: list[str] | None = None) -> tuple[Table1, Table1 | None]:
    """Baseline characteristics by outcome (per cohort when ``cohort`` names a column), and, with a
    cohort column, a second table comparing the cohorts. ``categorical`` forces columns to be categorical."""
    notes: list[str] = []
    frame = as_categorical(_outcome_frame(frame, outcome, notes), categorical)
    skip = {outcome, cohort, "case_id"}
    variables = variables or [c for c in frame.columns if c not in skip]
    absent = [v for v in variables if v not in frame.columns]
    if absent:
        raise InputError(f"Variable(s) not in the clinical table: {', '.join(absent)}.")
    if cohort is None:
        return Table1(compare_groups(frame, outcome, variables, continuous=continuous, digits=digits), notes), None
    if cohort not in frame.columns:
        raise InputError(f"No cohort column '{cohort}' in the clinical table.")
    names = frame[cohort].astype(str)
    order = sorted(names.unique(),
                   key=lambda n: (COHORT_ORDER.index(n.lower()) if n.lower() in COHORT_ORDER else 99, n))
    blocks = []
    for name in order:
        block = compare_groups(frame[names == name], outcome, variables, continuous=continuous, digits=digits)
        blocks.append(block.assign(cohort=name)[["cohort", *block.columns]])
    by_cohort = compare_groups(frame.assign(**{cohort: pd.Categorical(names, categories=order)}), cohort, variables,
                               continuous=continuous, digits=digits)
    return Table1(pd.concat(blocks, ignore_index=True), notes), Table1(by_cohort, list(notes))


# ------------------------------------------------------------------ logistic odds ratios


def design(frame: pd.DataFrame, variables: list[str]) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Design columns (no intercept) and their (variable, level) labels; categorical variables get one
    indicator per non-reference level (the first sorted level is the reference), as R's treatment contrasts."""
    columns, labels = {}, []
    for name in variables:
        values = frame[name]
        if not is_categorical(values):
            columns[name] = values.astype(float)
            labels.append((name, ""))
            continue
        categories = levels(values)
        text = values.map(lambda v: v if pd.isna(v) else _label(v))
        for category in map(_label, categories[1:]):
            indicator = (text.astype(object) == category).astype(float).where(text.notna())
            columns[f"{name}={category}"] = indicator
            labels.append((name, category))
    return pd.DataFrame(columns, index=frame.index), labels


def odds_ratios(frame: pd.DataFrame, outcome: str, variables: list[str]) -> pd.DataFrame:
    """One logistic model of ``outcome`` on ``variables`` (complete cases): OR, Wald 95% CI and p per term."""
    x, labels = design(frame, variables)
    keep = x.notna().all(axis=1) & frame[outcome].notna()
    y = frame.loc[keep, outcome].to_numpy(float)
    if not np.isin(y, (0, 1)).all() or y.min() == y.max():
        raise InputError(f"The outcome '{outcome}' must be 0/1 with both values present among complete cases.")
    fit = logistic_mle(np.column_stack([np.ones(int(keep.sum())), x[keep].to_numpy(float)]), y)
    beta, se = fit.beta[1:], fit.se[1:]
    return pd.DataFrame({"variable": [v for v, _ in labels], "level": [lv for _, lv in labels],
                         "or": np.exp(beta), "ci_lower": np.exp(beta - Z975 * se), "ci_upper": np.exp(beta + Z975 * se),
                         "p": 2 * stats.norm.sf(np.abs(beta / se)), "beta": beta, "se": se, "n": int(keep.sum())})


def univariable(frame: pd.DataFrame, outcome: str, variables: list[str], multivariable_p: float | None = None,
                categorical: list[str] | None = None) -> pd.DataFrame:
    """Univariable ORs per variable; with ``multivariable_p``, followed by one multivariable model of the
    variables with a univariable p below it (a categorical variable enters when any level does)."""
    if outcome not in frame.columns:
        raise InputError(f"No outcome column '{outcome}'.")
    absent = [v for v in variables if v not in frame.columns]
    if absent:
        raise InputError(f"Variable(s) not in the clinical table: {', '.join(absent)}.")
    frame = as_categorical(frame, categorical)
    table = pd.concat([odds_ratios(frame, outcome, [v]) for v in variables], ignore_index=True)
    table.insert(0, "model", "univariable")
    if multivariable_p is None:
        return table
    chosen = [v for v in variables if (table.loc[table.variable == v, "p"] < multivariable_p).any()]
    if not chosen:
        return table
    multi = odds_ratios(frame, outcome, chosen)
    multi.insert(0, "model", "multivariable")
    return pd.concat([table, multi], ignore_index=True)
