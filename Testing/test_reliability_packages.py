"""Model packages you can trust and feature tables from elsewhere (issue 17): origin shown beside
integrity, no shadowing of bundled ids, bounded parsing, meaning checked on load, clinical inputs
refused when unknown or duplicated, and training on plain or pyradiomics batch tables."""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pandas as pd
import pytest

from AxillaryPredictorLib.cli.main import main
from AxillaryPredictorLib.errors import InputError, ModelError
from AxillaryPredictorLib.packages.package import PackageError, load_package, nesting_depth, save_package
from AxillaryPredictorLib.packages.registry import bundled_directory, find_model, registry_entries
from AxillaryPredictorLib.reporting.model_card import model_card, model_card_html

CLAIMED = "locally-validated (claimed by the file, not verified)"


def _bundled(model_id: str = "demo-dce-aln") -> dict:
    return json.loads((bundled_directory() / f"{model_id}.json").read_text(encoding="utf-8"))


def _tampered(model_id: str) -> dict:
    """A copy of demo-dce-aln that always says 0 %, claims local validation, and is re-sealed."""
    document = _bundled()
    document.update(id=model_id, status="locally-validated")
    document["estimator"]["intercept"] = -50.0
    return document


# ------------------------------------------------------------------------------------------- origin


def test_resealed_copy_is_user_supplied_in_listing_verify_and_model_card(tmp_path, capsys):
    folder = tmp_path / "user"
    path = save_package(_tampered("site-dce"), folder / "site-dce.json")
    assert main(["models", "list", "--user-folder", str(folder)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "user-supplied, unverified" in lines["site-dce"] and CLAIMED in lines["site-dce"]
    assert "bundled" in lines["demo-dce-aln"] and "unverified" not in lines["demo-dce-aln"]
    entry = next(e for e in registry_entries(folder) if e["id"] == "site-dce")
    assert entry["origin"] == "user" and entry["verified"] is False and entry["claimed_status"] == "locally-validated"
    assert "user-supplied, unverified" in entry["title"]  # the Slicer panel's model list shows the title

    assert main(["models", "verify", str(path)]) == 0  # integrity and meaning hold; origin does not
    assert "origin: user-supplied, unverified" in capsys.readouterr().out

    package = find_model("site-dce", folder)
    assert package.origin == "user" and not package.verified
    for card in (model_card(package), model_card(package.document)):  # the report passes the document
        assert card["status"] == CLAIMED and card["origin"].startswith("user-supplied, unverified")
    html = model_card_html(package.document)  # what the Slicer panel shows (Logic.modelCardHtml)
    assert "User-supplied model package, not verified" in html and CLAIMED in html
    bundled = find_model("demo-dce-aln", folder)
    assert bundled.verified and model_card(bundled.document)["status"] == "demonstration"
    assert model_card(bundled)["origin"].startswith("bundled")


def test_report_of_a_resealed_copy_says_user_supplied(tmp_path):
    from AxillaryPredictorLib.phantoms import LesionSpec, make_phantom

    path = save_package(_tampered("site-dce"), tmp_path / "site-dce.json")
    files = make_phantom("dce", seed=3, lesion=LesionSpec(diameter_mm=16.0)).write(tmp_path, "c1")
    out = tmp_path / "out"
    assert main(["predict", "--model", str(path), "--image", str(files["image"]), "--mask", str(files["tumor"]),
                 "--clinical", "ki67=35", "--clinical", "us_aln=positive", "--workers", "1", "--out", str(out)]) == 0
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "user-supplied, unverified" in report and CLAIMED in report
    assert "has not been validated on local data" in report  # the claimed status earns no trust


def test_user_package_cannot_shadow_a_bundled_id(tmp_path, caplog):
    folder = tmp_path / "user"
    save_package(_tampered("demo-dce-aln"), folder / "mine.json")
    entries = [e for e in registry_entries(folder) if e["id"] == "demo-dce-aln"]
    assert [e["source"] for e in entries] == ["bundled", "user"]
    assert entries[1]["status"] == "conflict" and "is ignored" in entries[1]["reason"]
    with caplog.at_level(logging.WARNING):
        package = find_model("demo-dce-aln", folder)
    assert package.verified and package.document == _bundled()
    assert "mine.json" in " ".join(package.notes) and "is ignored" in caplog.text


# --------------------------------------------------------------------------------- bounded parsing


def test_hostile_user_files_are_listed_invalid_and_break_nothing(tmp_path, capsys):
    folder = tmp_path / "user"
    folder.mkdir()
    (folder / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    (folder / "list.json").write_text("[1, 2]")
    no_status = _bundled()
    del no_status["status"]
    (folder / "nostatus.json").write_text(json.dumps(no_status))
    with open(folder / "huge.json", "wb") as handle:  # sparse: the size is refused before reading
        handle.truncate(21 * 2**20)
    (folder / "nan.json").write_text(json.dumps({**_bundled(), "threshold": float("nan")}))
    (folder / "inf.json").write_text(json.dumps(_bundled()).replace('"threshold": 0.', '"threshold": 1e999, "x": 0.'))
    started = time.perf_counter()
    assert main(["models", "list", "--user-folder", str(folder)]) == 0
    assert time.perf_counter() - started < 30
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "nested more than 64 levels" in lines["deep"] and "invalid" in lines["deep"]
    assert "must be a JSON object, not a list" in lines["list"]
    assert "status" in lines["nostatus"] and "invalid" in lines["nostatus"]
    assert "at most 20 MB" in lines["huge"]
    assert "NaN" in lines["nan"] and "not a finite number" in lines["inf"]
    assert find_model("demo-dce-aln", folder).verified  # other models still load
    with pytest.raises(PackageError, match="nested more than 64 levels"):
        find_model("deep", folder)
    with pytest.raises(PackageError, match="nested more than 64 levels"):
        load_package(folder / "deep.json")
    assert nesting_depth('{"a": "[[[[[{{{", "b": [[1]], "c": "\\"]]"}') == 3


# ---------------------------------------------------------------------------------------- meaning


def _edit(document: dict, change: str) -> None:
    derived = document["derived"][0]
    if change == "coefficients":
        document["estimator"]["coefficients"].append(0.5)
    elif change == "derived-coefficients":
        derived["coefficients"].pop()
    elif change == "zero-scale":
        derived["scale"][0] = 0.0
    elif change == "feature-name":
        derived["features"][0] = "tumor__DCE3__wavelet-LHH_firstorderr_Median"
    elif change == "undeclared-region":
        derived["features"][0] = "margin9mm__DCE3__original_firstorder_Median"
    elif change == "range-order":
        document["training_ranges"]["radscore"] = [2.0, -2.0]


@pytest.mark.parametrize(("change", "message"), [
    ("coefficients", r"\$\.estimator\.coefficients has 4 coefficients for 3 input"),
    ("derived-coefficients", r"\$\.derived\[0\] \(radscore\)\.coefficients has 3 coefficients for 4 input"),
    ("zero-scale", r"scale must hold finite numbers > 0"),
    ("feature-name", r"not radiomics columns .*firstorderr_Median"),
    ("undeclared-region", r"not radiomics columns .*margin9mm__DCE3"),
    ("range-order", r"training_ranges\[radscore\] must be two finite numbers, low <= high"),
])
def test_verify_and_load_check_meaning_not_only_the_hash(tmp_path, capsys, change, message):
    document = _bundled()
    document["id"] = "edited"
    _edit(document, change)
    path = save_package(document, tmp_path / "edited.json")  # sealed: the hash is right
    assert main(["models", "verify", str(path)]) == 1
    output = capsys.readouterr().out
    assert output.startswith("INVALID") and "matmul" not in output
    with pytest.raises(PackageError, match=message):
        load_package(path)


def test_a_plain_table_package_refuses_images():
    document = _bundled("zeng2025-delta-combined")  # its inputs are the user's own scores: a plain table
    package = load_package(document)
    assert package.column_scheme == "plain"
    with pytest.raises(ModelError, match="cannot score images"):
        package.check_scores_images()
    find_model("demo-dce-aln").check_scores_images()  # a radiomics package scores images


# -------------------------------------------------------------------------------------- clinical


def test_unknown_or_duplicate_clinical_inputs_are_refused():
    from AxillaryPredictorLib.modeling.clinical import parse_clinical_items

    package = find_model("demo-dce-aln")
    with pytest.raises(InputError, match=r"Unknown clinical variable\(s\) for model 'demo-dce-aln': ki68\. "
                                         r"Its clinical variables: ki67, us_aln"):
        package.check_clinical({"ki67": 30, "us_aln": "positive", "ki68": 3})
    package.check_clinical({"ki67": 30, "us_aln": "positive"})
    with pytest.raises(InputError, match=r"ki67 is given twice \(ki67=1 and ki67=2\)"):
        parse_clinical_items(["ki67=1", "us_aln=positive", "ki67=2"])
    assert parse_clinical_items([" ki67 = 1", "us_aln=positive"]) == {"ki67": "1", "us_aln": "positive"}


# ------------------------------------------------------------------------------ tables from elsewhere


def _outcome(n: int = 60, seed: int = 0) -> tuple[np.random.Generator, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.array([0, 1] * (n // 2))
    return rng, y


def test_train_on_a_table_with_plain_column_names(tmp_path, capsys):
    rng, y = _outcome()
    table = pd.DataFrame({"case_id": [f"p{i}" for i in range(len(y))], "outcome": y,
                          "volume": y * 2.0 + rng.normal(size=len(y)), "density": rng.normal(size=len(y)),
                          "age_score": rng.normal(size=len(y))})
    table.to_csv(tmp_path / "table.csv", index=False)
    out = tmp_path / "plain.json"
    assert main(["train", "--features", str(tmp_path / "table.csv"), "--outcome", "outcome", "--out", str(out)]) == 0
    assert "plain column names" in capsys.readouterr().out
    package = load_package(out)
    assert package.column_scheme == "plain" and package.document["inputs"]["column_scheme"] == "plain"
    assert set(package.features) <= {"volume", "density", "age_score"}
    probability = package.predict_proba(table)
    assert np.isfinite(probability).all() and probability[y == 1].mean() > probability[y == 0].mean()


def test_train_on_a_pyradiomics_batch_csv(tmp_path, capsys):
    rng, y = _outcome()
    n = len(y)
    batch = pd.DataFrame({"ID": [f"p{i}" for i in range(n)], "Image": [f"/data/{i}.nrrd" for i in range(n)],
                          "Mask": [f"/data/{i}_mask.nrrd" for i in range(n)],
                          "diagnostics_Versions_PyRadiomics": "v3.1.0",
                          "diagnostics_Image-original_Mean": rng.normal(size=n),
                          "original_shape_Elongation": rng.normal(size=n),
                          "original_firstorder_Mean": y * 2.0 + rng.normal(size=n),
                          "original_glcm_Contrast": rng.normal(size=n)})
    batch.to_csv(tmp_path / "pyradiomics.csv", index=False)
    pd.DataFrame({"ID": batch["ID"], "aln": y}).to_csv(tmp_path / "clinical.csv", index=False)
    out = tmp_path / "batch.json"
    assert main(["train", "--features", str(tmp_path / "pyradiomics.csv"), "--clinical", str(tmp_path / "clinical.csv"),
                 "--outcome", "aln", "--id-column", "ID", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 pyradiomics diagnostics column(s) ignored" in printed and "ignored: Image, Mask" in printed
    package = load_package(out)
    assert package.column_scheme == "plain" and "original_firstorder_Mean" in package.features
    assert not any(f.startswith(("diagnostics_", "Image", "Mask")) for f in package.features)
    with pytest.raises(ModelError, match="cannot score images"):
        package.check_scores_images()
    # without --id-column the message says how to name the id column
    assert main(["train", "--features", str(tmp_path / "pyradiomics.csv"), "--outcome", "aln",
                 "--out", str(tmp_path / "x.json")]) == 2
    assert "--id-column" in capsys.readouterr().err


def test_he2025_with_one_surviving_feature_gives_a_model(tmp_path, capsys):
    rng, y = _outcome()
    table = pd.DataFrame({"case_id": [f"p{i}" for i in range(len(y))], "outcome": y,
                          "tumor__CC__original_firstorder_Mean": y * 2.0 + rng.normal(size=len(y)),
                          "tumor__CC__original_firstorder_Median": 1.0})  # constant: the variance filter drops it
    table.to_csv(tmp_path / "one.csv", index=False)
    out = tmp_path / "one.json"
    assert main(["train", "--features", str(tmp_path / "one.csv"), "--outcome", "outcome", "--recipe", "he2025",
                 "--out", str(out)]) == 0
    assert "SVM-RFE skipped: only 1 feature left" in capsys.readouterr().out
    package = load_package(out)
    assert package.features == ["tumor__CC__original_firstorder_Mean"] and package.column_scheme == "radiomics"
    assert package.document["inputs"]["views"] == ["CC"] and package.document["inputs"]["regions"] == ["tumor"]


def test_a_table_without_feature_columns_is_refused(tmp_path, capsys):
    table = pd.DataFrame({"case_id": ["a", "b", "c", "d"], "outcome": [0, 1, 0, 1], "Image": ["i"] * 4,
                          "diagnostics_Mask-original_VoxelNum": [10, 20, 30, 40]})
    table.to_csv(tmp_path / "empty.csv", index=False)
    assert main(["train", "--features", str(tmp_path / "empty.csv"), "--outcome", "outcome",
                 "--out", str(tmp_path / "x.json")]) == 2
    assert "no numeric feature column" in capsys.readouterr().err
