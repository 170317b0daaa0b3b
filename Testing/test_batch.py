"""Cohort batch runs: validation up front, failure isolation, resume, kill safety, parallel parity."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from batch_workers import firstorder_worker

from AxillaryPredictorLib.batch.manifest import load_manifest
from AxillaryPredictorLib.batch.runner import run_cohort
from AxillaryPredictorLib.phantoms import LesionSpec, make_phantom

TESTING = Path(__file__).parent


def _write_cohort(folder: Path, n: int = 10, broken: tuple[int, ...] = ()) -> Path:
    rows = []
    for i in range(n):
        phantom = make_phantom("us", seed=i, lesion=LesionSpec(diameter_mm=10 + i))
        paths = phantom.write(folder / "data", f"c{i:02d}")
        if i in broken:  # a valid file whose tumor is missing: fails at processing, not at validation
            empty = sitk.Image(phantom.tumor.GetSize(), sitk.sitkUInt8)
            empty.CopyInformation(phantom.tumor)
            sitk.WriteImage(empty, str(paths["tumor"]))
        rows.append({"case_id": f"c{i:02d}", "view": "US", "image": f"data/c{i:02d}_image.nrrd",
                     "mask": f"data/c{i:02d}_tumor.nrrd", "aln_metastasis": i % 2, "split": "train"})
    path = folder / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_broken_cases_are_isolated_and_resume_redoes_only_them(tmp_path):
    manifest_path = _write_cohort(tmp_path, broken=(3, 7))
    out = tmp_path / "out"
    summary = run_cohort(load_manifest(manifest_path), firstorder_worker, out, settings="s1",
                         output_name="features.csv", workers=1, progress=None)
    assert not summary.ok and summary.done == 8
    errors = pd.read_csv(out / "errors.csv")
    assert list(errors.columns) == ["case_id", "step", "message"]
    assert list(errors["case_id"]) == ["c03", "c07"] and set(errors["step"]) == {"regions"}
    assert len(pd.read_csv(out / "features.csv")) == 8
    assert "2 failed" in summary.describe()

    # fix the two cases, resume: only they run
    fixed = tmp_path / "fixed"
    _write_cohort(fixed)
    for i in (3, 7):
        for suffix in ("image", "tumor"):
            (tmp_path / "data" / f"c{i:02d}_{suffix}.nrrd").write_bytes(
                (fixed / "data" / f"c{i:02d}_{suffix}.nrrd").read_bytes())
    resumed = run_cohort(load_manifest(manifest_path), firstorder_worker, out, settings="s1",
                         output_name="features.csv", workers=1, resume=True, progress=None)
    assert resumed.ok and resumed.done == 2 and resumed.skipped == 8
    assert pd.read_csv(out / "errors.csv").empty

    clean = run_cohort(load_manifest(_write_cohort(tmp_path / "clean")), firstorder_worker, tmp_path / "clean_out",
                       settings="s1", output_name="features.csv", workers=1, progress=None)
    assert clean.ok
    pd.testing.assert_frame_equal(pd.read_csv(out / "features.csv"), pd.read_csv(tmp_path / "clean_out/features.csv"))
    cases = pd.read_csv(out / "cases.csv")
    assert list(cases.columns) == ["case_id", "aln_metastasis", "split"]

    # changed settings invalidate every case
    changed = run_cohort(load_manifest(manifest_path), firstorder_worker, out, settings="s2",
                         output_name="features.csv", workers=1, resume=True, progress=None)
    assert changed.done == 10 and changed.skipped == 0


def test_manifest_validation_reports_every_row_problem(tmp_path):
    manifest_path = _write_cohort(tmp_path, n=4)
    table = pd.read_csv(manifest_path)
    table.loc[1, "image"] = "data/missing.nrrd"
    other = make_phantom("dce", seed=0)
    other.write(tmp_path / "data", "other")
    table.loc[2, "mask"] = "data/other_tumor.nrrd"  # grid of another image
    (tmp_path / "data" / "garbage.nrrd").write_text("not an image")
    table.loc[3, "image"] = "data/garbage.nrrd"
    table = pd.concat([table, table.iloc[[0]]], ignore_index=True)  # duplicate row
    table.to_csv(manifest_path, index=False)
    manifest = load_manifest(manifest_path)
    text = "\n".join(manifest.errors)
    assert "row 2 (c01): image file not found" in text
    assert "row 3 (c02): image and mask grids differ (size" in text
    assert "row 4 (c03): image" in text and "unreadable" in text
    assert "row 5 (c00): duplicate of row 1" in text
    with pytest.raises(ValueError, match="4 problem"):
        run_cohort(manifest, firstorder_worker, tmp_path / "out", settings="s", progress=None, strict=True)
    assert not (tmp_path / "out").exists()
    # by default the broken cases are recorded as failed and the others run
    summary = run_cohort(manifest, firstorder_worker, tmp_path / "out", settings="s", progress=None, workers=1)
    errors = pd.read_csv(tmp_path / "out" / "errors.csv")
    assert errors["case_id"].tolist() == ["c00", "c01", "c02", "c03"] and set(errors["step"]) == {"validate"}
    assert "duplicate of row 1" in errors.loc[0, "message"] and not summary.ok and summary.output is None


def test_delta_manifest_needs_both_timepoints(tmp_path):
    manifest_path = _write_cohort(tmp_path, n=2)
    table = pd.read_csv(manifest_path)
    table["timepoint"] = ["baseline", "later"]
    table.to_csv(manifest_path, index=False)
    errors = "\n".join(load_manifest(manifest_path, require_timepoints=True).errors)
    assert "timepoint 'later'" in errors and "needs both a baseline and an ontreatment row" in errors


@pytest.mark.slow
def test_results_identical_with_one_two_workers_and_dask(tmp_path):
    from distributed import Client, LocalCluster

    manifest = load_manifest(_write_cohort(tmp_path, n=6))
    one = run_cohort(manifest, firstorder_worker, tmp_path / "w1", settings="s", output_name="f.csv",
                     workers=1, progress=None)
    two = run_cohort(manifest, firstorder_worker, tmp_path / "w2", settings="s", output_name="f.csv",
                     workers=2, progress=None)
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                      processes=True) as cluster, Client(cluster) as client:
        client.run(lambda: sys.path.insert(0, str(TESTING)))
        dask = run_cohort(manifest, firstorder_worker, tmp_path / "dask", settings="s", output_name="f.csv",
                          scheduler=client, progress=None)
    assert one.ok and two.ok and dask.ok
    reference = pd.read_csv(tmp_path / "w1/f.csv")
    assert reference.shape == (6, 19)
    for other in ("w2", "dask"):
        pd.testing.assert_frame_equal(reference, pd.read_csv(tmp_path / other / "f.csv"))


KILL_SCRIPT = """
import sys
sys.path.insert(0, {testing!r})
from batch_workers import firstorder_worker
from AxillaryPredictorLib.batch.runner import run_cohort
from AxillaryPredictorLib.batch.manifest import load_manifest
summary = run_cohort(load_manifest({manifest!r}), firstorder_worker, {out!r}, settings="s",
                     output_name="features.csv", workers=1, resume=True, progress=None)
print("finished", summary.done, summary.skipped)
"""


@pytest.mark.slow
def test_killed_run_leaves_no_partial_output_and_resume_completes(tmp_path):
    manifest_path = _write_cohort(tmp_path, n=8)
    out = tmp_path / "out"
    script = KILL_SCRIPT.format(testing=str(TESTING), manifest=str(manifest_path), out=str(out))
    env = dict(os.environ, AP_TEST_WORKER_DELAY="0.4")
    process = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and len(list((out / "cases").glob("*.json"))) < 3:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    assert process.returncode != 0
    assert not (out / "features.csv").exists()
    done_before = len(list((out / "cases").glob("*.json")))
    assert 3 <= done_before < 8
    for stored in (out / "cases").glob("*.json"):
        assert stored.read_text(encoding="utf-8").endswith("}")  # every stored case result is complete
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert f"finished {8 - done_before} {done_before}" in finished.stdout
    result = pd.read_csv(out / "features.csv")
    assert len(result) == 8 and np.isfinite(result.drop(columns="case_id").to_numpy()).all()
