"""The studies' tables in their published layout, from the tables the commands write.

Each function takes what one command wrote (``table1``'s CSV, ``univariable``'s CSV, ``evaluate``'s
``models.csv`` / ``delong.csv`` / ``decision_curve.csv``) and returns a DataFrame laid out as the
papers print it: one row per variable (level) with a column pair per cohort and group for Table 1,
OR (95% CI) and p for the univariable and multivariable models, AUC (95% CI) with the threshold
metrics per cohort and model, DeLong comparisons, calibration with the Hosmer–Lemeshow test, and the
net benefit of each model at chosen thresholds. p values are printed as the papers do (``<0.001``).
Nothing is recomputed here: the numbers are the commands' own.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

DCA_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def format_p(p: float) -> str:
    """p as the papers print it: ``<0.001``, else three decimals; empty when absent."""
    if p is None or not np.isfinite(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _ci(value: float, lower: float, upper: float, digits: int = 3) -> str:
    if not np.isfinite(value):
        return ""
    return f"{value:.{digits}f} ({lower:.{digits}f}-{upper:.{digits}f})"


def table1_layout(table: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Table 1: variable (level) rows; per cohort the two outcome groups and p."""
    table = table.copy()
    if "cohort" not in table.columns:
        table.insert(0, "cohort", "all")
    groups = [c for c in table.columns if c.startswith(f"{outcome}=")]
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for record in table.to_dict(orient="records"):
        key = (record["variable"], "" if pd.isna(record["level"]) else str(record["level"]))
        row = rows.setdefault(key, {"characteristic": key[0] if not key[1] else f"  {key[1]}",
                                    "summary": "" if key[1] or pd.isna(record["summary"]) else record["summary"]})
        for group in groups:
            value = record[group]
            row[f"{record['cohort']}: {group}"] = "" if pd.isna(value) else str(value)
        row[f"{record['cohort']}: p"] = format_p(record["p"]) if "p" in record else ""
    return pd.DataFrame(list(rows.values())).fillna("")


def odds_ratio_layout(table: pd.DataFrame) -> pd.DataFrame:
    """Univariable and multivariable ORs side by side: OR (95% CI) and p."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for record in table.to_dict(orient="records"):
        level = "" if pd.isna(record["level"]) else str(record["level"])
        row = out.setdefault((record["variable"], level), {"variable": record["variable"], "level": level})
        model = record["model"]
        row[f"{model} OR (95% CI)"] = _ci(record["or"], record["ci_lower"], record["ci_upper"])
        row[f"{model} p"] = format_p(record["p"])
    return pd.DataFrame(list(out.values())).fillna("")


def performance_layout(models: pd.DataFrame) -> pd.DataFrame:
    """AUC (95% CI) and the threshold metrics of every model on every cohort."""
    rows = []
    for record in models.to_dict(orient="records"):
        row = {"cohort": record["cohort"], "model": record["model"], "n": record["n"],
               "AUC (95% CI)": _ci(record["auc"], record["auc_lower"], record["auc_upper"]),
               "cut-off": f"{record['threshold']:.3f}" if np.isfinite(record["threshold"]) else ""}
        for name in ("sensitivity", "specificity", "accuracy", "ppv", "npv"):
            row[name] = f"{record[name]:.3f}" if np.isfinite(record[name]) else ""
        row["Brier"] = f"{record['brier']:.3f}" if np.isfinite(record["brier"]) else ""
        rows.append(row)
    return pd.DataFrame(rows)


def delong_layout(delong: pd.DataFrame) -> pd.DataFrame:
    """Paired DeLong tests: the two AUCs, z and p."""
    return pd.DataFrame([{"cohort": r["cohort"], "comparison": f"{r['model_1']} vs {r['model_2']}",
                          "AUC 1": f"{r['auc_1']:.3f}", "AUC 2": f"{r['auc_2']:.3f}", "z": f"{r['z']:.2f}",
                          "p": format_p(r["p"])} for r in delong.to_dict(orient="records")])


def calibration_layout(models: pd.DataFrame) -> pd.DataFrame:
    """Calibration intercept and slope, and the Hosmer–Lemeshow test, per cohort and model."""
    return pd.DataFrame([{"cohort": r["cohort"], "model": r["model"],
                          "calibration intercept": f"{r['calibration_intercept']:.3f}",
                          "calibration slope": f"{r['calibration_slope']:.3f}",
                          "HL chi2": f"{r['hl_statistic']:.2f}", "HL df": f"{r['hl_df']:.0f}",
                          "HL p": format_p(r["hl_p"])} for r in models.to_dict(orient="records")])


def decision_curve_layout(curve: pd.DataFrame, thresholds: Sequence[float] = DCA_THRESHOLDS) -> pd.DataFrame:
    """Net benefit at a few threshold probabilities, per cohort and model, with treat-all."""
    rows = []
    for (cohort, model), group in curve.groupby(["cohort", "model"], sort=False):
        at = {round(t, 6): (nb, all_) for t, nb, all_ in zip(group["threshold"], group["net_benefit"],
                                                            group["treat_all"], strict=True)}
        row = {"cohort": cohort, "model": model}
        row.update({f"pt={t:.1f}": f"{at[round(t, 6)][0]:.3f}" if round(t, 6) in at else "" for t in thresholds})
        rows.append(row)
        if model == group_first(curve, cohort):
            treat = {"cohort": cohort, "model": "treat all"}
            treat.update({f"pt={t:.1f}": f"{at[round(t, 6)][1]:.3f}" if round(t, 6) in at else ""
                          for t in thresholds})
            rows.append(treat)
    return pd.DataFrame(rows)


def group_first(curve: pd.DataFrame, cohort: str) -> str:
    """The first model listed for ``cohort`` (treat-all is shown once per cohort, after it)."""
    return str(curve.loc[curve["cohort"] == cohort, "model"].iloc[0])


def render(frame: pd.DataFrame) -> str:
    """A table as aligned text, without the index."""
    return frame.to_string(index=False) if len(frame) else "(empty)"
