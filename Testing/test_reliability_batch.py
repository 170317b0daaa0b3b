"""Cohort runs and their output files can be trusted (issue 17): resume sees every change to a case's
rows, case IDs never share a file, warnings and diagnostics are kept, no stale result looks current,
CSV cells are not run as formulas, files get ordinary permissions, bad options are refused up front."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from AxillaryPredictorLib.batch.manifest import case_fingerprint, load_manifest
from AxillaryPredictorLib.batch.runner import CaseError, CaseOutput, case_file_names, run_cohort
from AxillaryPredictorLib.cli.main import main
from AxillaryPredictorLib.errors import InputError
from AxillaryPredictorLib.extraction.tables import DIAGNOSTICS_COLUMNS
from AxillaryPredictorLib.files import csv_text, formula_safe, write_text_atomic, write_texts_atomic
from AxillaryPredictorLib.phantoms import LesionSpec, make_phantom

# ----------------------------------------------------------------------------- helpers


def toy_worker(case) -> CaseOutput:
    """A fast worker (runs in this process with workers=1): fails when the manifest says so."""
    if case.extra.get("fail") == "yes":
        raise CaseError("extract", f"case {case.case_id} was asked to fail")
    warnings = [case.extra["warn"]] if case.extra.get("warn") else []
    diagnostics = [{"case_id": case.case_id, "view": "V", "region": "tumor", "voxels": 10, "extracted": "yes",
                    "nan_features": 0, "warnings": " | ".join(warnings)}]
    return CaseOutput({"value": float(len(case.case_id)), "note": case.extra.get("note", "")}, warnings,
                      diagnostics)


def _toy_manifest(folder: Path, rows: list[dict], name: str = "manifest.csv") -> Path:
    """A manifest whose image/mask are small files (the toy worker does not read them)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "image.nrrd").write_bytes(b"image")
    (folder / "mask.nrrd").write_bytes(b"mask")
    table = pd.DataFrame([{"image": "image.nrrd", "mask": "mask.nrrd", **row} for row in rows])
    path = folder / name
    table.to_csv(path, index=False)
    return path


def _run_toy(manifest: Path, out: Path, resume: bool = False):
    return run_cohort(load_manifest(manifest, check_images=False), toy_worker, out, settings="s",
                      output_name="features.csv", workers=1, resume=resume, progress=None)


def _dce_manifest(folder: Path, n: int, *, one_voxel: tuple[int, ...] = (), constant: tuple[int, ...] = ()) -> Path:
    rows = []
    for i in range(n):
        phantom = make_phantom("dce", seed=i, lesion=LesionSpec(diameter_mm=12 + i))
        files = phantom.write(folder / "data", f"p{i}")
        if i in one_voxel:
            array = np.zeros(sitk.GetArrayViewFromImage(phantom.tumor).shape, np.uint8)
            array[tuple(s // 2 for s in array.shape)] = 1
            tumor = sitk.GetImageFromArray(array)
            tumor.CopyInformation(phantom.tumor)
            sitk.WriteImage(tumor, str(files["tumor"]))
        if i in constant:
            flat = sitk.GetImageFromArray(np.full(sitk.GetArrayViewFromImage(phantom.image).shape, 100, np.float32))
            flat.CopyInformation(phantom.image)
            sitk.WriteImage(flat, str(files["image"]))
        rows.append({"case_id": f"p{i}", "view": "DCE3", "image": f"data/p{i}_image.nrrd",
                     "mask": f"data/p{i}_tumor.nrrd", "ki67": 10, "us_aln": "negative"})
    path = folder / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------ 1. resume and clinical edits


def test_fingerprint_covers_every_cell_of_every_row(tmp_path):
    rows = [{"case_id": "c1", "view": "A", "ki67": "10", "us_aln": "negative"},
            {"case_id": "c1", "view": "B", "ki67": "10", "us_aln": "negative"}]
    reference = case_fingerprint(load_manifest(_toy_manifest(tmp_path, rows), check_images=False).cases[0], "s")
    for row, column, value in ((0, "ki67", "90"), (0, "us_aln", ""), (1, "ki67", "11"), (1, "us_aln", "positive")):
        edited = [dict(r) for r in rows]
        edited[row][column] = value
        case = load_manifest(_toy_manifest(tmp_path, edited, name="edited.csv"), check_images=False).cases[0]
        assert case_fingerprint(case, "s") != reference, (row, column, value)
    same = load_manifest(_toy_manifest(tmp_path, rows, name="same.csv"), check_images=False).cases[0]
    assert case_fingerprint(same, "s") == reference


def test_resume_reruns_a_case_whose_clinical_values_changed(tmp_path, capsys):
    manifest = _dce_manifest(tmp_path, 1)
    out = tmp_path / "out"
    arguments = ["cohort", "predict", str(manifest), "--model", "demo-dce-aln", "--out", str(out), "--workers", "1"]
    assert main(arguments) == 0
    before = pd.read_csv(out / "predictions.csv").loc[0, "probability"]
    capsys.readouterr()
    table = pd.read_csv(manifest)
    table[["ki67", "us_aln"]] = [[90, "positive"]]
    table.to_csv(manifest, index=False)
    assert main([*arguments, "--resume"]) == 0
    assert "1 processed, 0 unchanged" in capsys.readouterr().out
    after = pd.read_csv(out / "predictions.csv").loc[0, "probability"]
    assert after > 2 * before  # Ki-67 90 and a positive US read raise the risk: the case was scored again
    # blanking a required value is a change too: the case runs again (and fails: the value is needed)
    table["ki67"] = table["ki67"].astype(object)
    table.loc[0, "ki67"] = ""
    table.to_csv(manifest, index=False)
    assert main([*arguments, "--resume"]) == 1
    output = capsys.readouterr().out
    assert "0 unchanged" in output and "1 failed" in output


# ----------------------------------------------------------------------- 2. case-ID collisions


def test_case_ids_that_normalise_alike_keep_their_own_files(tmp_path):
    ids = ["a b", "a_b", "a/b", "c"]
    manifest = _toy_manifest(tmp_path, [{"case_id": i, "view": "V"} for i in ids])
    summary = _run_toy(manifest, tmp_path / "out")
    assert summary.ok and summary.done == 4
    features = pd.read_csv(tmp_path / "out" / "features.csv")
    assert features["case_id"].tolist() == ids
    assert features["value"].tolist() == [3.0, 3.0, 3.0, 1.0]
    assert len(list((tmp_path / "out" / "cases").glob("*.json"))) == 4
    resumed = _run_toy(manifest, tmp_path / "out", resume=True)
    assert resumed.skipped == 4 and resumed.done == 0


def test_case_file_names_are_unique_and_plain_when_safe():
    ids = ["a b", "a_b", "a/b", "c", "P01", "x.y-z", "A", "a", "..", "é", "x" * 300]
    names = case_file_names(ids)
    assert len({n.casefold() for n in names.values()}) == len(ids)  # also on case-insensitive file systems
    assert names["a_b"] == "a_b" and names["c"] == "c" and names["P01"] == "P01" and names["x.y-z"] == "x.y-z"
    assert all(len(n) < 120 and "/" not in n and n not in (".", "..") for n in names.values())
    assert case_file_names(list(reversed(ids))) == names  # does not depend on the order


# ------------------------------------------------------------------------ 3. diagnostics kept


def test_cohort_extract_keeps_warnings_and_diagnostics(tmp_path, capsys):
    manifest = _dce_manifest(tmp_path, 3, one_voxel=(1,), constant=(2,))
    out = tmp_path / "out"
    options = ["--margins", "3", "--regions", "tumor,margin3mm"]
    assert main(["cohort", "extract", str(manifest), "--out", str(out), "--workers", "1", *options]) == 0
    printed = capsys.readouterr().out
    assert "Warnings in 2 case(s): p1, p2 (see diagnostics.csv)" in printed
    assert f"diagnostics: {out / 'diagnostics.csv'}" in printed
    diagnostics = pd.read_csv(out / "diagnostics.csv", dtype=str, keep_default_na=False)
    assert tuple(diagnostics.columns) == DIAGNOSTICS_COLUMNS
    tumor = diagnostics[(diagnostics["case_id"] == "p1") & (diagnostics["region"] == "tumor")].iloc[0]
    assert tumor["voxels"] == "1" and tumor["extracted"] == "no" and tumor["nan_features"] == "851"
    assert "too small" in tumor["warnings"]
    assert (diagnostics.loc[diagnostics["case_id"] == "p2", "warnings"] != "").all()
    assert (diagnostics.loc[diagnostics["case_id"] == "p0", "warnings"] == "").all()
    # the same rows as the single-case command writes for that case
    single = tmp_path / "single" / "p1.csv"
    assert main(["extract", "--image", str(tmp_path / "data/p1_image.nrrd"), "--mask",
                 str(tmp_path / "data/p1_tumor.nrrd"), "--view", "DCE3", "--case-id", "p1", "--profile",
                 "zeng2025-dce-delta", "--workers", "1", "--out", str(single), *options]) == 0
    expected = pd.read_csv(single.with_name("p1.diagnostics.csv"), dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(diagnostics[diagnostics["case_id"] == "p1"].reset_index(drop=True), expected)
    # resumed cases keep their warnings in the summary and the table
    capsys.readouterr()
    assert main(["cohort", "extract", str(manifest), "--out", str(out), "--workers", "1", "--resume", *options]) == 0
    assert "Warnings in 2 case(s): p1, p2" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_csv(out / "diagnostics.csv", dtype=str, keep_default_na=False), diagnostics)


# ------------------------------------------------------------------------------ 4. stale results


def test_rerun_where_every_case_fails_removes_the_previous_results(tmp_path):
    out = tmp_path / "out"
    first = _toy_manifest(tmp_path, [{"case_id": c, "view": "V", "ki67": "5", "fail": "no"} for c in ("a", "b")])
    assert _run_toy(first, out).ok
    assert {"features.csv", "cases.csv", "diagnostics.csv"} <= {p.name for p in out.iterdir()}
    # a new manifest: one case gone, one new, all failing
    second = _toy_manifest(tmp_path, [{"case_id": c, "view": "V", "ki67": "5", "fail": "yes"} for c in ("b", "c")],
                           name="second.csv")
    summary = _run_toy(second, out)
    assert summary.done == 0 and len(summary.failed) == 2 and summary.output is None
    assert not (out / "features.csv").exists() and not (out / "cases.csv").exists()
    assert not (out / "diagnostics.csv").exists()
    assert "removed the previous run's features.csv, cases.csv, diagnostics.csv" in summary.describe()
    assert pd.read_csv(out / "errors.csv")["case_id"].tolist() == ["b", "c"]


def test_cases_table_of_an_earlier_manifest_does_not_stay(tmp_path):
    out = tmp_path / "out"
    assert _run_toy(_toy_manifest(tmp_path, [{"case_id": "a", "view": "V", "ki67": "5"}]), out).ok
    assert (out / "cases.csv").exists()
    plain = _toy_manifest(tmp_path / "plain", [{"case_id": "z", "view": "V"}])
    assert _run_toy(plain, out).ok
    assert not (out / "cases.csv").exists()


def test_cohort_cli_says_which_earlier_results_were_removed(tmp_path, capsys):
    manifest = _dce_manifest(tmp_path, 2)
    out = tmp_path / "out"
    options = ["--margins", "3", "--regions", "tumor", "--workers", "1"]
    assert main(["cohort", "extract", str(manifest), "--out", str(out), *options]) == 0
    table = pd.read_csv(manifest)
    table["mask"] = table["image"]  # every case fails now (the image is no tumor mask)
    table.to_csv(manifest, index=False)
    capsys.readouterr()
    assert main(["cohort", "extract", str(manifest), "--out", str(out), *options]) == 1
    assert "No case succeeded: removed the previous run's features.csv, cases.csv, diagnostics.csv" in \
        capsys.readouterr().out
    assert not (out / "features.csv").exists()


def test_failed_predict_removes_the_earlier_report(tmp_path, capsys):
    files = make_phantom("dce", seed=3, lesion=LesionSpec(diameter_mm=16)).write(tmp_path, "c1")
    out = tmp_path / "out"
    (tmp_path / "out").mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    arguments = ["predict", "--model", "demo-dce-aln", "--image", str(files["image"]), "--clinical", "ki67=35",
                 "--clinical", "us_aln=positive", "--workers", "1", "--out", str(out)]
    assert main([*arguments, "--mask", str(files["tumor"])]) == 0
    written = {p.name for p in out.iterdir()}
    assert {"report.html", "report.pdf", "prediction.json", "nomogram.png"} <= written
    capsys.readouterr()
    assert main([*arguments, "--mask", str(tmp_path / "missing_tumor.nrrd")]) == 2
    error = capsys.readouterr().err
    assert "removed the earlier report" in error and "report.html" in error and "prediction.json" in error
    assert {p.name for p in out.iterdir()} == {"notes.txt"}


# ------------------------------------------------------------------------------ 5. formula injection


def test_formula_like_text_is_neutralised_and_numbers_are_not():
    for text in ("=cmd|' /C calc'!A0", "+HYPERLINK(\"http://x\")", "@x", "-1+1", "\t=1", "=", "-"):
        assert formula_safe(text) == "'" + text
    for value in ("-1", "-1.5", "+3", "1e-3", "-inf", "ok", "a=b", 3, -2.5, None):
        assert formula_safe(value) == value
    frame = pd.DataFrame({"case_id": ["=1+1", "-2"], "=name": ["@x", "y"], "value": [-1.0, 2.0]})
    assert csv_text(frame).splitlines() == ["case_id,'=name,value", "'=1+1,'@x,-1.0", "-2,y,2.0"]


def test_cohort_tables_neutralise_formula_cells(tmp_path):
    rows = [{"case_id": "=cmd|' /C calc'!A0", "view": "V", "note": "+HYPERLINK(\"x\")", "warn": "=warn",
             "ki67": "-1+1", "size": "-2"},
            {"case_id": "@fail", "view": "V", "fail": "yes", "ki67": "5", "size": "3"},
            {"case_id": "-1.5", "view": "V", "ki67": "7", "size": "-4"}]
    out = tmp_path / "out"
    _run_toy(_toy_manifest(tmp_path, rows), out)
    features = (out / "features.csv").read_text(encoding="utf-8").splitlines()
    assert features[1].startswith("'=cmd|' /C calc'!A0,") and "'+HYPERLINK" in features[1]
    assert features[2].startswith("-1.5,")
    cases = pd.read_csv(out / "cases.csv", dtype=str, keep_default_na=False)
    assert cases["case_id"].tolist() == ["'=cmd|' /C calc'!A0", "'@fail", "-1.5"]
    assert cases["ki67"].tolist() == ["'-1+1", "5", "7"] and cases["size"].tolist() == ["-2", "3", "-4"]
    errors = pd.read_csv(out / "errors.csv", dtype=str)
    assert errors["case_id"].tolist() == ["'@fail"]
    diagnostics = pd.read_csv(out / "diagnostics.csv", dtype=str, keep_default_na=False)
    assert diagnostics["case_id"].tolist()[0] == "'=cmd|' /C calc'!A0" and diagnostics["warnings"][0] == "'=warn"
    for table in ("features.csv", "cases.csv", "errors.csv", "diagnostics.csv"):
        for line in (out / table).read_text(encoding="utf-8").splitlines():
            for cell in line.split(","):
                assert not cell.lstrip('"').startswith(("=", "+", "@")), (table, line)


def test_single_case_extract_neutralises_a_formula_case_id(tmp_path):
    files = make_phantom("dce", seed=1, lesion=LesionSpec(diameter_mm=14)).write(tmp_path, "c")
    out = tmp_path / "f.csv"
    assert main(["extract", "--image", str(files["image"]), "--mask", str(files["tumor"]), "--case-id", "=1+2",
                 "--margins", "3", "--regions", "tumor", "--workers", "1", "--out", str(out)]) == 0
    assert (out.read_text(encoding="utf-8").splitlines()[1]).startswith("'=1+2,")
    assert out.with_name("f.diagnostics.csv").read_text(encoding="utf-8").splitlines()[1].startswith("'=1+2,")


# ------------------------------------------------------------------------------------ 6. file modes


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_writes_follow_the_umask(tmp_path, umask):
    from AxillaryPredictorLib.imaging.io import write_image

    previous = os.umask(umask)
    try:
        written = [write_text_atomic(tmp_path / "one.txt", "x"),
                   *write_texts_atomic([(tmp_path / "a.csv", "a"), (tmp_path / "b.csv", "b")]),
                   write_image(sitk.Image(4, 4, 4, sitk.sitkUInt8), tmp_path / "image.nrrd")]
        (tmp_path / "ordinary.txt").write_text("x")
    finally:
        os.umask(previous)
    expected = 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "ordinary.txt").stat().st_mode) == expected
    for path in written:
        assert stat.S_IMODE(Path(path).stat().st_mode) == expected, path


def test_cohort_outputs_are_readable_like_ordinary_files(tmp_path):
    previous = os.umask(0o022)
    try:
        _run_toy(_toy_manifest(tmp_path, [{"case_id": "a", "view": "V", "ki67": "1"}]), tmp_path / "out")
    finally:
        os.umask(previous)
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


# ------------------------------------------------------------------------------ 7. up-front checks


def test_zero_byte_manifest_is_refused_naming_the_file(tmp_path, capsys):
    manifest = tmp_path / "empty.csv"
    manifest.write_bytes(b"")
    assert main(["cohort", "extract", str(manifest), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert str(manifest) in error and "is empty" in error and "header row" in error
    assert "Traceback" not in error and "No columns to parse" not in error
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match=r"empty\.csv is empty"):
        load_manifest(manifest)


def test_bad_margins_are_refused_before_any_case_runs(tmp_path, capsys):
    manifest = _toy_manifest(tmp_path, [{"case_id": "a", "view": "V"}])
    out = tmp_path / "out"
    out.mkdir()
    (out / "features.csv").write_text("case_id\nold\n", encoding="utf-8")
    before = _snapshot(out)
    assert main(["cohort", "extract", str(manifest), "--out", str(out), "--margins", "abc"]) == 2
    error = capsys.readouterr().err
    assert "Margins must be numbers" in error and "abc" in error and "Traceback" not in error
    assert _snapshot(out) == before and not (out / "cases").exists()


@pytest.mark.parametrize("value", ["0", "-2", "two"])
@pytest.mark.parametrize("command", [
    ["cohort", "extract", "m.csv", "--out", "o"],
    ["extract", "--image", "i.nrrd", "--mask", "m.nrrd", "--out", "o.csv"],
    ["predict", "--model", "demo-dce-aln", "--image", "i.nrrd", "--mask", "m.nrrd", "--out", "o"],
    ["delta", "--baseline-image", "b", "--baseline-mask", "bm", "--ontreatment-image", "o", "--ontreatment-mask",
     "om", "--out", "d.csv"],
])
def test_workers_below_one_are_refused(tmp_path, capsys, monkeypatch, command, value):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main([*command, "--workers", value])
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert f"argument --workers: '{value}' is not a number of processes: give 1 or more" in error
    assert list(tmp_path.iterdir()) == []


def test_workers_below_one_are_refused_by_the_api(tmp_path):
    from AxillaryPredictorLib.batch.cohort import run_cohort_command

    manifest = _toy_manifest(tmp_path, [{"case_id": "a", "view": "V"}])
    for workers in (0, -1):
        with pytest.raises(InputError, match="--workers must be a whole number of processes, 1 or more"):
            run_cohort(load_manifest(manifest, check_images=False), toy_worker, tmp_path / "out", settings="s",
                       workers=workers, progress=None)
        with pytest.raises(InputError, match="1 or more"):
            run_cohort_command("extract", manifest, tmp_path / "out", workers=workers)
    assert not (tmp_path / "out").exists()
