"""``evaluate --cutoff training|per-cohort|VALUE`` and the CIs of every threshold metric."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from AxillaryPredictorLib.evaluation import statistics as E
from AxillaryPredictorLib.evaluation.comparison import evaluate_cohorts, write_evaluation_report


def _cohort(seed: int, n: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = 1 / (1 + np.exp(-(rng.normal(shift, 1, n) + 1.2 * y)))
    return pd.DataFrame({"y": y, "m": np.round(p, 3)})


COHORTS = {"external": _cohort(1, 120, 0.8), "train": _cohort(2, 200, -0.5)}


def _youden(frame: pd.DataFrame) -> float:
    return E.youden_thresholds(frame.y, frame.m)[0][0]


def test_training_cutoff_comes_from_the_cohort_named_train_even_when_it_is_not_first():
    assert _youden(COHORTS["external"]) != _youden(COHORTS["train"])
    table = evaluate_cohorts(COHORTS, "y", ["m"]).table.set_index("cohort")
    assert table.loc["external", "threshold"] == table.loc["train", "threshold"] == _youden(COHORTS["train"])
    assert (table.threshold_source == "Youden on train").all()
    external = COHORTS["external"]
    expected = E.threshold_metrics(external.y, external.m, _youden(COHORTS["train"]))
    assert table.loc["external", "sensitivity"] == expected.sensitivity


def test_per_cohort_and_fixed_cutoffs():
    report = evaluate_cohorts(COHORTS, "y", ["m"], cutoff="per-cohort")
    table = report.table.set_index("cohort")
    for name, frame in COHORTS.items():
        assert table.loc[name, "threshold"] == _youden(frame)
        assert table.loc[name, "threshold_source"] == f"Youden on {name}"
    assert report.thresholds == {"m": {name: _youden(frame) for name, frame in COHORTS.items()}}
    table = evaluate_cohorts(COHORTS, "y", ["m"], cutoff="0.5").table.set_index("cohort")
    frame = COHORTS["train"]
    assert table.loc["train", "threshold"] == 0.5 and table.loc["train", "threshold_source"] == "fixed"
    assert table.loc["train", "sensitivity"] == pytest.approx((frame.m[frame.y == 1] >= 0.5).mean(), abs=0)
    with pytest.raises(ValueError, match="cutoff must be 'training', 'per-cohort' or a number"):
        evaluate_cohorts(COHORTS, "y", ["m"], cutoff="youden")


def test_every_threshold_metric_has_a_named_ci(tmp_path):
    report = evaluate_cohorts(COHORTS, "y", ["m"], cutoff="per-cohort")
    row = report.table.set_index("cohort").loc["external"]
    frame = COHORTS["external"]
    counts = E.threshold_metrics(frame.y, frame.m, row.threshold).counts
    tp, fp, fn, tn = counts["tp"], counts["fp"], counts["fn"], counts["tn"]
    assert row.accuracy_ci == pytest.approx(E.wilson_ci(tp + tn, tp + fp + fn + tn), abs=1e-15)
    assert row.ppv_ci == pytest.approx(E.wilson_ci(tp, tp + fp), abs=1e-15)
    assert row.npv_ci == pytest.approx(E.wilson_ci(tn, tn + fn), abs=1e-15)
    low, high = row.f1_ci
    assert 0 < low < row.f1 < high < 1
    assert "Wilson" in row.ci_method and "F1: stratified bootstrap percentile" in row.ci_method
    paths = write_evaluation_report(report, COHORTS, "y", tmp_path)
    written = pd.read_csv(tmp_path / "models.csv")
    for name in ("sensitivity", "specificity", "accuracy", "ppv", "npv", "f1"):
        assert written[f"{name}_ci"].str.match(r"^\d\.\d{3}-\d\.\d{3}$").all()
    assert json.loads((tmp_path / "models.json").read_text())["cutoff"] == "per-cohort"
    text = paths["html"].read_text(encoding="utf-8")
    assert "each cohort's own Youden cut-off" in text and "Wilson score" in text


def test_evaluate_command_takes_the_cutoff(tmp_path, capsys):
    from AxillaryPredictorLib.cli.main import main

    frame = pd.concat([f.assign(split=name) for name, f in COHORTS.items()])
    frame.to_csv(tmp_path / "p.csv", index=False)
    arguments = ["evaluate", "--predictions", str(tmp_path / "p.csv"), "--cohort-column", "split", "--outcome", "y",
                 "--models", "m", "--out", str(tmp_path / "report")]
    assert main([*arguments, "--cutoff", "0.4"]) == 0
    table = pd.read_csv(tmp_path / "report" / "models.csv")
    assert (table.threshold == 0.4).all() and "cut-off: 0.4" in capsys.readouterr().out
    assert main([*arguments, "--cutoff", "best"]) == 2
    assert "cutoff must be" in capsys.readouterr().err
    assert not math.isnan(table.f1.iloc[0])
