"""Model comparison over cohorts: the studies' tables, plots and an HTML page.

``evaluate_cohorts({cohort: frame}, outcome, models)`` scores every model (a column of
predicted probabilities) on every cohort; ``write_evaluation_report`` writes ``models.csv``
/ ``models.json`` (one row per model per cohort: AUC with DeLong CI, Youden-based
sensitivity, specificity, accuracy, PPV, NPV, F1 with CIs, Brier, Hosmer–Lemeshow),
``delong.csv`` (paired tests between models), ``nri_idi.csv`` (each model vs the first),
``decision_curve.csv``, the four plots (ROC with CI band, calibration, decision curve,
clinical impact) and ``index.html``.

The cut-off of the threshold metrics (``cutoff``):

- ``"training"`` (default): each model's Youden threshold on the training cohort (the cohort named
  ``train`` or ``training``, else the first one), applied unchanged to the others, as most studies do;
- ``"per-cohort"``: the Youden threshold of every cohort on its own (Lu et al. re-derived it per cohort);
- a number: that fixed probability cut-off everywhere (positive when p ≥ cut-off).

The ``threshold_source`` column says where each row's cut-off came from. Every threshold metric has
a 95% CI, with the method in the ``ci_method`` column: Wilson score intervals for sensitivity,
specificity, accuracy, PPV and NPV (binomial proportions), and a stratified bootstrap percentile
interval (2000 resamples, seed 0) for F1, which is not a proportion.

A statistic that cannot be computed for one model (a constant model has no Youden cut-off,
calibration slope or Hosmer–Lemeshow test; a model with missing predictions has nothing) does
not stop the report: its cells are empty (NaN) and the ``problems`` column of that row says
what went wrong, and the other models are reported as usual. The DeLong and NRI/IDI tables
have a ``problem`` column in the same way.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from AxillaryPredictorLib.errors import InputError
from AxillaryPredictorLib.evaluation import statistics as E


@dataclass
class EvaluationReport:
    table: pd.DataFrame
    delong: pd.DataFrame
    nri_idi: pd.DataFrame
    curves: dict[str, dict[str, Any]] = field(default_factory=dict)  # cohort -> model -> arrays
    thresholds: dict[str, Any] = field(default_factory=dict)  # model -> cut-off (per-cohort: cohort -> cut-off)
    cutoff: str = "training"


def _attempt(problems: list[str], label: str, function: Callable, *args, **kwargs):
    """``function(*args, **kwargs)``, or None with ``label: message`` added to ``problems`` on ValueError."""
    try:
        return function(*args, **kwargs)
    except ValueError as error:
        problems.append(f"{label}: {error}")
        return None


NAN_CI = (math.nan, math.nan)
CI_METHOD = ("AUC: DeLong; sensitivity, specificity, accuracy, PPV, NPV: Wilson score; F1: stratified bootstrap "
             "percentile (2000 resamples, seed 0)")


def _fields(result: Any, **columns: str) -> dict[str, Any]:
    """``{column: result.attribute}``, NaN everywhere when the statistic failed (``result`` is None)."""
    return {column: math.nan if result is None else getattr(result, attribute) for column, attribute in columns.items()}


TRAINING_NAMES = ("train", "training")
THRESHOLD_METRICS = ("sensitivity", "specificity", "accuracy", "ppv", "npv", "f1")


def training_cohort(names: list[str]) -> str:
    """The cohort named train/training (any case), else the first."""
    return next((n for n in names if str(n).strip().lower() in TRAINING_NAMES), names[0])


def parse_cutoff(cutoff: str | float) -> str | float:
    """``"training"``, ``"per-cohort"`` or a probability in (0, 1)."""
    if isinstance(cutoff, str) and cutoff.strip().lower() in ("training", "per-cohort"):
        return cutoff.strip().lower()
    try:
        value = float(cutoff)
    except (TypeError, ValueError):
        raise InputError(f"cutoff must be 'training', 'per-cohort' or a number, got '{cutoff}'.") from None
    if not math.isfinite(value):
        raise InputError(f"A fixed cut-off must be a finite number, got '{cutoff}'.")
    return value


def _youden(frame: pd.DataFrame, outcome: str, model: str, cohort: str) -> tuple[float, list[str]]:
    """A model's Youden cut-off on one cohort, or NaN with the reason."""
    problems: list[str] = []
    optima = _attempt(problems, f"Youden cut-off on '{cohort}'", _lowest_youden, frame[outcome],
                      frame[model].to_numpy(dtype=float))
    return (optima if optima is not None else math.nan), problems


def _lowest_youden(y, p) -> float:
    """The lowest of the tied Youden-optimal thresholds (as ``threshold_metrics``), refusing a constant p."""
    p = np.asarray(p, dtype=float)
    if np.isfinite(p).all() and p.size and p.min() == p.max():
        raise InputError(f"p is constant (every value is {p[0]:.6g}), so the Youden threshold is undefined; give "
                         "a fixed cut-off.")
    return E.youden_thresholds(y, p)[0][0]


def _cutoffs(cohorts: dict[str, pd.DataFrame], outcome: str, models: list[str], cutoff: str | float):
    """{(cohort, model): (threshold, problems, source)} for the chosen cut-off rule."""
    chosen = {}
    if cutoff == "per-cohort":
        for cohort, frame in cohorts.items():
            for model in models:
                threshold, problems = _youden(frame, outcome, model, cohort)
                chosen[cohort, model] = (threshold, problems, f"Youden on {cohort}")
        return chosen
    if cutoff == "training":
        source = training_cohort(list(cohorts))
        for model in models:
            threshold, problems = _youden(cohorts[source], outcome, model, source)
            chosen.update({(cohort, model): (threshold, problems, f"Youden on {source}") for cohort in cohorts})
        return chosen
    return {(cohort, model): (float(cutoff), [], "fixed") for cohort in cohorts for model in models}


def evaluate_cohorts(cohorts: dict[str, pd.DataFrame], outcome: str, models: list[str],
                     cutoff: str | float = "training") -> EvaluationReport:
    """Statistics of every model on every cohort (see module docstring)."""
    if not cohorts:
        raise InputError("Give at least one cohort.")
    if not models:
        raise InputError("Give at least one model (a column of predicted probabilities).")
    for name, frame in cohorts.items():
        missing = [c for c in [outcome, *models] if c not in frame.columns]
        if missing:
            raise InputError(f"Cohort '{name}' lacks the column(s) {', '.join(missing)}; "
                             f"columns present: {', '.join(map(str, frame.columns))}.")
    cutoff = parse_cutoff(cutoff)
    chosen = _cutoffs(cohorts, outcome, models, cutoff)
    rows, delong_rows, nri_rows, curves = [], [], [], {}
    for cohort, frame in cohorts.items():
        y = frame[outcome].to_numpy()
        curves[cohort] = {}
        for model in models:
            threshold, problems, source = chosen[cohort, model]
            row = _model_row(cohort, model, y, frame[model].to_numpy(dtype=float), threshold, problems,
                             curves[cohort])
            rows.append({**row, "threshold_source": source})
        for i, a in enumerate(models):
            for b in models[i + 1:]:
                problems = []
                test = _attempt(problems, "DeLong test", E.delong_test, y, frame[a].to_numpy(dtype=float),
                                frame[b].to_numpy(dtype=float))
                delong_rows.append({"cohort": cohort, "model_1": a, "model_2": b,
                                    **_fields(test, auc_1="auc1", auc_2="auc2", z="z", p="p"),
                                    "problem": "; ".join(problems)})
            if i > 0:
                problems = []
                result = _attempt(problems, "NRI/IDI", E.nri_idi, y, frame[models[0]].to_numpy(dtype=float),
                                  frame[a].to_numpy(dtype=float))
                nri_rows.append({"cohort": cohort, "reference": models[0], "model": a,
                                 **_fields(result, nri="nri", nri_p="nri_p", idi="idi", idi_p="idi_p"),
                                 "problem": "; ".join(problems)})
    if cutoff == "per-cohort":
        thresholds: dict[str, Any] = {m: {c: chosen[c, m][0] for c in cohorts} for m in models}
    else:
        thresholds = {m: chosen[next(iter(cohorts)), m][0] for m in models}
    return EvaluationReport(pd.DataFrame(rows), pd.DataFrame(delong_rows), pd.DataFrame(nri_rows), curves, thresholds,
                            str(cutoff))


def _model_row(cohort: str, model: str, y: np.ndarray, p: np.ndarray, threshold: float, threshold_problems: list[str],
               curves: dict[str, Any]) -> dict[str, Any]:
    """One row of the model table; statistics that fail are NaN and explained in ``problems``."""
    problems = list(threshold_problems)
    auc = metrics = brier = hl = calibration = None
    if _attempt(problems, "data", E.validate_predictions, y, p) is not None:
        auc = _attempt(problems, "AUC", E.auc_ci, y, p)
        if not math.isnan(threshold):
            metrics = _attempt(problems, "threshold metrics", E.threshold_metrics, y, p, threshold)
        brier = _attempt(problems, "Brier score", E.brier, y, p)
        hl = _attempt(problems, "Hosmer–Lemeshow", E.hosmer_lemeshow, y, p)
        calibration = _attempt(problems, "calibration", E.calibration, y, p)
        curve_problems: list[str] = []
        bins = _attempt(curve_problems, "calibration bins", E.calibration_bins, y, p)
        dca = _attempt(curve_problems, "decision curve", E.decision_curve, y, p)
        impact = _attempt(curve_problems, "clinical impact", E.clinical_impact, y, p)
        if dca is not None and impact is not None:  # the curves exist even for a constant model
            curves[model] = {"roc": _roc_points(y, p), "calibration": bins or [], "dca": dca, "impact": impact}
        else:
            problems.append("plots: left out, its curves could not be computed")
    row = {"cohort": cohort, "model": model, "n": int(y.size), "events": int(np.nansum(y)),
           **_fields(auc, auc="auc", auc_lower="lower", auc_upper="upper"), "threshold": threshold}
    for name in THRESHOLD_METRICS:
        row[name] = getattr(metrics, name) if metrics else math.nan
        row[f"{name}_ci"] = getattr(metrics, f"{name}_ci") if metrics else NAN_CI
    row["ci_method"] = CI_METHOD
    row["brier"] = brier if brier is not None else math.nan
    row.update(_fields(hl, hl_statistic="statistic", hl_df="df", hl_p="p"))
    row.update(_fields(calibration, calibration_intercept="intercept", calibration_slope="slope"))
    row["problems"] = "; ".join(problems)
    return row


def _roc_points(y: np.ndarray, p: np.ndarray) -> dict[str, np.ndarray]:
    scores = np.unique(p)
    thresholds = np.concatenate([[-np.inf], (scores[:-1] + scores[1:]) / 2, [np.inf]])
    sensitivity = np.array([(p[y == 1] >= t).mean() for t in thresholds])
    specificity = np.array([(p[y == 0] < t).mean() for t in thresholds])
    return {"fpr": 1 - specificity, "tpr": sensitivity}


def _bootstrap_band(y: np.ndarray, p: np.ndarray, grid: np.ndarray, n_boot: int = 200, seed: int = 0):
    rng = np.random.default_rng(seed)
    cases, controls = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    curves = []
    for _ in range(n_boot):
        sample = np.concatenate([rng.choice(cases, cases.size), rng.choice(controls, controls.size)])
        points = _roc_points(y[sample], p[sample])
        curves.append(np.interp(grid, points["fpr"][::-1], points["tpr"][::-1]))
    return np.quantile(np.array(curves), [0.025, 0.975], axis=0)


def _panels(axes, names: list[str], report: EvaluationReport):
    """(axis, cohort) for the cohorts with curves; the others get a 'no curves' panel."""
    for ax, cohort in zip(axes, names, strict=True):
        if report.curves[cohort]:
            yield ax, cohort
        else:
            _no_curves(ax, cohort)


def _no_curves(ax, cohort: str) -> None:
    ax.text(0.5, 0.5, f"no model could be evaluated on {cohort}\n(see the problems column)", ha="center",
            va="center", transform=ax.transAxes)
    ax.set_axis_off()


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path)
    return path


def write_plots(report: EvaluationReport, cohorts: dict[str, pd.DataFrame], outcome: str, out_dir: Path) -> dict:
    """ROC (with 95% bootstrap band), calibration, decision curve and clinical impact PNGs."""
    from matplotlib.figure import Figure

    out_dir.mkdir(parents=True, exist_ok=True)
    names = list(report.curves)
    paths = {}
    grid = np.linspace(0, 1, 101)

    def figure_for(kind: str):
        figure = Figure(figsize=(4.6 * len(names), 4.4), dpi=100)
        return figure, [figure.add_subplot(1, len(names), i + 1) for i in range(len(names))]

    figure, axes = figure_for("roc")
    for ax, cohort in _panels(axes, names, report):
        y = cohorts[cohort][outcome].to_numpy()
        for model, curve in report.curves[cohort].items():
            row = report.table[(report.table.cohort == cohort) & (report.table.model == model)].iloc[0]
            ax.plot(curve["roc"]["fpr"], curve["roc"]["tpr"],
                    label=f"{model} AUC {row.auc:.3f} ({row.auc_lower:.3f}-{row.auc_upper:.3f})")
            low, high = _bootstrap_band(y, cohorts[cohort][model].to_numpy(dtype=float), grid)
            ax.fill_between(grid, low, high, alpha=0.15)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=f"ROC — {cohort}")
        ax.legend(fontsize=7, loc="lower right")
    paths["roc"] = _save(figure, out_dir / "roc.png")

    figure, axes = figure_for("calibration")
    for ax, cohort in zip(axes, names, strict=True):
        for model, curve in report.curves[cohort].items():
            bins = curve["calibration"]
            ax.plot([b["mean_predicted"] for b in bins], [b["observed"] for b in bins], "o-", ms=4, label=model)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="ideal")
        ax.set(xlabel="predicted probability", ylabel="observed proportion", title=f"Calibration — {cohort}")
        ax.legend(fontsize=7)
    paths["calibration"] = _save(figure, out_dir / "calibration.png")

    figure, axes = figure_for("dca")
    for ax, cohort in _panels(axes, names, report):
        first = None
        for model, curve in report.curves[cohort].items():
            dca = curve["dca"]
            ax.plot(dca.thresholds, dca.net_benefit, label=model)
            first = dca
        ax.plot(first.thresholds, first.treat_all, color="grey", lw=0.8, label="treat all")
        ax.plot(first.thresholds, first.treat_none, color="black", lw=0.8, label="treat none")
        ax.set_ylim(-0.05, max(0.05, float(np.max(first.treat_all)) + 0.05))
        ax.set(xlabel="threshold probability", ylabel="net benefit", title=f"Decision curve — {cohort}")
        ax.legend(fontsize=7)
    paths["dca"] = _save(figure, out_dir / "decision_curve.png")

    figure, axes = figure_for("impact")
    for ax, cohort in _panels(axes, names, report):
        model, curve = next(iter(report.curves[cohort].items()))
        impact = curve["impact"]
        ax.plot(impact.thresholds, impact.high_risk, color="#d62728", label="number high risk")
        ax.plot(impact.thresholds, impact.true_positives, color="#1f77b4", ls="--", label="number high risk with event")
        ax.set(xlabel="threshold probability", ylabel=f"number per {impact.population}",
               title=f"Clinical impact — {model}, {cohort}")
        ax.legend(fontsize=7)
    paths["impact"] = _save(figure, out_dir / "clinical_impact.png")
    return paths


def write_evaluation_report(report: EvaluationReport, cohorts: dict[str, pd.DataFrame], outcome: str,
                            out_dir: str | Path) -> dict[str, Path]:
    """Tables (CSV + JSON), plots and ``index.html`` in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = write_plots(report, cohorts, outcome, out_dir)
    table = report.table.copy()
    for column in (f"{name}_ci" for name in THRESHOLD_METRICS):
        table[column] = table[column].map(lambda ci: f"{ci[0]:.3f}-{ci[1]:.3f}" if np.isfinite(ci).all() else "")
    table.to_csv(out_dir / "models.csv", index=False)
    report.delong.to_csv(out_dir / "delong.csv", index=False)
    report.nri_idi.to_csv(out_dir / "nri_idi.csv", index=False)
    dca_rows = []
    for cohort, models in report.curves.items():
        for model, curve in models.items():
            dca = curve["dca"]
            for i, t in enumerate(dca.thresholds):
                dca_rows.append({"cohort": cohort, "model": model, "threshold": t, "net_benefit": dca.net_benefit[i],
                                 "treat_all": dca.treat_all[i], "treat_none": 0.0})
    pd.DataFrame(dca_rows).to_csv(out_dir / "decision_curve.csv", index=False)
    (out_dir / "models.json").write_text(json.dumps(_json_safe({
        "models": report.table.to_dict(orient="records"), "delong": report.delong.to_dict(orient="records"),
        "nri_idi": report.nri_idi.to_dict(orient="records"), "thresholds": report.thresholds,
        "cutoff": report.cutoff}), indent=2,
        allow_nan=False))
    paths["html"] = out_dir / "index.html"
    paths["html"].write_text(_html(table, report, paths), encoding="utf-8")
    return paths


def _html(table: pd.DataFrame, report: EvaluationReport, paths: dict[str, Path]) -> str:
    def frame_html(frame: pd.DataFrame, element_id: str) -> str:
        return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", table_id=element_id, border=0)

    images = "".join(f"<figure><img src='{html.escape(paths[k].name)}' alt='{k}'><figcaption>{k}</figcaption></figure>"
                     for k in ("roc", "calibration", "dca", "impact"))
    cutoff = html.escape(_cutoff_text(report.cutoff), quote=False)
    style = ("body{font-family:Helvetica,Arial,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;"
             "font-size:.85em}td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Model evaluation</title>"
            f"<style>{style}</style></head><body><h1>Model evaluation</h1>"
            f"<p>AUC with DeLong 95% CI; threshold metrics at {cutoff} with 95% CIs "
            "(sensitivity, specificity, accuracy, PPV, NPV: Wilson score; F1: stratified bootstrap percentile, "
            "2000 resamples); "
            "Hosmer–Lemeshow over deciles; statistics match R (pROC, Hmisc).</p>"
            f"<h2>Models</h2>{frame_html(table, 'models')}<h2>DeLong tests</h2>{frame_html(report.delong, 'delong')}"
            f"<h2>NRI and IDI</h2>{frame_html(report.nri_idi, 'nri_idi')}<h2>Plots</h2>{images}</body></html>")


def _cutoff_text(cutoff: str) -> str:
    if cutoff == "training":
        return "each model's Youden cut-off on the training cohort"
    if cutoff == "per-cohort":
        return "each cohort's own Youden cut-off"
    return f"the fixed cut-off p ≥ {cutoff}"


def _json_safe(value: Any) -> Any:
    """Plain JSON: NaN as null, ±inf as the strings "inf" / "-inf", numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    return value
