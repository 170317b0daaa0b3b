"""One error model (``errors.py``): user-fixable failures become messages at the right step, bugs keep
their traceback; and the estimator registry that model packages score through."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from AxillaryPredictorLib.batch.manifest import CaseEntry
from AxillaryPredictorLib.batch.runner import CaseError, _run_one
from AxillaryPredictorLib.cli.main import main
from AxillaryPredictorLib.errors import (
    AxillaryPredictorError,
    ExtractionError,
    InputError,
    InputFileNotFoundError,
    ModelError,
    RegionError,
)

# ------------------------------------------------------------------------------ CLI


def _image(path):
    image = sitk.GetImageFromArray(np.zeros((8, 16, 16), np.int16))
    sitk.WriteImage(image, str(path))
    return path


def test_unreadable_mask_is_an_input_error_with_exit_code_2(tmp_path, capsys):
    """A zero-byte mask made SimpleITK raise RuntimeError, which reached the user as a traceback."""
    image = _image(tmp_path / "image.nrrd")
    (tmp_path / "mask.nrrd").write_bytes(b"")
    code = main(["regions", "--image", str(image), "--mask", str(tmp_path / "mask.nrrd"), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: Cannot read the mask {tmp_path / 'mask.nrrd'}: ")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_file_is_an_input_error_that_is_also_a_file_not_found_error(tmp_path, capsys):
    from AxillaryPredictorLib.packages.package import load_package

    with pytest.raises(InputFileNotFoundError) as caught:
        load_package(tmp_path / "absent.json")
    assert isinstance(caught.value, FileNotFoundError) and caught.value.step == "read"
    image = _image(tmp_path / "image.nrrd")
    assert main(["regions", "--image", str(image), "--mask", str(tmp_path / "no.nrrd"), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: No mask at {tmp_path / 'no.nrrd'}.\n"


def _broken_profiles_command(monkeypatch):
    import AxillaryPredictorLib.cli.profiles as command

    def run(args):
        return {}["missing"]  # a bug: KeyError

    monkeypatch.setattr(command, "run", run)


def test_unexpected_error_is_reported_as_a_bug_with_exit_code_1(monkeypatch, capsys):
    _broken_profiles_command(monkeypatch)
    assert main(["profiles"]) == 1
    err = capsys.readouterr().err
    assert err == ("error: unexpected KeyError: 'missing' (this is a bug; rerun with --debug for the "
                   "traceback)\n")


def test_debug_flag_lets_the_traceback_through(monkeypatch):
    _broken_profiles_command(monkeypatch)
    with pytest.raises(KeyError, match="missing"):
        main(["--debug", "profiles"])


def test_region_failure_is_a_region_error_and_still_a_value_error():
    from AxillaryPredictorLib.imaging.regions import build_region_set

    empty = sitk.Image(16, 16, 8, sitk.sitkUInt8)
    with pytest.raises(RegionError, match="The tumor mask is empty") as caught:
        build_region_set(empty, "3")
    assert isinstance(caught.value, ValueError) and caught.value.step == "regions"


# ---------------------------------------------------------------------------- batch


def _case(case_id: str = "c1") -> CaseEntry:
    return CaseEntry(case_id, ())


def _failing(error: Exception):
    def worker(case: CaseEntry) -> dict:
        raise error

    return worker


@pytest.mark.parametrize(("error", "step"), [
    (RegionError("The tumor mask is empty."), "regions"),
    (ExtractionError("No region could be extracted: x"), "extract"),
    (ModelError("Model 'm' needs view(s) CC."), "predict"),
    (InputError("Cannot read the mask m.nrrd."), "read"),
])
def test_batch_records_the_step_and_message_of_library_errors(error, step):
    case_id, row, failure, _ = _run_one(_failing(error), _case())
    assert (case_id, row) == ("c1", None)
    assert failure == (step, str(error))


def test_batch_records_a_real_region_failure_at_its_step():
    """The library's own failure (not a CaseError wrapper) lands at step 'regions', not 'run'."""
    from AxillaryPredictorLib.imaging.regions import build_region_set

    def worker(case: CaseEntry) -> dict:
        build_region_set(sitk.Image(16, 16, 8, sitk.sitkUInt8), "3,5")
        return {}

    _, _, failure, _ = _run_one(worker, _case())
    assert failure[0] == "regions" and failure[1].startswith("The tumor mask is empty")


def test_batch_records_a_bug_at_step_run_with_its_type():
    class SteppedBugError(Exception):
        step = "extract"  # only the error model's classes name a step

    _, _, failure, _ = _run_one(_failing(ZeroDivisionError("division by zero")), _case())
    assert failure == ("run", "ZeroDivisionError: division by zero")
    _, _, failure, _ = _run_one(_failing(SteppedBugError("oops")), _case())
    assert failure == ("run", "SteppedBugError: oops")


def test_case_error_is_part_of_the_hierarchy():
    error = CaseError("regions", "empty")
    assert isinstance(error, AxillaryPredictorError) and isinstance(error, ValueError)
    assert (error.step, str(error)) == ("regions", "empty")
    assert _run_one(_failing(error), _case())[2] == ("regions", "empty")
    assert AxillaryPredictorError("x").step == "run"  # the class default is untouched


def test_package_errors_are_model_errors(tmp_path):
    from AxillaryPredictorLib.packages.package import PackageError, load_package

    (tmp_path / "bad.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ModelError, match="must be a JSON object") as caught:
        load_package(tmp_path / "bad.json")
    assert isinstance(caught.value, PackageError) and caught.value.step == "predict"


# ------------------------------------------------------------------ estimator registry


def _schema() -> dict:
    path = resources.files("AxillaryPredictorLib") / "resources" / "schemas" / "model-package.schema.json"
    return json.loads(path.read_text(encoding="utf-8"))


def test_estimator_registry_matches_the_schema_enum():
    from AxillaryPredictorLib.modeling.estimators import CLASSIFIERS, ESTIMATORS
    from AxillaryPredictorLib.packages.package import ESTIMATOR_TYPES

    assert list(ESTIMATORS) == _schema()["$defs"]["estimator"]["properties"]["type"]["enum"]
    assert tuple(ESTIMATORS) == ESTIMATOR_TYPES
    assert set(CLASSIFIERS) == {"logistic", "sgd", "linear-svm", "rbf-svm", "xgboost"}


def test_status_and_task_constants_match_the_schema():
    from AxillaryPredictorLib.cli.main import build_parser
    from AxillaryPredictorLib.packages.package import NEEDS_RECALIBRATION, STATUSES, TASKS

    schema = _schema()["properties"]
    assert list(STATUSES) == schema["status"]["enum"] and NEEDS_RECALIBRATION in STATUSES
    assert list(TASKS) == schema["task"]["enum"]
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    task = next(action for action in train._actions if action.dest == "task")
    assert tuple(task.choices) == TASKS


def test_packages_score_and_export_through_the_registry(monkeypatch):
    from sklearn.linear_model import LogisticRegression

    from AxillaryPredictorLib.modeling import estimators
    from AxillaryPredictorLib.modeling.classifiers import export_estimator, make_classifier
    from AxillaryPredictorLib.packages.package import ModelPackage

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(40, 2)), columns=["a", "b"])
    fitted = make_classifier("logistic").fit(frame.to_numpy(), (frame["a"] > 0).astype(int))
    package = ModelPackage({"id": "t", "status": "demonstration", "features": ["a", "b"],
                            "estimator": export_estimator(fitted)})
    assert np.allclose(package.predict_proba(frame), fitted.predict_proba(frame.to_numpy())[:, 1], atol=1e-12)

    logistic = estimators.ESTIMATORS["logistic"]
    monkeypatch.setitem(estimators.ESTIMATORS, "logistic", dataclasses.replace(
        logistic, score=lambda estimator, inputs, data: np.full(len(inputs), 0.25),
        export=lambda estimator: {"type": "logistic", "intercept": 9.0, "coefficients": [0.0, 0.0]}
        if isinstance(estimator, LogisticRegression) else None))
    assert export_estimator(fitted)["intercept"] == 9.0
    assert np.all(package.predict_proba(frame) == 0.25)
    with pytest.raises(ModelError, match="Unknown estimator type 'pickle'"):
        estimators.estimator_probability({"type": "pickle"}, frame.to_numpy(), frame)
