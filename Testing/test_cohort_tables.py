"""Cohort tables, clinical variables and the train command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from AxillaryPredictorLib.modeling.clinical import (
    ClinicalEncoder,
    ClinicalVariable,
    add_blood_indices,
    validate_clinical,
)
from AxillaryPredictorLib.modeling.cohort_tables import load_cohort


def _tables(n=40, seed=0):
    rng = np.random.default_rng(seed)
    features = pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], **{f"f{j}": rng.normal(size=n)
                                                                      for j in range(6)}})
    clinical = pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], "ki67": rng.uniform(1, 80, n),
                             "aln": rng.integers(0, 2, n), "split": ["train"] * (n - 10) + ["test"] * 10})
    return features, clinical


def test_cohort_joins_tables_and_keeps_split():
    features, clinical = _tables()
    cohort = load_cohort(features, clinical, "aln")
    assert list(cohort.features.columns) == [f"f{j}" for j in range(6)]
    assert cohort.y.isin([0, 1]).all() and cohort.split.value_counts()["test"] == 10
    assert len(cohort.subset("train").y) == 30 and "ki67" in cohort.design().columns


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda f, c: (pd.concat([f, f.iloc[[0]]]), c), "duplicate case_ids: c0"),
    (lambda f, c: (f.iloc[1:], c), "appear in table #2 but not in all tables: c0"),
    (lambda f, c: (f, c.assign(aln=c["aln"] + 1)), "must be binary"),
    (lambda f, c: (f, c.assign(aln=0)), "single class"),
    (lambda f, c: (f.assign(f0=np.where(np.arange(len(f)) < 3, np.nan, f["f0"])), c), r"Missing values: f0 \(3\)"),
    (lambda f, c: (f.drop(columns="case_id"), c), "no 'case_id' column"),
])
def test_cohort_validation_messages(mutate, message):
    features, clinical = mutate(*_tables())
    with pytest.raises(ValueError, match=message):
        load_cohort(features, clinical, "aln")


def test_constant_columns_and_allowed_missing_are_reported():
    features, clinical = _tables()
    features["const"] = 1.0
    features.loc[0, "f1"] = np.nan
    cohort = load_cohort(features, clinical, "aln", allow_missing=True)
    assert any("constant" in w for w in cohort.warnings) and any("Missing" in w for w in cohort.warnings)


def test_blood_indices():
    frame = pd.DataFrame({"neutrophils": [4.0], "lymphocytes": [2.0], "platelets": [250.0], "monocytes": [0.5],
                          "wbc": [7.0]})
    out = add_blood_indices(frame)
    assert out.loc[0, ["sii", "nlr", "plr", "mlr", "wlr"]].tolist() == [500.0, 2.0, 125.0, 0.25, 3.5]
    with pytest.raises(ValueError, match="positive"):
        add_blood_indices(frame.assign(lymphocytes=0.0))


def test_typed_clinical_variables_encode_and_explain_errors():
    birads = ClinicalVariable("birads", "ordinal", levels=("3", "4a", "4b", "4c", "5"))
    subtype = ClinicalVariable("subtype", "categorical", levels=("luminal", "HER2-enriched", "triple-negative"))
    ki67 = ClinicalVariable("ki67", "continuous", "%", range=(0, 100))
    assert birads.encode("4b") == {"birads": 2.0}
    assert subtype.encode("triple-negative") == {"subtype=HER2-enriched": 0.0, "subtype=triple-negative": 1.0}
    with pytest.raises(ValueError, match="ki67 must be a number in %"):
        validate_clinical({"ki67": "abc", "birads": "3", "subtype": "luminal"}, [ki67, birads, subtype])
    with pytest.raises(ValueError, match="allowed: 3, 4a, 4b, 4c, 5"):
        birads.encode("6")
    encoder = ClinicalEncoder([ki67, subtype]).fit(pd.DataFrame({"ki67": [10], "subtype": ["luminal"]}))
    assert list(encoder.get_feature_names_out()) == ["ki67", "subtype=HER2-enriched", "subtype=triple-negative"]
    assert ClinicalVariable.from_dict(subtype.to_dict()) == subtype


def test_train_command_exports_a_verified_package(tmp_path, capsys):
    from AxillaryPredictorLib.cli.main import main
    from AxillaryPredictorLib.packages.package import load_package

    rng = np.random.default_rng(3)
    n = 120
    features = pd.DataFrame({"case_id": [f"c{i}" for i in range(n)],
                             **{f"tumor__DCE3__original_firstorder_F{j}": rng.normal(size=n) for j in range(40)}})
    signal = features["tumor__DCE3__original_firstorder_F0"] - features["tumor__DCE3__original_firstorder_F1"]
    clinical = pd.DataFrame({"case_id": features["case_id"], "ki67": rng.uniform(1, 80, n),
                             "aln": (signal + rng.normal(0, 0.7, n) > 0).astype(int)})
    features.to_csv(tmp_path / "f.csv", index=False)
    clinical.to_csv(tmp_path / "c.csv", index=False)
    assert main(["recipes"]) == 0 and "he2025" in capsys.readouterr().out.split()
    assert main(["train", "--features", str(tmp_path / "f.csv"), "--clinical", str(tmp_path / "c.csv"), "--outcome",
                 "aln", "--recipe", "lasso-lr", "--id", "my-model", "--out", str(tmp_path / "m.json")]) == 0
    assert "cross-validated AUC" in capsys.readouterr().out
    package = load_package(tmp_path / "m.json")
    assert package.document["performance"]["cv"]["auc"] > 0.75 and len(package.document["performance"]["cv"]
                                                                         ["auc_folds"]) == 5
    assert package.document["inputs"]["views"] == ["DCE3"] and package.document["radscore_formula"].startswith(
        "RadScore =")


def test_train_holds_out_the_split_and_evaluate_scores_the_package(tmp_path, capsys):
    """Cases marked validation/test take no part in training; ``evaluate --model`` scores them.
    Declared clinical types (ordinal BI-RADS) reach the package and the coefficient table is written."""
    from AxillaryPredictorLib.cli.main import main
    from AxillaryPredictorLib.evaluation.statistics import auc_ci
    from AxillaryPredictorLib.modeling.cohort_tables import table_hash
    from AxillaryPredictorLib.packages.package import load_package

    rng = np.random.default_rng(4)
    n = 160
    names = [f"tumor__DCE3__original_firstorder_F{j}" for j in range(30)]
    features = pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], **{c: rng.normal(size=n) for c in names}})
    birads = rng.choice(["3", "4a", "4b", "4c", "5"], n)
    signal = features[names[0]] - features[names[1]] + 0.5 * pd.Series(birads).map(
        {"3": 0, "4a": 1, "4b": 2, "4c": 3, "5": 4})
    clinical = pd.DataFrame({"case_id": features["case_id"], "birads": birads,
                             "aln": (signal + rng.normal(0, 0.8, n) > 1).astype(int),
                             "split": ["train"] * 110 + ["validation"] * 20 + ["test"] * 30})
    features.to_csv(tmp_path / "f.csv", index=False)
    clinical.to_csv(tmp_path / "c.csv", index=False)
    (tmp_path / "spec.yaml").write_text("- {name: birads, kind: ordinal, levels: ['3', '4a', '4b', '4c', '5'], "
                                        "label: BI-RADS}\n", encoding="utf-8")
    assert main(["train", "--features", str(tmp_path / "f.csv"), "--clinical", str(tmp_path / "c.csv"), "--outcome",
                 "aln", "--recipe", "lasso-lr", "--clinical-vars", "birads", "--clinical-spec",
                 str(tmp_path / "spec.yaml"), "--id", "split-model", "--out", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    assert "training on the 110 'train' cases; held out (test: 30, validation: 20)" in out
    package = load_package(tmp_path / "m.json")
    provenance = package.document["provenance"]
    assert provenance["n_cases"] == 110
    assert provenance["training_data_sha256"] == table_hash(features.set_index("case_id").iloc[:110])
    assert [v["kind"] for v in package.document["clinical_variables"]] == ["ordinal"]
    coefficients = pd.read_csv(tmp_path / "m.coefficients.csv")
    assert coefficients["term"].tolist()[0] == "(Intercept)" and "birads" in coefficients["term"].tolist()
    assert {"beta", "se", "z", "p", "odds_ratio", "or_lower", "or_upper"} <= set(coefficients.columns)
    # score the held-out test cases with the package
    test = features.iloc[130:].merge(clinical[["case_id", "aln"]], on="case_id")
    test.to_csv(tmp_path / "test.csv", index=False)
    assert main(["evaluate", "--model", str(tmp_path / "m.json"), "--cohort", f"test={tmp_path / 'test.csv'}",
                 "--clinical", str(tmp_path / "c.csv"), "--outcome", "aln", "--out", str(tmp_path / "eval")]) == 0
    table = pd.read_csv(tmp_path / "eval" / "models.csv")
    frame = test.merge(clinical[["case_id", "birads"]], on="case_id")
    expected = auc_ci(frame["aln"].to_numpy(), package.predict_proba(frame)).auc
    assert table.loc[(table.model == "split-model") & (table.cohort == "test"), "auc"].item() == pytest.approx(
        expected, abs=1e-12)
    no_split = clinical.assign(split="validation")
    no_split.to_csv(tmp_path / "c2.csv", index=False)
    assert main(["train", "--features", str(tmp_path / "f.csv"), "--clinical", str(tmp_path / "c2.csv"), "--outcome",
                 "aln", "--out", str(tmp_path / "m2.json")]) == 2
    assert "no training rows" in capsys.readouterr().err


def test_clinical_table_problems_are_reported():
    features, clinical = _tables()
    clinical["ki67"] = clinical["ki67"].astype(object)
    clinical.loc[3, "ki67"] = np.nan
    clinical["center"] = "A"
    clinical["site"] = "same"
    cohort = load_cohort(features, clinical, "aln")
    text = " ".join(cohort.warnings)
    assert "Clinical values missing: ki67 (1)" in text and "Constant clinical column(s): site" in text
