"""``axillary-predictor cohort``: real extraction and prediction over manifests, failures, resume."""

from __future__ import annotations

import pandas as pd
import pytest

from AxillaryPredictorLib.cli.main import main
from AxillaryPredictorLib.phantoms import LesionSpec, make_pair, make_phantom


def _manifest(folder, n=4, broken=(), one_voxel=()):
    import numpy as np
    import SimpleITK as sitk

    rows = []
    for i in range(n):
        phantom = make_phantom("dce", seed=i, lesion=LesionSpec(diameter_mm=10 + i))
        files = phantom.write(folder / "data", f"p{i}")
        if i in broken:
            empty = sitk.Image(phantom.tumor.GetSize(), sitk.sitkUInt8)
            empty.CopyInformation(phantom.tumor)
            sitk.WriteImage(empty, str(files["tumor"]))
        if i in one_voxel:  # extracts with NaN features and a warning
            array = np.zeros(sitk.GetArrayViewFromImage(phantom.tumor).shape, np.uint8)
            array[tuple(s // 2 for s in array.shape)] = 1
            tumor = sitk.GetImageFromArray(array)
            tumor.CopyInformation(phantom.tumor)
            sitk.WriteImage(tumor, str(files["tumor"]))
        rows.append({"case_id": f"p{i}", "view": "DCE3", "image": f"data/p{i}_image.nrrd",
                     "mask": f"data/p{i}_tumor.nrrd", "ki67": 20 + 10 * i,
                     "us_aln": "positive" if i % 2 else "negative", "aln_metastasis": i % 2})
    path = folder / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_cohort_extract_isolates_failures_and_resumes(tmp_path, capsys):
    manifest = _manifest(tmp_path, n=4, broken=(2,))
    out = tmp_path / "out"
    arguments = ["cohort", "extract", str(manifest), "--out", str(out), "--margins", "3", "--regions",
                 "tumor,margin3mm", "--workers", "2"]
    assert main(arguments) == 1
    assert "1 failed" in capsys.readouterr().out
    errors = pd.read_csv(out / "errors.csv")
    assert errors.to_dict(orient="records")[0]["case_id"] == "p2" and errors.loc[0, "step"] == "regions"
    features = pd.read_csv(out / "features.csv")
    assert features["case_id"].tolist() == ["p0", "p1", "p3"] and features.shape[1] == 1 + 2 * 851
    # fix the broken case and resume: only it runs
    _manifest(tmp_path / "fixed", n=4)
    (tmp_path / "data" / "p2_tumor.nrrd").write_bytes((tmp_path / "fixed" / "data" / "p2_tumor.nrrd").read_bytes())
    assert main([*arguments, "--resume"]) == 0
    assert "1 processed, 3 unchanged" in capsys.readouterr().out
    assert pd.read_csv(out / "features.csv")["case_id"].tolist() == ["p0", "p1", "p2", "p3"]


def test_cohort_predict_with_the_demonstration_model(tmp_path):
    manifest = _manifest(tmp_path, n=3)
    out = tmp_path / "pred"
    assert main(["cohort", "predict", str(manifest), "--model", "demo-dce-aln", "--out", str(out),
                 "--workers", "1"]) == 0
    predictions = pd.read_csv(out / "predictions.csv")
    assert predictions["probability"].between(0, 1).all() and len(predictions) == 3
    assert set(pd.read_csv(out / "cases.csv").columns) >= {"case_id", "ki67", "us_aln", "aln_metastasis"}


def test_cohort_delta_needs_and_uses_both_timepoints(tmp_path):
    rows = []
    for i in range(2):
        baseline, ontreatment = make_pair(seed=i, volume_factor=0.5, lesion=LesionSpec(diameter_mm=14))
        for timepoint, phantom in (("baseline", baseline), ("ontreatment", ontreatment)):
            phantom.write(tmp_path / "data", f"d{i}_{timepoint}")
            rows.append({"case_id": f"d{i}", "view": "DCE3", "timepoint": timepoint,
                         "image": f"data/d{i}_{timepoint}_image.nrrd", "mask": f"data/d{i}_{timepoint}_tumor.nrrd"})
    pd.DataFrame(rows).to_csv(tmp_path / "pairs.csv", index=False)
    out = tmp_path / "delta"
    assert main(["cohort", "delta", str(tmp_path / "pairs.csv"), "--out", str(out), "--margins", "3",
                 "--regions", "tumor", "--workers", "2"]) == 0
    table = pd.read_csv(out / "delta.csv")
    assert table["delta__tumor__DCE3__original_shape_MeshVolume"].between(-0.6, -0.4).all()
    diagnostics = pd.read_csv(out / "diagnostics.csv", keep_default_na=False)  # both timepoints' regions
    assert diagnostics[["case_id", "view", "region"]].values.tolist() == [
        [case, f"{timepoint}/DCE3", "tumor"] for case in ("d0", "d1") for timepoint in ("baseline", "ontreatment")]
    assert (diagnostics["voxels"] > 0).all() and set(diagnostics["extracted"]) == {"yes"}
    # a pair whose scans are of different breasts is refused, the other case goes on
    manifest = pd.read_csv(tmp_path / "pairs.csv")
    manifest["laterality"] = ["L", "L", "L", "R"]
    manifest.to_csv(tmp_path / "sides.csv", index=False)
    assert main(["cohort", "delta", str(tmp_path / "sides.csv"), "--out", str(tmp_path / "sides"), "--margins", "3",
                 "--regions", "tumor", "--workers", "1"]) == 1
    errors = pd.read_csv(tmp_path / "sides" / "errors.csv")
    assert errors["case_id"].tolist() == ["d1"] and "differ in laterality ('L' vs 'R')" in errors.loc[0, "message"]


@pytest.mark.slow
def test_real_extraction_identical_with_one_two_workers_and_dask(tmp_path):
    """The cohort extract command itself (not a toy worker) gives identical tables with 1 and 2
    local workers and a 2-worker Dask LocalCluster."""
    from distributed import Client, LocalCluster

    from AxillaryPredictorLib.batch.cohort import run_cohort_command

    manifest = _manifest(tmp_path, n=3, one_voxel=(1,))
    options = {"margins": "3", "regions": "tumor,margin3mm"}
    summaries = [run_cohort_command("extract", manifest, tmp_path / "w1", workers=1, **options),
                 run_cohort_command("extract", manifest, tmp_path / "w2", workers=2, **options)]
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                      processes=True) as cluster, Client(cluster) as client:
        summaries.append(run_cohort_command("extract", manifest, tmp_path / "dask", scheduler=client, **options))
    assert all(summary.ok and summary.warned == ["p1"] for summary in summaries)
    reference = pd.read_csv(tmp_path / "w1" / "features.csv")
    assert reference.shape == (3, 1 + 2 * 851)
    for other in ("w2", "dask"):
        pd.testing.assert_frame_equal(reference, pd.read_csv(tmp_path / other / "features.csv"), check_exact=True)
    diagnostics = (tmp_path / "w1" / "diagnostics.csv").read_bytes()
    assert diagnostics.count(b"\n") == 1 + 3 * 2  # one row per case and region
    for other in ("w2", "dask"):
        assert (tmp_path / other / "diagnostics.csv").read_bytes() == diagnostics
