"""Evaluation statistics against R (pROC, Hmisc, hand-written HL and DCA) fixtures, and edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from AxillaryPredictorLib import evaluation as E

FIXTURES = json.loads(
    (Path(__file__).parent / "fixtures" / "evaluation" / "evaluation_fixtures.json").read_text(encoding="utf-8"))
NAMES = sorted(FIXTURES)


def _data(name):
    d = FIXTURES[name]
    return np.array(d["y"]), np.array(d["p1"]), np.array(d["p2"]), d


@pytest.mark.parametrize("name", NAMES)
def test_auc_and_delong_ci_equal_proc(name):
    y, p1, p2, d = _data(name)
    result = E.auc_ci(y, p1)
    assert result.auc == pytest.approx(d["auc1"], abs=1e-9)
    assert (result.lower, result.upper) == pytest.approx(tuple(d["ci1"]), abs=1e-9)
    assert result.variance == pytest.approx(d["var1"], rel=1e-9)
    assert E.auc(y, p2) == pytest.approx(d["auc2"], abs=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_paired_delong_test_equals_proc(name):
    y, p1, p2, d = _data(name)
    result = E.delong_test(y, p1, p2)
    assert result.z == pytest.approx(d["delong"]["z"], rel=1e-9)
    assert result.p == pytest.approx(d["delong"]["p"], rel=1e-9)
    assert result.auc1 - result.auc2 == pytest.approx(d["auc1"] - d["auc2"], abs=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_youden_threshold_equals_proc_coords_best(name):
    y, p1, _, d = _data(name)
    expected = d["youden"]
    thresholds = np.atleast_1d(expected["threshold"])
    pairs_r = set(zip(np.round(np.atleast_1d(expected["sensitivity"]), 12),
                      np.round(np.atleast_1d(expected["specificity"]), 12), strict=True))
    optima = E.youden_thresholds(y, p1)
    assert {(round(s, 12), round(c, 12)) for _, s, c in optima} == pairs_r
    assert [t for t, _, _ in optima] == pytest.approx(sorted(thresholds), abs=1e-12)
    metrics = E.threshold_metrics(y, p1)
    assert metrics.threshold == pytest.approx(min(thresholds), abs=1e-12)
    assert len(metrics.tied_thresholds) == len(thresholds)


@pytest.mark.parametrize("name", NAMES)
def test_hosmer_lemeshow_equals_r(name):
    y, p1, _, d = _data(name)
    result = E.hosmer_lemeshow(y, p1)
    assert result.statistic == pytest.approx(d["hoslem"]["statistic"], rel=1e-9)
    assert result.df == d["hoslem"]["df"]
    assert result.p == pytest.approx(d["hoslem"]["p"], rel=1e-9)
    assert [g["n"] for g in result.groups] == list(np.atleast_1d(d["hoslem"]["sizes"]))


@pytest.mark.parametrize("name", NAMES)
def test_decision_curve_equals_r(name):
    y, p1, _, d = _data(name)
    curve = E.decision_curve(y, p1)
    assert curve.thresholds == pytest.approx(np.array(d["dca"]["thresholds"]), abs=0)
    assert list(curve.true_positives) == d["dca"]["tp"] and list(curve.false_positives) == d["dca"]["fp"]
    assert curve.net_benefit == pytest.approx(np.array(d["dca"]["net_benefit"]), abs=1e-12)
    assert curve.treat_all == pytest.approx(np.array(d["dca"]["treat_all"]), abs=1e-12)
    assert np.all(curve.treat_none == 0)


@pytest.mark.parametrize("name", NAMES)
def test_nri_idi_equal_hmisc_improveprob(name):
    y, p1, p2, d = _data(name)
    result = E.nri_idi(y, p_old=p2, p_new=p1)
    ref = d["nri_idi"]
    for ours, theirs in ((result.nri, ref["nri"]), (result.nri_z, ref["z_nri"]), (result.nri_p, ref["p_nri"]),
                         (result.idi, ref["idi"]), (result.idi_z, ref["z_idi"]), (result.idi_p, ref["p_idi"]),
                         (result.nri_events, ref["nri_ev"]), (result.nri_nonevents, ref["nri_ne"]),
                         (result.nri_se, ref["se_nri"]), (result.idi_se, ref["se_idi"])):
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)


def test_auc_is_not_flipped_and_bootstrap_is_seeded():
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])
    assert E.auc(y, p) == 0.0
    y, p1, _, _ = _data("n200")
    a, b = E.auc_ci(y, p1, "bootstrap", n_boot=300, seed=3), E.auc_ci(y, p1, "bootstrap", n_boot=300, seed=3)
    assert a == b and a.lower < a.auc < a.upper
    delong = E.auc_ci(y, p1)
    assert a.lower == pytest.approx(delong.lower, abs=0.03) and a.upper == pytest.approx(delong.upper, abs=0.03)


def test_threshold_metrics_counts_and_wilson_ci():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.2, 0.6, 0.3, 0.2, 0.1, 0.1, 0.05])
    m = E.threshold_metrics(y, p, threshold=0.5)
    assert m.counts == {"tp": 3, "fp": 1, "fn": 1, "tn": 5}
    assert (m.sensitivity, m.specificity, m.ppv, m.npv, m.accuracy) == pytest.approx((0.75, 5 / 6, 0.75, 5 / 6, 0.8))
    assert m.f1 == pytest.approx(0.75)
    assert m.sensitivity_ci == pytest.approx((0.300641, 0.954412), abs=1e-6)  # Wilson, as R's prop.test(correct=F)


def test_calibration_of_a_perfectly_calibrated_model():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, 20000)
    y = (rng.random(p.size) < p).astype(int)
    result = E.calibration(y, p)
    assert result.slope_ci[0] < 1 < result.slope_ci[1]
    assert result.intercept_ci[0] < 0 < result.intercept_ci[1]
    assert len(result.bins) == 10 and E.brier(y, p) == pytest.approx(np.mean((p - y) ** 2))


def test_degenerate_inputs_are_refused_clearly():
    with pytest.raises(ValueError, match="single class"):
        E.auc([1, 1, 1], [0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="missing or infinite"):
        E.auc([0, 1, 1], [0.2, np.nan, 0.4])
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        E.brier([0, 1], [0.2, 1.4])
    with pytest.raises(ValueError, match="binary"):
        E.auc([0, 2], [0.1, 0.2])
    assert E.auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5  # constant p: AUC 0.5 by the tie rule
    with pytest.raises(ValueError, match="too few distinct"):
        E.hosmer_lemeshow([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])


def test_clinical_impact_and_categorical_nri():
    y, p1, p2, _ = _data("n200")
    impact = E.clinical_impact(y, p1, thresholds=[0.2, 0.5])
    assert impact.high_risk[0] == pytest.approx((p1 >= 0.2).mean() * 1000)
    assert impact.true_positives[1] == pytest.approx(((p1 >= 0.5) & (y == 1)).mean() * 1000)
    result = E.nri_idi(y, p2, p1, cutoffs=(0.3, 0.6))
    assert result.categorical_nri == pytest.approx(result.categorical_nri_events + result.categorical_nri_nonevents)
    assert -2 <= result.categorical_nri <= 2


def test_evaluate_command_writes_the_report_directory(tmp_path):
    from html.parser import HTMLParser

    import pandas as pd

    from AxillaryPredictorLib.cli import main
    from AxillaryPredictorLib.phantoms import ALN_MODEL, simulate_aln_cohort

    cohort = simulate_aln_cohort(600, seed=1)
    rng = np.random.default_rng(0)
    cohort["true_model"] = cohort["true_probability"]
    design = ALN_MODEL.design(cohort)
    cohort["size_only"] = 1 / (1 + np.exp(-(-0.7 + 0.6 * design["size"])))
    cohort["noisy"] = np.clip(cohort["true_probability"] + rng.normal(0, 0.15, len(cohort)), 0.001, 0.999)
    cohort["split"] = np.where(np.arange(len(cohort)) < 400, "training", "external")
    path = tmp_path / "predictions.csv"
    cohort.to_csv(path, index=False)
    out = tmp_path / "report"
    assert main(["evaluate", "--predictions", str(path), "--cohort-column", "split", "--outcome", "aln_metastasis",
                 "--models", "true_model,size_only,noisy", "--out", str(out)]) == 0
    table = pd.read_csv(out / "models.csv")
    assert list(table["cohort"].unique()) == ["training", "external"] and len(table) == 6
    truth = table[(table.model == "true_model") & (table.cohort == "external")].iloc[0]
    size = table[(table.model == "size_only") & (table.cohort == "external")].iloc[0]
    assert truth.auc > size.auc

    class Page(HTMLParser):
        def __init__(self):
            super().__init__()
            self.images, self.tables = [], []

        def handle_starttag(self, tag, attrs):
            attributes = dict(attrs)
            if tag == "img":
                self.images.append(attributes["src"])
            if tag == "table":
                self.tables.append(attributes.get("id"))

    page = Page()
    page.feed((out / "index.html").read_text(encoding="utf-8"))
    assert sorted(page.images) == ["calibration.png", "clinical_impact.png", "decision_curve.png", "roc.png"]
    assert all((out / image).stat().st_size > 5000 for image in page.images)
    assert page.tables == ["models", "delong", "nri_idi"]
    assert len(pd.read_csv(out / "delong.csv")) == 6 and len(pd.read_csv(out / "nri_idi.csv")) == 4


def test_evaluation_charts_in_the_scene(headless):
    import pandas as pd

    from AxillaryPredictorLib.evaluation_report import evaluate_cohorts
    from AxillaryPredictorLib.scene_plots import evaluation_charts
    from AxillaryPredictorLib.scene_results import frame_from_table_node

    y, p1, p2, _ = _data("n200")
    frame = pd.DataFrame({"y": y, "new": p1, "old": p2})
    report = evaluate_cohorts({"training": frame}, "y", ["new", "old"])
    charts = evaluation_charts(headless.scene, report, "training")
    roc = charts["roc"]
    assert roc.GetNumberOfPlotSeriesNodes() == 2 and charts["dca"].GetNumberOfPlotSeriesNodes() == 4
    series = roc.GetNthPlotSeriesNode(0)
    data = frame_from_table_node(series.GetTableNode())
    tpr = data[series.GetYColumnName()].dropna().to_numpy()
    assert tpr[0] == 1.0 and tpr[-1] == 0.0  # from threshold -inf (all positive) to +inf
