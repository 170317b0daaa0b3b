"""Evaluation statistics against R (pROC, Hmisc, hand-written HL and DCA) fixtures, and edge cases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from AxillaryPredictorLib.evaluation import statistics as E

FIXTURES = json.loads(
    (Path(__file__).parent / "fixtures" / "evaluation" / "evaluation_fixtures.json").read_text(encoding="utf-8"))
NAMES = sorted(name for name, value in FIXTURES.items() if isinstance(value, dict) and "y" in value)
UNPAIRED = FIXTURES["unpaired_delong"]
DEGENERATE = FIXTURES["degenerate"]


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
    assert list(metrics.tied_thresholds) == pytest.approx(sorted(thresholds), abs=1e-12)


def test_fixture_datasets_cover_ties_small_n_and_exact_imbalance():
    y, _, _, _ = _data("imbalanced10")
    assert y.size == 300 and y.sum() == 30  # exactly 10% prevalence, set deterministically in make_fixtures.R
    assert len(_data("small30")[0]) == 30
    # several cut-offs tie for the best Youden J, and pROC returns them all
    assert len(np.atleast_1d(FIXTURES["youden_ties"]["youden"]["threshold"])) == 3
    assert len(E.threshold_metrics(*_data("youden_ties")[:2]).tied_thresholds) == 3
    # ties on paper that floating point breaks: pROC keeps 2 of 3, so must we (tp/n1 + tn/n0 as pROC computes it)
    y, p1, _, d = _data("youden_ties_float")
    assert len(np.atleast_1d(d["youden"]["threshold"])) == 2 and len(E.youden_thresholds(y, p1)) == 2


@pytest.mark.parametrize("case", UNPAIRED, ids=lambda c: f"{c['dataset1']}.{c['score1']}-{c['dataset2']}.{c['score2']}")
def test_unpaired_delong_test_equals_proc(case):
    first, second = FIXTURES[case["dataset1"]], FIXTURES[case["dataset2"]]
    result = E.delong_test_unpaired(first["y"], first[case["score1"]], second["y"], second[case["score2"]])
    assert not result.paired
    assert (result.auc1, result.auc2) == pytest.approx((case["auc1"], case["auc2"]), abs=1e-9)
    assert result.z == pytest.approx(case["statistic"], rel=1e-9, abs=1e-6)
    assert result.df == pytest.approx(case["df"], rel=1e-9)
    assert result.p == pytest.approx(case["p"], rel=1e-9, abs=1e-6)
    assert result.diff_ci[0] < result.auc1 - result.auc2 < result.diff_ci[1]


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


@pytest.mark.parametrize("name", NAMES)
def test_categorical_nri_equals_hand_written_r(name):
    y, p1, p2, d = _data(name)
    ref = d["categorical_nri"]
    result = E.nri_idi(y, p_old=p2, p_new=p1, cutoffs=tuple(ref["cutoffs"]))
    assert result.cutoffs == tuple(ref["cutoffs"])
    for ours, theirs in ((result.categorical_nri, ref["nri"]), (result.categorical_nri_events, ref["nri_ev"]),
                         (result.categorical_nri_nonevents, ref["nri_ne"]), (result.categorical_nri_se, ref["se"]),
                         (result.categorical_nri_z, ref["z"]), (result.categorical_nri_p, ref["p"])):
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


# ------------------------------------------------------------------ degenerate inputs
# Every function is run on: a single class in y, NaN in p, a constant p and p outside [0, 1]. None may raise
# anything but a ValueError, and none may emit a RuntimeWarning (silent NaN) — warnings are errors here.

Y = np.array([0, 1, 0, 1, 1, 0, 0, 1, 0, 1])
P = np.array([0.1, 0.8, 0.3, 0.6, 0.4, 0.35, 0.2, 0.9, 0.5, 0.7])
P_OTHER = np.array([0.2, 0.7, 0.25, 0.5, 0.55, 0.3, 0.15, 0.8, 0.6, 0.65])
CONSTANT = np.full(Y.size, 0.3)

FUNCTIONS = {
    "auc": lambda y, p: E.auc(y, p),
    "auc_ci": lambda y, p: E.auc_ci(y, p),
    "auc_ci_bootstrap": lambda y, p: E.auc_ci(y, p, "bootstrap", n_boot=50),
    "delong_variance": lambda y, p: E.delong_variance(y, p),
    "delong_test": lambda y, p: E.delong_test(y, p, P_OTHER),
    "delong_test_unpaired": lambda y, p: E.delong_test_unpaired(y, p, Y, P_OTHER),
    "youden_thresholds": lambda y, p: E.youden_thresholds(y, p),
    "threshold_metrics": lambda y, p: E.threshold_metrics(y, p, n_boot=50),
    "brier": lambda y, p: E.brier(y, p),
    "calibration": lambda y, p: E.calibration(y, p),
    "calibration_bins": lambda y, p: E.calibration_bins(y, p),
    "hosmer_lemeshow": lambda y, p: E.hosmer_lemeshow(y, p, groups=4),
    "decision_curve": lambda y, p: E.decision_curve(y, p),
    "clinical_impact": lambda y, p: E.clinical_impact(y, p),
    "nri_idi_new": lambda y, p: E.nri_idi(y, P_OTHER, p, cutoffs=(0.3, 0.6)),
    "nri_idi_old": lambda y, p: E.nri_idi(y, p, P_OTHER, cutoffs=(0.3, 0.6)),
}
PROBABILITIES = {"brier", "calibration", "calibration_bins", "hosmer_lemeshow", "decision_curve", "clinical_impact",
                 "nri_idi_new", "nri_idi_old"}


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("function", FUNCTIONS)
def test_single_class_y_is_refused_by_every_function(function):
    with pytest.raises(ValueError, match="single class"):
        FUNCTIONS[function](np.ones(Y.size, dtype=int), P)
    with pytest.raises(ValueError, match="single class"):
        FUNCTIONS[function](np.zeros(Y.size, dtype=int), P)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("function", FUNCTIONS)
def test_nan_p_is_refused_by_every_function(function):
    for bad in (np.nan, np.inf):
        p = P.copy()
        p[3] = bad
        with pytest.raises(ValueError, match="1 missing or infinite value"):
            FUNCTIONS[function](Y, p)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("function", FUNCTIONS)
def test_p_outside_unit_interval(function):
    scores = P * 10 - 3  # same ranks as P, outside [0, 1]
    if function in PROBABILITIES:
        with pytest.raises(ValueError, match=r"must be probabilities in \[0, 1\] \(found -2 to 6\)"):
            FUNCTIONS[function](Y, scores)
    else:  # rank statistics take any score: the same result as for P (thresholds on the score's scale)
        ours, reference = FUNCTIONS[function](Y, scores), FUNCTIONS[function](Y, P)
        if function == "youden_thresholds":
            assert [(s, c) for _, s, c in ours] == [(s, c) for _, s, c in reference]
        elif function == "threshold_metrics":
            assert (ours.sensitivity, ours.specificity) == (reference.sensitivity, reference.specificity)
            assert ours.threshold == pytest.approx(reference.threshold * 10 - 3)
        else:
            assert ours == reference


CONSTANT_RESULTS = {  # function -> check of its documented value for a constant p, or the error it raises
    "auc": lambda r: r == 0.5,
    "auc_ci": lambda r: (r.auc, r.lower, r.upper, r.variance) == (0.5, 0.5, 0.5, 0.0),
    "auc_ci_bootstrap": lambda r: (r.auc, r.lower, r.upper) == (0.5, 0.5, 0.5),
    "delong_variance": lambda r: r == 0.0,
    "delong_test": lambda r: r.auc1 == 0.5 and r.se_diff > 0 and math.isfinite(r.z),
    "delong_test_unpaired": lambda r: r.auc1 == 0.5 and r.df == pytest.approx(Y.size - 1) and math.isfinite(r.z),
    "youden_thresholds": lambda r: r == [(-math.inf, 1.0, 0.0), (math.inf, 0.0, 1.0)],
    "threshold_metrics": r"p is constant \(every value is 0\.3\), so no cut-off separates events from non-events",
    "brier": lambda r: r == pytest.approx(np.mean((CONSTANT - Y) ** 2)),
    "calibration": "calibration slope needs at least two distinct predicted probabilities, but p is constant",
    "calibration_bins": lambda r: len(r) == 1 and r[0]["n"] == Y.size and r[0]["observed"] == Y.mean(),
    "hosmer_lemeshow": "needs at least 3 distinct risk groups",
    "decision_curve": lambda r: list(r.true_positives) == [Y.sum()] * 30 + [0] * 69,
    "clinical_impact": lambda r: list(r.high_risk) == [1000.0] * 30 + [0.0] * 69,
    "nri_idi_new": lambda r: math.isfinite(r.nri_z) and math.isfinite(r.idi_z) and math.isfinite(r.categorical_nri_z),
    "nri_idi_old": lambda r: math.isfinite(r.nri_z) and math.isfinite(r.idi_z) and math.isfinite(r.categorical_nri_z),
}


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("function", FUNCTIONS)
def test_constant_p_gives_a_documented_value_or_a_clear_error(function):
    expected = CONSTANT_RESULTS[function]
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=expected):
            FUNCTIONS[function](Y, CONSTANT)
    else:
        assert expected(FUNCTIONS[function](Y, CONSTANT))


def test_constant_p_values_are_procs():
    ref = DEGENERATE["constant"]
    y, p = np.array(ref["y"]), np.array(ref["p"])
    result = E.auc_ci(y, p)
    assert (result.auc, result.lower, result.upper, result.variance) == (ref["auc"], *ref["ci"], ref["var"])
    optima = E.youden_thresholds(y, p)
    assert [t for t, _, _ in optima] == [float(t) for t in ref["youden"]["threshold"]]  # pROC's -Inf and Inf
    assert [(s, c) for _, s, c in optima] == list(zip(ref["youden"]["sensitivity"], ref["youden"]["specificity"],
                                                      strict=True))
    assert E.threshold_metrics(y, p, threshold=0.3).sensitivity == 1.0  # an explicit cut-off still works


@pytest.mark.filterwarnings("error")
def test_zero_standard_errors_follow_procs_rule():
    y, p1, _, _ = _data("n200")
    same = E.delong_test(y, p1, p1.copy())  # identical scores: pROC gives Z = 0, p = 1
    assert (same.z, same.p) == (DEGENERATE["identical_paired"]["z"], DEGENERATE["identical_paired"]["p"]) == (0, 1)
    both_constant = E.delong_test(Y, CONSTANT, np.full(Y.size, 0.7))
    assert (both_constant.z, both_constant.p, both_constant.se_diff) == (0.0, 1.0, 0.0)
    unpaired = E.delong_test_unpaired(Y, CONSTANT, Y, np.full(Y.size, 0.7))
    assert (unpaired.z, unpaired.p) == (0.0, 1.0) and math.isnan(unpaired.df)
    perfect = np.where(Y == 1, 0.9, 0.1)
    with pytest.raises(ValueError, match=r"standard error of 0.*pROC reports Z = ±Inf"):
        E.delong_test(Y, perfect, CONSTANT)
    with pytest.raises(ValueError, match="standard error of 0"):
        E.delong_test_unpaired(Y, perfect, Y, CONSTANT)
    # NRI / IDI: identical or both-constant predictions reclassify nobody (or everybody the same way)
    for old, new in ((P, P.copy()), (CONSTANT, np.full(Y.size, 0.5))):
        result = E.nri_idi(Y, old, new, cutoffs=(0.2, 0.4))
        assert (result.nri, result.nri_z, result.nri_p) == (0.0, 0.0, 1.0)
        assert (result.idi, result.idi_z, result.idi_p) == (0.0, 0.0, 1.0)
        assert (result.categorical_nri_z, result.categorical_nri_p) == (0.0, 1.0)
    # every event up and every non-event down: Hmisc's NRI variance is 0 with NRI = 2
    with pytest.raises(ValueError, match="continuous NRI is 2 with a standard error of 0"):
        E.nri_idi(Y, P, np.clip(P + np.where(Y == 1, 0.05, -0.05), 0, 1))


@pytest.mark.filterwarnings("error")
def test_other_degenerate_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="y is empty"):
        E.auc([], [])
    with pytest.raises(ValueError, match="same length"):
        E.auc([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"at least 2 events and 2 non-events \(found 1 and 4\)"):
        E.auc_ci([0, 0, 0, 0, 1], [0.1, 0.2, 0.3, 0.4, 0.5])
    assert E.auc([0, 0, 0, 0, 1], [0.1, 0.2, 0.3, 0.4, 0.5]) == 1.0  # the point estimate is fine
    with pytest.raises(ValueError, match="at least 2 events"):
        E.nri_idi([0, 0, 0, 1], [0.1, 0.2, 0.3, 0.4], [0.2, 0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="threshold is NaN"):
        E.threshold_metrics(Y, P, threshold=math.nan)
    with pytest.raises(ValueError, match="separates events from non-events perfectly"):
        E.calibration(Y, np.where(Y == 1, 0.9, 0.1))
    zeros = np.where(np.arange(40) < 20, 0.0, np.linspace(0.05, 0.95, 40))
    with pytest.raises(ValueError, match=r"has 0 expected events \(every p in it is 0\)"):
        E.hosmer_lemeshow(np.arange(40) % 2, zeros)
    with pytest.raises(ValueError, match="cut-offs must be distinct numbers strictly between 0 and 1"):
        E.nri_idi(Y, P, P_OTHER, cutoffs=(0.5, 1.5))
    # no cut-off better than chance (scores reversed): pROC's optima are -Inf and Inf; the lowest is used
    metrics = E.threshold_metrics(Y, 1 - np.where(Y == 1, 0.9, 0.1), n_boot=20)
    assert metrics.tied_thresholds == (-math.inf, math.inf) and metrics.threshold == -math.inf
    assert (metrics.sensitivity, metrics.specificity) == (1.0, 0.0)
    at_top = E.threshold_metrics(Y, P, threshold=0.95, n_boot=20)  # nobody test-positive: PPV undefined
    assert math.isnan(at_top.ppv) and all(math.isnan(v) for v in at_top.ppv_ci) and at_top.npv == 0.5


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

    from AxillaryPredictorLib.cli.main import main
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


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_report_records_a_constant_or_broken_model_and_goes_on(tmp_path):
    import pandas as pd

    from AxillaryPredictorLib.evaluation.comparison import evaluate_cohorts, write_evaluation_report

    y, p1, p2, _ = _data("n200")
    frame = pd.DataFrame({"y": y, "new": p1, "constant": np.full(y.size, 0.4), "old": p2})
    other = frame.copy()
    other.loc[3, "old"] = np.nan
    cohorts = {"training": frame, "external": other}
    report = evaluate_cohorts(cohorts, "y", ["new", "constant", "old"])
    table = report.table.set_index(["cohort", "model"])
    good = table.loc[("training", "new")]
    assert good.problems == "" and good.auc == pytest.approx(E.auc(y, p1))
    constant = table.loc[("training", "constant")]
    assert constant.auc == 0.5 and constant.brier == pytest.approx(np.mean((0.4 - y) ** 2))
    assert math.isnan(constant.threshold) and math.isnan(constant.sensitivity)
    assert math.isnan(constant.hl_statistic) and math.isnan(constant.calibration_slope)
    assert "Youden cut-off on 'training': p is constant" in constant.problems
    assert "Hosmer–Lemeshow" in constant.problems and "calibration: The calibration slope" in constant.problems
    broken = table.loc[("external", "old")]
    assert broken.problems.startswith("data: p has 1 missing or infinite value") and math.isnan(broken.auc)
    assert table.loc[("external", "old")].problems != table.loc[("training", "old")].problems == ""
    assert "old" not in report.curves["external"] and "constant" in report.curves["external"]
    delong = report.delong.set_index(["cohort", "model_1", "model_2"])
    assert delong.loc[("training", "new", "constant")].problem == ""
    assert "missing or infinite" in delong.loc[("external", "constant", "old")].problem
    assert report.nri_idi.problem.str.contains("missing").sum() == 1

    paths = write_evaluation_report(report, cohorts, "y", tmp_path)
    data = json.loads((tmp_path / "models.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    row = next(r for r in data["models"] if r["model"] == "constant" and r["cohort"] == "training")
    assert row["threshold"] is None and row["auc"] == 0.5 and "p is constant" in row["problems"]
    assert "p is constant" in paths["html"].read_text(encoding="utf-8")
    assert all(paths[k].stat().st_size > 5000 for k in ("roc", "calibration", "dca", "impact"))


def test_evaluation_charts_in_the_scene(headless):
    import pandas as pd

    from AxillaryPredictorLib.evaluation.comparison import evaluate_cohorts
    from AxillaryPredictorLib.scene.plots import evaluation_charts
    from AxillaryPredictorLib.scene.results import frame_from_table_node

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
