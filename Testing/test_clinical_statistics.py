"""Clinical statistics (table1, univariable / multivariable ORs, Cohen's kappa) against R fixtures made
by ``Testing/fixtures/clinical/make_fixtures.R`` (t.test, wilcox.test, chisq.test, fisher.test, oneway.test,
kruskal.test, shapiro.test, glm, psych::cohen.kappa)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from AxillaryPredictorLib.evaluation import group_tests as T
from AxillaryPredictorLib.evaluation.agreement import cohen_kappa
from AxillaryPredictorLib.evaluation.clinical_tables import is_normal, table1, univariable

HERE = Path(__file__).parent / "fixtures" / "clinical"
FIXTURES = json.loads((HERE / "clinical_fixtures.json").read_text(encoding="utf-8"))
CLINICAL = pd.read_csv(HERE / "clinical.csv", dtype={"grade": str})  # grade 1/2/3 is a category, as in R
CONTINUOUS = ["age", "size", "nlr"]
CATEGORICAL = ["er", "subtype", "margin", "grade"]
COHORTS = ["all", "external", "internal", "train"]


def _frame(cohort: str) -> pd.DataFrame:
    return CLINICAL if cohort == "all" else CLINICAL[CLINICAL.split == cohort]


def _samples(frame: pd.DataFrame, variable: str, group: str) -> list[np.ndarray]:
    keep = frame[variable].notna()
    return [frame.loc[keep & (frame[group] == g), variable].to_numpy(float) for g in sorted(frame[group].unique())]


def _table(frame: pd.DataFrame, variable: str, group: str) -> np.ndarray:
    return pd.crosstab(frame[variable].astype(str).where(frame[variable].notna()), frame[group]).to_numpy()


@pytest.mark.parametrize("cohort", COHORTS)
@pytest.mark.parametrize("variable", CONTINUOUS)
def test_two_group_tests_equal_r(cohort, variable):
    expected = FIXTURES["by_outcome"][cohort][variable]
    a, b = _samples(_frame(cohort), variable, "aln")
    t = T.welch_t(a, b)
    assert (t.statistic, t.df, t.p) == pytest.approx((expected["t"]["statistic"], expected["t"]["df"],
                                                      expected["t"]["p"]), rel=1e-9)
    w = T.mann_whitney(a, b)
    assert w.statistic == expected["wilcox"]["statistic"]
    assert w.p == pytest.approx(expected["wilcox"]["p"], rel=1e-9)
    assert is_normal([a, b]) == (min(expected["shapiro_p"]) >= 0.05)


@pytest.mark.parametrize("variable", CONTINUOUS)
def test_k_group_tests_equal_r(variable):
    expected = FIXTURES["by_cohort"][variable]
    samples = _samples(CLINICAL, variable, "split")
    anova = T.welch_anova(samples)
    assert (anova.statistic, anova.df, anova.p) == pytest.approx(
        (expected["anova"]["statistic"], expected["anova"]["df2"], expected["anova"]["p"]), rel=1e-9)
    kruskal = T.kruskal_wallis(samples)
    assert (kruskal.statistic, kruskal.p) == pytest.approx((expected["kruskal"]["statistic"],
                                                            expected["kruskal"]["p"]), rel=1e-9)


@pytest.mark.parametrize("cohort", [*COHORTS, "by_cohort"])
@pytest.mark.parametrize("variable", CATEGORICAL)
def test_contingency_tests_equal_r(cohort, variable):
    if cohort == "by_cohort":
        expected, table = FIXTURES["by_cohort"][variable], _table(CLINICAL, variable, "split")
    else:
        expected, table = FIXTURES["by_outcome"][cohort][variable], _table(_frame(cohort), variable, "aln")
    assert table.T.tolist() == expected["counts"]
    chi = T.chi_squared(table)
    assert (chi.statistic, chi.p) == pytest.approx((expected["chisq"]["statistic"], expected["chisq"]["p"]), rel=1e-9)
    assert T.expected_counts(table).min() == pytest.approx(expected["min_expected"], rel=1e-12)
    if min(table.shape) > 2:  # r x c with r, c >= 3 and n = 150: more tables than MAX_FISHER_TABLES
        with pytest.raises(T.FisherTooLargeError):
            T.fisher_exact(table)
        return
    assert T.fisher_exact(table).p == pytest.approx(expected["fisher_p"], rel=1e-6)


def test_exact_wilcoxon_small_fisher_and_yates_equal_r():
    small = FIXTURES["small"]
    x, g = np.array(small["x"]), np.array(small["g"])
    w = T.mann_whitney(x[g == 0], x[g == 1])
    assert (w.statistic, w.p) == pytest.approx((small["wilcox"]["statistic"], small["wilcox"]["p"]), rel=1e-9)
    fisher = np.array(small["fisher_table"]).reshape(2, 2, order="F")
    assert T.fisher_exact(fisher).p == pytest.approx(small["fisher_p"], rel=1e-9)
    chi = T.chi_squared(np.array(small["chisq_table"]).reshape(2, 2, order="F"))
    assert chi.test == T.CHI2_YATES
    assert (chi.statistic, chi.p) == pytest.approx((small["chisq"]["statistic"], small["chisq"]["p"]), rel=1e-9)


def test_table1_chooses_tests_by_normality_and_expected_counts():
    result, by_cohort = table1(CLINICAL.drop(columns=["case_id"]), "aln", cohort="split")
    table = result.table
    assert {"variable", "level", "test", "p"} <= set(table.columns)
    head = table[(table.level == "") & (table.cohort == "train")].set_index("variable")
    expected = FIXTURES["by_outcome"]["train"]
    for variable in CONTINUOUS:
        normal = min(expected[variable]["shapiro_p"]) >= 0.05
        assert head.loc[variable, "test"] == (T.WELCH_T if normal else T.MANN_WHITNEY)
        reference = expected[variable]["t" if normal else "wilcox"]["p"]
        assert head.loc[variable, "p"] == pytest.approx(reference, rel=1e-9)
    for variable in CATEGORICAL:
        fisher = expected[variable]["min_expected"] < 5
        assert head.loc[variable, "test"].startswith("Fisher" if fisher else "Pearson")
        reference = expected[variable]["fisher_p"] if fisher else expected[variable]["chisq"]["p"]
        assert head.loc[variable, "p"] == pytest.approx(reference, rel=1e-6)
    # numeric 0/1 is categorical, with one row per level and counts of the non-missing values
    levels = table[(table.cohort == "train") & (table.variable == "er") & (table.level != "")]
    assert levels.level.tolist() == ["0", "1"]
    counts = FIXTURES["by_outcome"]["train"]["er"]["counts"]
    assert levels["aln=0"].str.split(" ").str[0].astype(int).tolist() == counts[0]
    assert head.loc["size", "missing"] == CLINICAL[CLINICAL.split == "train"]["size"].isna().sum()
    cohort_head = by_cohort.table[by_cohort.table.level == ""].set_index("variable")
    assert cohort_head.loc["grade", "p"] == pytest.approx(FIXTURES["by_cohort"]["grade"]["chisq"]["p"], rel=1e-9)


def test_table1_summaries_equal_r():
    result, _ = table1(CLINICAL, "aln", continuous="normal", digits=6)
    row = result.table[result.table.variable == "age"].iloc[0]
    expected = FIXTURES["by_outcome"]["all"]["age"]
    assert row["aln=0"] == f"{expected['mean'][0]:.6f} ± {expected['sd'][0]:.6f}"
    result, _ = table1(CLINICAL, "aln", continuous="nonnormal", digits=6)
    row = result.table[result.table.variable == "size"].iloc[0]
    expected = FIXTURES["by_outcome"]["all"]["size"]
    assert row["aln=1"] == f"{expected['median'][1]:.6f} [{expected['q1'][1]:.6f}; {expected['q3'][1]:.6f}]"
    assert row["test"] == T.MANN_WHITNEY


def test_univariable_odds_ratios_equal_glm():
    table = univariable(CLINICAL, "aln", CONTINUOUS + CATEGORICAL, multivariable_p=0.05)
    assert list(table.columns[:7]) == ["model", "variable", "level", "or", "ci_lower", "ci_upper", "p"]
    uni = table[table.model == "univariable"]
    for variable in CONTINUOUS + CATEGORICAL:
        expected = FIXTURES["univariable"][variable]
        rows = uni[uni.variable == variable]
        terms = expected["terms"] if isinstance(expected["terms"], list) else [expected["terms"]]  # R unboxes length 1
        assert [variable + (lv if variable in CATEGORICAL else "") for lv in rows.level] == terms
        for column, key in (("or", "or"), ("ci_lower", "lower"), ("ci_upper", "upper"), ("p", "p")):
            assert rows[column].to_numpy() == pytest.approx(np.atleast_1d(expected[key]), rel=1e-6)
        assert (rows.n == expected["n"]).all()
    multi = table[table.model == "multivariable"]
    expected = FIXTURES["multivariable"]
    assert list(multi.variable + multi.level) == expected["terms"]
    for column, key in (("or", "or"), ("ci_lower", "lower"), ("ci_upper", "upper"), ("p", "p")):
        assert multi[column].to_numpy() == pytest.approx(expected[key], rel=1e-6)
    assert (multi.n == expected["n"]).all()


@pytest.mark.parametrize("weights", ["quadratic", "linear"])
def test_cohen_kappa_equals_psych(weights):
    readers = pd.read_csv(HERE / "readers.csv")
    expected = FIXTURES["kappa"][weights]
    result = cohen_kappa(readers.reader1, readers.reader2, weights=weights)
    assert result.n == expected["n"]
    assert result.kappa == pytest.approx(expected["kappa"], rel=1e-9)
    assert result.kappa_variance == pytest.approx(expected["kappa_var"], rel=1e-9)
    assert result.kappa_ci == pytest.approx(tuple(expected["kappa_ci"]), rel=1e-9)
    assert result.weighted_kappa == pytest.approx(expected["weighted"], rel=1e-9)
    assert result.weighted_variance == pytest.approx(expected["fce_var"], rel=1e-9)
    assert result.psych_weighted_variance == pytest.approx(expected["weighted_var"], abs=1e-12)


def test_cohen_kappa_of_text_reads_equals_psych():
    expected = FIXTURES["kappa"]["binary"]
    result = cohen_kappa(expected["reader1"], expected["reader2"], weights="none")
    assert result.kappa == pytest.approx(expected["kappa"], rel=1e-9)
    assert result.kappa_ci == pytest.approx(tuple(expected["kappa_ci"]), rel=1e-9)
    assert result.levels == ("negative", "positive")


def test_numeric_codes_can_be_declared_categorical():
    frame = pd.read_csv(HERE / "clinical.csv")  # grade read as numbers 1/2/3: continuous by the type rule
    result, _ = table1(frame, "aln", variables=["grade"])
    assert result.table.loc[1, "kind"] == "continuous"
    result, _ = table1(frame, "aln", variables=["grade"], categorical=["grade"])
    rows = result.table[result.table.variable == "grade"]
    assert rows.level.tolist() == ["", "1", "2", "3"]
    assert rows.p.iloc[0] == pytest.approx(FIXTURES["by_outcome"]["all"]["grade"]["chisq"]["p"], rel=1e-9)
    table = univariable(frame, "aln", ["grade"], categorical=["grade"])
    assert table.p.to_numpy() == pytest.approx(FIXTURES["univariable"]["grade"]["p"], rel=1e-6)


def test_fisher_refuses_a_table_with_an_empty_margin():
    with pytest.raises(ValueError, match="empty row or column"):
        T.fisher_exact(np.array([[0, 0], [3, 4]]))


def test_table1_and_univariable_commands_write_their_tables(tmp_path, capsys):
    from AxillaryPredictorLib.cli.main import main

    out = tmp_path / "table1.csv"
    assert main(["table1", "--clinical", str(HERE / "clinical.csv"), "--outcome", "aln", "--cohort-column", "split",
                 "--categorical", "grade", "--out", str(out)]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert table.cohort.unique().tolist() == ["train", "internal", "external"]
    head = table[(table.cohort == "internal") & (table.variable == "grade") & (table.level == "")].iloc[0]
    expected = FIXTURES["by_outcome"]["internal"]["grade"]
    reference = expected["fisher_p"] if expected["min_expected"] < 5 else expected["chisq"]["p"]
    assert float(head.p) == pytest.approx(reference, rel=1e-6)
    cohorts = pd.read_csv(tmp_path / "table1.cohorts.csv")
    assert [c for c in cohorts.columns if c.startswith("split=")] == ["split=train", "split=internal",
                                                                      "split=external"]
    out = tmp_path / "univariable.csv"
    assert main(["univariable", "--clinical", str(HERE / "clinical.csv"), "--outcome", "aln", "--variables",
                 "age,size,margin", "--multivariable-p", "0.05", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert table.model.tolist() == ["univariable"] * 3 + ["multivariable"] * 3
    assert table.loc[0, "or"] == pytest.approx(FIXTURES["univariable"]["age"]["or"], rel=1e-6)
    assert main(["univariable", "--clinical", str(HERE / "clinical.csv"), "--outcome", "nope", "--out",
                 str(out)]) == 2
    assert "No outcome column 'nope'" in capsys.readouterr().err


def test_kappa_command(tmp_path):
    from AxillaryPredictorLib.cli.main import main

    readers = pd.read_csv(HERE / "readers.csv")
    readers[["case_id", "reader1"]].rename(columns={"reader1": "grade"}).to_csv(tmp_path / "a.csv", index=False)
    readers[["case_id", "reader2"]].rename(columns={"reader2": "grade"}).to_csv(tmp_path / "b.csv", index=False)
    out = tmp_path / "kappa.csv"
    assert main(["kappa", "--reader1", str(tmp_path / "a.csv"), "--reader2", str(tmp_path / "b.csv"), "--columns",
                 "grade", "--weights", "linear", "--out", str(out)]) == 0
    row = pd.read_csv(out).iloc[0]
    expected = FIXTURES["kappa"]["linear"]
    assert row.n == expected["n"]
    assert (row.kappa, row.weighted_kappa) == pytest.approx((expected["kappa"], expected["weighted"]), rel=1e-9)
    assert (row.kappa_lower, row.kappa_upper) == pytest.approx(tuple(expected["kappa_ci"]), rel=1e-9)


def test_train_clinical_recipe_exports_a_clinical_only_comparator(tmp_path, capsys):
    from AxillaryPredictorLib.cli.main import main
    from AxillaryPredictorLib.evaluation.clinical_tables import odds_ratios
    from AxillaryPredictorLib.packages.package import load_package

    out = tmp_path / "clinical.json"
    assert main(["train", "--recipe", "clinical", "--clinical", str(HERE / "clinical.csv"), "--outcome", "aln",
                 "--clinical-vars", "age,margin,nlr,subtype", "--out", str(out)]) == 0
    assert "held out (external: 38, internal: 32)" in capsys.readouterr().out
    package = load_package(out)
    # backward elimination at p < 0.05 on the 80 training cases keeps margin only: its OR is the univariable one
    assert package.features == ["margin=spiculated"]
    train = CLINICAL[CLINICAL.split == "train"]
    expected = odds_ratios(train, "aln", ["margin"]).iloc[0]
    coefficients = pd.read_csv(tmp_path / "clinical.coefficients.csv").set_index("term")
    assert coefficients.loc["margin=spiculated", "odds_ratio"] == pytest.approx(expected["or"], rel=1e-9)
    probability = package.predict_proba(train)
    spiculated = (train.margin == "spiculated").to_numpy()
    assert probability[spiculated] == pytest.approx(train.aln[spiculated].mean(), rel=1e-9)
    assert 0 <= package.document["performance"]["cv"]["auc"] <= 1
    assert main(["train", "--recipe", "clinical", "--clinical", str(HERE / "clinical.csv"), "--outcome", "aln",
                 "--out", str(out)]) == 2
    assert "give --clinical" in capsys.readouterr().err
    assert main(["train", "--recipe", "lasso-lr", "--clinical", str(HERE / "clinical.csv"), "--outcome", "aln",
                 "--out", str(out)]) == 2
    assert "give --features" in capsys.readouterr().err


def test_train_clinical_says_what_to_do_when_backward_elimination_keeps_nothing(tmp_path, capsys):
    """nlr's univariable p in the 80 training cases is 0.138: backward elimination at p < 0.05 keeps no
    term, which is a user error (exit 2, what happened and how to fix it), not an intercept-only package."""
    from AxillaryPredictorLib.cli.main import main
    from AxillaryPredictorLib.packages.package import load_package

    out = tmp_path / "clinical.json"
    argv = ["train", "--recipe", "clinical", "--clinical", str(HERE / "clinical.csv"), "--outcome", "aln",
            "--clinical-vars", "nlr", "--out", str(out)]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "backward elimination at p < 0.05 (recipe 'clinical') kept none of the 1 clinical term(s) (nlr)" in error
    assert "80 training cases (34 with aln = 1)" in error and "smallest univariable p is 0.138 (nlr)" in error
    assert "--p-threshold 0.1" in error and "--outcome aln" in error
    assert not out.exists()
    # the threshold the message names: nlr is kept at p < 0.2
    assert main([*argv, "--p-threshold", "0.2"]) == 0
    assert load_package(out).features == ["nlr"]
    assert main([*argv, "--p-threshold", "1.5"]) == 2
    assert "--p-threshold must lie between 0 and 1" in capsys.readouterr().err
    assert main(["train", "--recipe", "lasso-lr", "--features", "x.csv", "--outcome", "aln", "--p-threshold", "0.1",
                 "--out", str(out)]) == 2
    assert "recipe 'lasso-lr' selects its combined model by 'aic'" in capsys.readouterr().err


def test_clinical_values_outside_the_training_range_warn_but_a_declared_range_refuses(tmp_path, capsys):
    """An external cohort's age beyond the training cases' 24.9-81.3 years is scored with an
    out-of-distribution warning (evaluate, and the single case's prediction warnings); a range declared
    in the clinical spec (a hard limit) still refuses."""
    from AxillaryPredictorLib.cli.main import main
    from AxillaryPredictorLib.packages.package import load_package

    out = tmp_path / "age.json"
    train = ["train", "--recipe", "clinical", "--clinical", str(HERE / "clinical.csv"), "--outcome", "aln",
             "--clinical-vars", "age", "--out", str(out)]
    assert main(train) == 0
    package = load_package(out)
    assert package.document["clinical_variables"][0]["range"] is None  # the training range is no limit
    assert package.document["training_ranges"]["age"] == pytest.approx([24.9, 81.3])
    external = CLINICAL[CLINICAL.split == "internal"][["case_id", "aln", "age"]].copy()
    external.iloc[0, 2], external.iloc[1, 2] = 88.0, 19.5
    external.to_csv(tmp_path / "external.csv", index=False)
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out), "--cohort", f"external={tmp_path / 'external.csv'}", "--outcome",
                 "aln", "--out", str(tmp_path / "report")]) == 0
    printed = capsys.readouterr().out
    expected = (f"model 'user-model', cohort 'external': age: 2 of 32 case(s) outside the training range [24.9, 81.3] "
                f"(e.g. {external.case_id.iloc[0]}, {external.case_id.iloc[1]}; out of distribution).")
    assert f"warning: {expected}" in printed
    assert (tmp_path / "report" / "warnings.txt").read_text().strip() == expected
    # scored, not refused: the logistic model extrapolates
    beta = pd.read_csv(tmp_path / "age.coefficients.csv").set_index("term")["beta"]
    old = external.iloc[[0]]
    assert package.predict_proba(old)[0] == pytest.approx(1 / (1 + np.exp(-(beta["(Intercept)"] + 88 * beta["age"]))))
    # one case's prediction records the warning (pipeline.score_case: ModelPackage.out_of_range of its design)
    warnings = package.out_of_range(package.design(old))
    assert warnings == ["age = 88 lies outside the training range [24.9, 81.3] (out of distribution): interpret the "
                        "prediction with caution."]
    # a declared range is a hard physical limit: refused
    (tmp_path / "spec.yaml").write_text("- {name: age, kind: continuous, unit: years, range: [18, 85]}\n")
    assert main([*train, "--clinical-spec", str(tmp_path / "spec.yaml")]) == 0
    assert main(["evaluate", "--model", str(out), "--cohort", f"external={tmp_path / 'external.csv'}", "--outcome",
                 "aln", "--out", str(tmp_path / "report2")]) == 2
    assert "age = 88 is outside the allowed range 18 to 85 years" in capsys.readouterr().err



def test_the_clinical_spec_names_the_reference_level_of_the_odds_ratios(tmp_path):
    """R's glm takes the first factor level as reference; a declared level order (spiculated first) must
    give the reciprocal odds ratio and the swapped CI of the alphabetical order's (smooth first)."""
    from AxillaryPredictorLib.cli.main import main

    spec = tmp_path / "spec.yaml"
    spec.write_text("variables:\n  - {name: margin, kind: categorical, levels: [spiculated, smooth]}\n"
                    "  - {name: er, kind: binary, levels: ['1', '0']}\n", encoding="utf-8")
    out = tmp_path / "univariable.csv"
    assert main(["univariable", "--clinical", str(HERE / "clinical.csv"), "--outcome", "aln", "--variables",
                 "margin,er", "--clinical-spec", str(spec), "--out", str(out)]) == 0
    table = pd.read_csv(out).set_index("variable")
    for variable, level in (("margin", "smooth"), ("er", 0)):
        expected = FIXTURES["univariable"][variable]
        assert str(table.loc[variable, "level"]) == str(level)
        assert table.loc[variable, "or"] == pytest.approx(1 / expected["or"], rel=1e-6)
        assert table.loc[variable, "ci_lower"] == pytest.approx(1 / expected["upper"], rel=1e-6)
        assert table.loc[variable, "p"] == pytest.approx(expected["p"], rel=1e-6)
