"""The web app's session without a browser: two-timepoint and two-view cases, progress, the launcher.

A ``WebSession`` runs on a real trame-slicer scene and segment editor (Slicer's segmentation logic).
The case is segmented with the editor's Threshold and Islands effects (or a loaded segmentation),
regions are built on every scan, and the prediction must equal ``pipeline.predict_case`` and
``axillary-predictor predict`` on the images and segmentations exported from the session (1e-9).

Needs the [web] extra (trame-slicer); without it the tests skip, except under ``CI=true``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

#: children write UTF-8 whatever the locale (reports and messages hold "—", "…", "×")
UTF8_ENV = {**os.environ, "PYTHONUTF8": "1", "MPLBACKEND": "Agg"}


def _require_trame_slicer() -> None:
    try:
        import trame_slicer  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the web session tests need trame-slicer (the [web] extra)")
        pytest.skip("the web session tests need trame-slicer (the [web] extra)")


@pytest.fixture
def session(tmp_path):
    """A ``WebSession`` on a real trame-slicer scene and segment editor (no server, no browser)."""
    _require_trame_slicer()
    from trame_slicer.core import SlicerApp

    from AxillaryPredictorLib.web.session import SegmentEditorParts, WebSession

    app = SlicerApp()
    shown = []
    parts = SegmentEditorParts(app.scene, app.segmentation_editor, shown.append)
    web = WebSession(parts, tmp_path / "work", user_model_folder=str(tmp_path / "models"))
    web.shown = shown
    return web


def _inputs(session, model_id: str) -> dict[str, str]:
    """A value for every clinical input of the model (first level, or the middle of the range)."""
    values = {}
    for v in session.clinical_inputs(model_id):
        if v["levels"]:
            values[v["name"]] = v["levels"][0]
        else:
            low, high = v.get("range") or (0, 2)
            values[v["name"]] = f"{(low + high) / 2:g}"
    return values


def _dice(mask: sitk.Image, truth: sitk.Image) -> float:
    a, b = sitk.GetArrayViewFromImage(mask) > 0, sitk.GetArrayViewFromImage(truth) > 0
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


def _cli(*args: str) -> subprocess.CompletedProcess:
    code = "import sys; from AxillaryPredictorLib.cli.main import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, encoding="utf-8",
                          errors="replace", env=UTF8_ENV)


def _cli_probability(out: Path, *args: str) -> dict:
    result = _cli("predict", *args, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return json.loads((out / "prediction.json").read_text(encoding="utf-8"))


def _reference(session, model_id: str, inputs) -> float:
    """``pipeline.predict_case`` on the session's exported files, with the regions' settings."""
    from AxillaryPredictorLib.packages.registry import find_model
    from AxillaryPredictorLib.pipeline import predict_case

    return predict_case(find_model(model_id), inputs, session.region_settings, workers=1).probability


def _scan(image: Path, tumor: Path):
    from AxillaryPredictorLib.imaging.io import read_image, read_mask
    from AxillaryPredictorLib.pipeline import Scan

    reference = read_image(image)
    return Scan(reference, read_mask(tumor, reference=reference))


# ------------------------------------------------------------------------- bad input


def test_session_refuses_bad_input_with_clear_messages(session, tmp_path):
    from AxillaryPredictorLib.errors import InputError, RegionError

    clinical = {"ki67": "35", "us_aln": "positive"}
    with pytest.raises(InputError, match="Load an image first"):
        session.threshold(400, 2000)
    session.load_synthetic()
    with pytest.raises(RegionError, match="tumor segment is empty"):
        session.predict("demo-dce-aln", clinical)
    with pytest.raises(RegionError, match="tumor segment of the scan is empty"):
        session.build_regions("3")
    with pytest.raises(InputError, match="Set every clinical input first: US-reported ALN"):
        session.predict("demo-dce-aln", {"ki67": "35"})
    with pytest.raises(InputError, match="threshold range is empty"):
        session.threshold(2000, 400)
    wrong = sitk.Image([20, 20, 5], sitk.sitkUInt8)  # not the image's grid
    wrong[5, 5, 2] = 1
    sitk.WriteImage(wrong, str(tmp_path / "wrong.nrrd"))
    with pytest.raises(InputError, match=r"wrong\.nrrd and the image are on different grids"):
        session.load_segmentation_file(tmp_path / "wrong.nrrd")
    assert session.tumor_voxels() == 0
    with pytest.raises(InputError, match="Unknown kind of case 'three-view'"):
        session.set_kind("three-view")


# ------------------------------------------------------------------------------ kinds


def test_every_bundled_image_model_names_the_kind_of_case_it_needs():
    from AxillaryPredictorLib.packages.registry import find_model
    from AxillaryPredictorLib.web.session import model_case_kind

    expected = {"demo-dce-aln": "single", "demo-us-aln": "single", "demo-delta-pcr": "delta",
                "zeng2025-delta-combined": "delta", "demo-dbt-aln": "two-view", "he2025-dbt-signature": "two-view"}
    assert {m: model_case_kind(find_model(m).document) for m in expected} == expected


def test_a_case_of_the_wrong_kind_or_with_a_missing_scan_is_refused_with_what_to_do(session):
    from AxillaryPredictorLib.errors import InputError, ModelError

    session.load_synthetic()
    session.threshold(400, 5000)
    with pytest.raises(ModelError, match=r"needs a case of kind 'Baseline \+ on-treatment.*choose that kind in step 1"):
        session.predict("demo-delta-pcr", _inputs(session, "demo-delta-pcr"))
    assert session.set_kind("delta").startswith("Baseline + on-treatment")
    assert session.volume is None and session.case_id == ""  # the single scan is gone
    with pytest.raises(InputError, match="Load the baseline first"):
        session.threshold(400, 5000)
    _, phantoms = _synthetic("delta")
    path = session.work_dir / "baseline.nrrd"
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(phantoms["baseline"].image, str(path))
    assert "as the baseline" in session.load_image_file(path)
    assert session.case_id == "baseline"
    session.threshold(400, 5000)
    with pytest.raises(InputError, match="Load the on-treatment first"):
        session.predict("demo-delta-pcr", _inputs(session, "demo-delta-pcr"))
    with pytest.raises(InputError, match="has no scan 'CC'"):
        session.select_scan("CC")
    assert session.select_scan("ontreatment") == "Load the on-treatment (step 1)."
    assert [s["loaded"] for s in session.scan_status()] == [True, False]


def _synthetic(kind: str):
    from AxillaryPredictorLib.web.session import synthetic_phantoms

    return synthetic_phantoms(kind)


# ------------------------------------------------------------------------------ delta


@pytest.mark.slow
def test_delta_case_predicts_as_predict_case_and_the_command_line(session, tmp_path):
    """Baseline and on-treatment segmented with the editor's effects, 3 mm regions on both, demo-delta-pcr."""
    from AxillaryPredictorLib.pipeline import CaseInputs

    session.set_kind("delta")
    assert session.load_synthetic().startswith("Loaded synthetic-pcr-0")
    _, truth = _synthetic("delta")
    for scan in ("baseline", "ontreatment"):
        session.select_scan(scan)
        assert session.shown[-1] is session.scans[scan].volume  # the views show the scan being edited
        session.threshold(400, 5000)
        session.keep_largest_island()
        mask = session.logic.segmentMask(session.segmentation, "tumor", session.volume)
        assert _dice(mask, truth[scan].tumor) > 0.85, scan
    assert session.tumor_voxels("ontreatment") < 0.6 * session.tumor_voxels("baseline")  # half the volume
    rows = session.build_regions("3")
    assert {(r["scan"], r["region"]) for r in rows} >= {("baseline", "margin3mm"), ("on-treatment", "margin3mm")}

    model, clinical = "demo-delta-pcr", _inputs(session, "demo-delta-pcr")
    progress = []
    summary = session.predict(model, clinical, lambda fraction, text: progress.append((fraction, text)))
    web = session.result.prediction
    assert summary["case_id"] == "synthetic-pcr-0" and summary["percent"] == f"{web.probability:.1%}"

    # progress: a fraction that grows to 1 through both timepoints, shown as a percentage
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(set(fractions)) >= 4
    assert any("Extracting features: 50% — baseline" in t for _, t in progress)
    assert any(t.startswith("Extracting features: 100% — on-treatment") for _, t in progress)

    files = {s: (session.export_image(s), session.export_tumor(s)) for s in ("baseline", "ontreatment")}
    assert files["baseline"][1].name == "synthetic-pcr-0-baseline-tumor.nrrd"
    inputs = CaseInputs.paired(web.case_id, {"DCE3": _scan(*files["baseline"])}, {"DCE3": _scan(*files["ontreatment"])},
                               clinical)
    assert abs(_reference(session, model, inputs) - web.probability) < 1e-9

    args = ["--model", model, "--case-id", web.case_id, *[f"--clinical={k}={v}" for k, v in clinical.items()]]
    for scan, (image, tumor) in files.items():
        args += [f"--{scan}-image", str(image), f"--{scan}-mask", str(tumor)]
    cli = _cli_probability(tmp_path / "cli", *args)
    assert abs(cli["probability"] - web.probability) < 1e-9
    assert cli["region_voxels"] == web.region_voxels
    report = json.loads(session.report_files()["prediction.json"].read_text(encoding="utf-8"))
    assert abs(report["probability"] - web.probability) < 1e-12


# --------------------------------------------------------------------------- two views


@pytest.mark.slow
def test_two_view_case_predicts_as_predict_case_and_the_command_line(session, tmp_path):
    """CC segmented with the editor, MLO from a loaded segmentation, 10 mm regions on both, demo-dbt-aln
    (the command line runs ``predict_case`` on the exported files)."""
    session.set_kind("two-view")
    session.load_synthetic()
    _, truth = _synthetic("two-view")
    session.select_scan("CC")
    session.threshold(680, 5000)
    session.keep_largest_island()
    session.select_scan("MLO")
    assert session.tumor_voxels("MLO") == 0
    mlo_truth = tmp_path / "mlo-truth.nrrd"
    sitk.WriteImage(truth["MLO"].tumor, str(mlo_truth))
    assert "of the MLO view" in session.load_segmentation_file(mlo_truth)
    assert session.tumor_voxels("MLO") == int(sitk.GetArrayViewFromImage(truth["MLO"].tumor).sum())
    cc = session.logic.segmentMask(session.scans["CC"].segmentation, "tumor", session.scans["CC"].volume)
    assert 0 < int(sitk.GetArrayViewFromImage(cc).sum()) < int(sitk.GetArrayViewFromImage(truth["CC"].tumor).sum())
    # only the edited scan's segmentation is shown: the views share physical space
    assert [session.scans[s].segmentation.GetDisplayNode().GetVisibility() for s in ("CC", "MLO")] == [0, 1]
    session.build_regions("10")

    model, clinical = "demo-dbt-aln", _inputs(session, "demo-dbt-aln")
    progress = []
    web = session.predict(model, clinical, lambda fraction, text: progress.append((fraction, text)))
    prediction = session.result.prediction
    assert web["probability"] == round(prediction.probability, 4)
    assert {t.split(" — ")[1].split(":")[0] for f, t in progress if " — " in t} == {"CC", "MLO"}
    assert len({round(f, 6) for f, _ in progress}) >= 10

    files = {s: (session.export_image(s), session.export_tumor(s)) for s in ("CC", "MLO")}
    args = ["--model", model, "--case-id", prediction.case_id, *[f"--clinical={k}={v}" for k, v in clinical.items()]]
    for scan, (image, tumor) in files.items():
        args += ["--image", str(image), "--mask", str(tumor), "--view", scan]
    cli = _cli_probability(tmp_path / "cli", *args)
    assert abs(cli["probability"] - prediction.probability) < 1e-9
    assert cli["region_voxels"] == prediction.region_voxels
    assert np.isfinite(cli["probability"])


# ---------------------------------------------------------------------------- launcher


def test_launcher_config_is_wslinks_format_and_runs_this_serve_command(tmp_path):
    """The written configuration parses with wslink's own parser, its static folder holds the page,
    and the command it runs per session is a valid ``axillary-predictor serve`` command line."""
    _require_trame_slicer()
    import argparse

    from wslink.launcher import parseConfig

    from AxillaryPredictorLib.cli.main import build_parser
    from AxillaryPredictorLib.web.launcher import APPLICATION, write_launcher

    path = write_launcher(tmp_path / "launcher", port=18080, session_ports=(18101, 18104), session_timeout=60)
    config = parseConfig(argparse.Namespace(config=[str(path)]))
    assert config["configuration"]["host"] == "127.0.0.1"  # loopback unless asked
    assert config["resources"] == [{"host": "127.0.0.1", "port_range": [18101, 18104]}]
    www = Path(config["configuration"]["content"])
    assert 'data-app-name="trame"' in (www / "index.html").read_text(encoding="utf-8")  # what the client asks for
    assert any(www.glob("__trame_vuetify3_*/vuetify3.js")) and any(www.glob("__trame_rca_*/trame-rca.umd.js"))
    assert Path(config["configuration"]["log_dir"]).is_dir()

    command = config["apps"][APPLICATION]["cmd"]
    assert Path(command[0]).is_file() and command[:3] == [sys.executable, "-m", "AxillaryPredictorLib.cli.main"]
    values = {"${host}": "127.0.0.1", "${port}": "18101", "${secret}": "k3y", "${id}": "abc"}
    argv = [values.get(a, a).replace("${id}", "abc") for a in command[3:]]
    args = build_parser().parse_args(argv)
    assert (args.command, args.port, args.auth_key, args.timeout) == ("serve", 18101, "k3y", 60)
    assert args.work_dir.endswith("sessions/abc") and not args.launcher_config


def test_launcher_options_are_checked(tmp_path):
    _require_trame_slicer()
    from AxillaryPredictorLib.errors import InputError
    from AxillaryPredictorLib.web.launcher import launcher_config

    with pytest.raises(InputError, match="does not contain the launcher's --port 9005"):
        launcher_config(tmp_path, "127.0.0.1", 9005, (9001, 9010), 60)
    with pytest.raises(InputError, match="must be a range"):
        launcher_config(tmp_path, "127.0.0.1", 8080, (9010, 9001), 60)
    result = _cli("serve", "--launcher-config", str(tmp_path / "x"), "--session-ports", "90-a")
    assert result.returncode == 2 and "--session-ports must look like 9001-9010" in result.stderr
