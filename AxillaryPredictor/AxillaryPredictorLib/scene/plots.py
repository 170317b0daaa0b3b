"""Evaluation curves as Slicer plot charts (table node + plot series nodes + chart node)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def curve_chart(scene: Any, curves: Mapping[str, tuple[np.ndarray, np.ndarray]], *, title: str, x_label: str,
                y_label: str, name: str | None = None) -> Any:
    """A plot chart node with one line series per curve (name -> (x, y)); the data live
    in one table node so the chart is saved and restored with the scene."""
    from AxillaryPredictorLib.scene.results import table_node_from_frame

    name = name or title
    longest = max(len(x) for x, _ in curves.values())
    columns = {}
    for label, (x, y) in curves.items():
        columns[f"{label} x"] = np.pad(np.asarray(x, float), (0, longest - len(x)), constant_values=np.nan)
        columns[f"{label} y"] = np.pad(np.asarray(y, float), (0, longest - len(y)), constant_values=np.nan)
    table = table_node_from_frame(scene, pd.DataFrame(columns), f"{name} data")
    chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", name)
    chart.SetTitle(title)
    chart.SetXAxisTitle(x_label)
    chart.SetYAxisTitle(y_label)
    for label in curves:
        series = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", f"{name}: {label}")
        series.SetAndObserveTableNodeID(table.GetID())
        series.SetXColumnName(f"{label} x")
        series.SetYColumnName(f"{label} y")
        series.SetPlotType(series.PlotTypeScatter)
        series.SetMarkerStyle(series.MarkerStyleNone)
        chart.AddAndObservePlotSeriesNodeID(series.GetID())
    return chart


def evaluation_charts(scene: Any, report: Any, cohort: str) -> dict[str, Any]:
    """ROC, calibration, decision-curve and clinical-impact charts of one cohort of an
    ``EvaluationReport``."""
    curves = report.curves[cohort]
    roc = {m: (c["roc"]["fpr"], c["roc"]["tpr"]) for m, c in curves.items()}
    calibration = {m: ([b["mean_predicted"] for b in c["calibration"]], [b["observed"] for b in c["calibration"]])
                   for m, c in curves.items()}
    first = next(iter(curves.values()))["dca"]
    dca = {m: (c["dca"].thresholds, c["dca"].net_benefit) for m, c in curves.items()}
    dca["treat all"] = (first.thresholds, first.treat_all)
    dca["treat none"] = (first.thresholds, first.treat_none)
    model, data = next(iter(curves.items()))
    impact = {"high risk": (data["impact"].thresholds, data["impact"].high_risk),
              "high risk with event": (data["impact"].thresholds, data["impact"].true_positives)}
    return {
        "roc": curve_chart(scene, roc, title=f"ROC — {cohort}", x_label="1 - specificity", y_label="sensitivity"),
        "calibration": curve_chart(scene, calibration, title=f"Calibration — {cohort}",
                                   x_label="predicted probability", y_label="observed proportion"),
        "dca": curve_chart(scene, dca, title=f"Decision curve — {cohort}", x_label="threshold probability",
                           y_label="net benefit"),
        "impact": curve_chart(scene, impact, title=f"Clinical impact — {model}, {cohort}",
                              x_label="threshold probability", y_label="number per 1000"),
    }
