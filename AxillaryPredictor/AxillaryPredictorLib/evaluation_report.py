"""Model comparison over cohorts: the studies' tables, plots and an HTML page.

``evaluate_cohorts({cohort: frame}, outcome, models)`` scores every model (a column of
predicted probabilities) on every cohort; ``write_evaluation_report`` writes ``models.csv``
/ ``models.json`` (one row per model per cohort: AUC with DeLong CI, Youden-based
sensitivity, specificity, accuracy, PPV, NPV, F1 with CIs, Brier, Hosmer–Lemeshow),
``delong.csv`` (paired tests between models), ``nri_idi.csv`` (each model vs the first),
``decision_curve.csv``, the four plots (ROC with CI band, calibration, decision curve,
clinical impact) and ``index.html``.

The cut-off of each model is the Youden threshold on the first cohort (name it
``training``), applied unchanged to the others, as the studies do.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from AxillaryPredictorLib import evaluation as E


@dataclass
class EvaluationReport:
    table: pd.DataFrame
    delong: pd.DataFrame
    nri_idi: pd.DataFrame
    curves: dict[str, dict[str, Any]] = field(default_factory=dict)  # cohort -> model -> arrays
    thresholds: dict[str, float] = field(default_factory=dict)


def evaluate_cohorts(cohorts: dict[str, pd.DataFrame], outcome: str, models: list[str]) -> EvaluationReport:
    """Statistics of every model on every cohort (see module docstring)."""
    if not cohorts:
        raise ValueError("Give at least one cohort.")
    for name, frame in cohorts.items():
        missing = [c for c in [outcome, *models] if c not in frame.columns]
        if missing:
            raise ValueError(f"Cohort '{name}' lacks the column(s) {', '.join(missing)}; "
                             f"columns present: {', '.join(map(str, frame.columns))}.")
    first = next(iter(cohorts))
    thresholds = {m: E.threshold_metrics(cohorts[first][outcome], cohorts[first][m], n_boot=200).threshold
                  for m in models}
    rows, delong_rows, nri_rows, curves = [], [], [], {}
    for cohort, frame in cohorts.items():
        y = frame[outcome].to_numpy()
        curves[cohort] = {}
        for model in models:
            p = frame[model].to_numpy(dtype=float)
            auc = E.auc_ci(y, p)
            metrics = E.threshold_metrics(y, p, thresholds[model])
            hl = E.hosmer_lemeshow(y, p)
            calibration = E.calibration(y, p)
            rows.append({
                "cohort": cohort, "model": model, "n": int(y.size), "events": int(y.sum()),
                "auc": auc.auc, "auc_lower": auc.lower, "auc_upper": auc.upper,
                "threshold": metrics.threshold, "sensitivity": metrics.sensitivity,
                "sensitivity_ci": metrics.sensitivity_ci, "specificity": metrics.specificity,
                "specificity_ci": metrics.specificity_ci, "accuracy": metrics.accuracy, "ppv": metrics.ppv,
                "npv": metrics.npv, "f1": metrics.f1, "brier": E.brier(y, p), "hl_statistic": hl.statistic,
                "hl_df": hl.df, "hl_p": hl.p, "calibration_intercept": calibration.intercept,
                "calibration_slope": calibration.slope})
            curves[cohort][model] = {"roc": _roc_points(y, p), "calibration": calibration.bins,
                                     "dca": E.decision_curve(y, p), "impact": E.clinical_impact(y, p)}
        for i, a in enumerate(models):
            for b in models[i + 1:]:
                test = E.delong_test(y, frame[a], frame[b])
                delong_rows.append({"cohort": cohort, "model_1": a, "model_2": b, "auc_1": test.auc1,
                                    "auc_2": test.auc2, "z": test.z, "p": test.p})
            if i > 0:
                result = E.nri_idi(y, frame[models[0]], frame[a])
                nri_rows.append({"cohort": cohort, "reference": models[0], "model": a, "nri": result.nri,
                                 "nri_p": result.nri_p, "idi": result.idi, "idi_p": result.idi_p})
    return EvaluationReport(pd.DataFrame(rows), pd.DataFrame(delong_rows), pd.DataFrame(nri_rows), curves, thresholds)


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
    for ax, cohort in zip(axes, names, strict=True):
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
    for ax, cohort in zip(axes, names, strict=True):
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
    for ax, cohort in zip(axes, names, strict=True):
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
    for column in ("sensitivity_ci", "specificity_ci"):
        table[column] = table[column].map(lambda ci: f"{ci[0]:.3f}-{ci[1]:.3f}")
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
    (out_dir / "models.json").write_text(json.dumps({
        "models": report.table.to_dict(orient="records"), "delong": report.delong.to_dict(orient="records"),
        "nri_idi": report.nri_idi.to_dict(orient="records"), "thresholds": report.thresholds}, indent=2, default=float))
    paths["html"] = out_dir / "index.html"
    paths["html"].write_text(_html(table, report, paths), encoding="utf-8")
    return paths


def _html(table: pd.DataFrame, report: EvaluationReport, paths: dict[str, Path]) -> str:
    def frame_html(frame: pd.DataFrame, element_id: str) -> str:
        return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", table_id=element_id, border=0)

    images = "".join(f"<figure><img src='{html.escape(paths[k].name)}' alt='{k}'><figcaption>{k}</figcaption></figure>"
                     for k in ("roc", "calibration", "dca", "impact"))
    style = ("body{font-family:Helvetica,Arial,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;"
             "font-size:.85em}td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Model evaluation</title>"
            f"<style>{style}</style></head><body><h1>Model evaluation</h1>"
            "<p>AUC with DeLong 95% CI; threshold metrics at the Youden cut-off of the first cohort (Wilson CIs); "
            "Hosmer–Lemeshow over deciles; statistics match R (pROC, Hmisc).</p>"
            f"<h2>Models</h2>{frame_html(table, 'models')}<h2>DeLong tests</h2>{frame_html(report.delong, 'delong')}"
            f"<h2>NRI and IDI</h2>{frame_html(report.nri_idi, 'nri_idi')}<h2>Plots</h2>{images}</body></html>")


def as_dict(result: Any) -> dict:
    """Dataclass results as plain dicts (numpy arrays as lists) for JSON."""
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(result).items()}
