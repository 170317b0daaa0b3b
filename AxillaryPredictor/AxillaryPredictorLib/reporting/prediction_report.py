"""The files of one prediction: ``report.html``, ``report.pdf``, ``nomogram.png`` and ``prediction.json``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from AxillaryPredictorLib.reporting.model_card import model_card


def write_prediction(package: Any, prediction: Any, out_dir: str | Path,
                     inputs: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write the report of ``prediction`` (a ``pipeline.Prediction`` made with ``package``) to ``out_dir``."""
    from AxillaryPredictorLib.files import write_text_atomic
    from AxillaryPredictorLib.reporting.nomogram import Nomogram
    from AxillaryPredictorLib.reporting.report import CaseReport, key_feature_rows, radscore_with_values, write_report

    discard_prediction(out_dir)  # none of an earlier case's files (e.g. its nomogram) stays beside this report
    document = package.document
    design = pd.DataFrame([prediction.design])  # the case as the model saw it (one encoding)
    key_features = key_feature_rows(package, design) if document["estimator"]["type"] == "logistic" else []
    report = CaseReport(
        case_id=prediction.case_id, probability=prediction.probability, risk_group=prediction.risk_group,
        threshold=prediction.threshold, task=document["task"], model_id=document["id"],
        model_card=model_card(document), inputs={**(inputs or {}), **report_settings(document, prediction),
                                                 **{f"clinical: {k}": v for k, v in prediction.clinical.items()},
                                                 **{f"score: {k}": round(v, 4) for k, v in prediction.derived.items()}},
        key_features=key_features[:20], radscore_formula=document.get("radscore_formula"),
        radscore_values=radscore_with_values(package, design) if key_features else None,
        predictor_points=prediction.predictor_points, total_points=prediction.total_points,
        nomogram=Nomogram.from_package(package) if prediction.total_points is not None else None,
        nomogram_values=prediction.nomogram_values, images=prediction.images, warnings=prediction.warnings,
        versions=prediction.versions)
    try:
        paths = write_report(report, out_dir)
        paths["json"] = write_text_atomic(Path(out_dir) / "prediction.json",
                                          json.dumps(prediction.to_json(), indent=2, default=float))
    except BaseException:
        discard_prediction(out_dir)  # no partial report
        raise
    return paths


#: the files of a report in its folder (``slice_*.png``: one per image shown)
REPORT_FILES = ("report.html", "report.pdf", "nomogram.png", "prediction.json")


def discard_prediction(out_dir: str | Path) -> list[Path]:
    """Remove the report files of an earlier prediction from ``out_dir`` (so a failed or new
    prediction never leaves them looking current); returns the files removed. Other files stay."""
    from AxillaryPredictorLib.files import remove_files

    folder = Path(out_dir)
    if not folder.is_dir():
        return []
    found = [folder / name for name in REPORT_FILES if (folder / name).is_file()]
    found += sorted(path for path in folder.glob("slice_*.png") if path.is_file())
    remove_files(found)
    return found


def report_settings(document: Mapping[str, Any], prediction: Any = None) -> dict[str, str]:
    """The extraction and region settings of the prediction, for the report's inputs table."""
    inputs = document["inputs"]
    settings = {"setting: views": ", ".join(inputs["views"]), "setting: regions": ", ".join(inputs["regions"]),
                "setting: profile": f"{inputs['profile'].get('name')} (sha256 "
                                    f"{str(inputs['profile'].get('sha256', ''))[:12]}…)"}
    region_settings = getattr(prediction, "region_settings", None) or {}
    margins = region_settings.get("margins_mm") or inputs.get("margins_mm")
    if margins:
        settings["setting: margins (mm)"] = ", ".join(f"{m:g}" for m in margins)
    if region_settings.get("exclude_below") is not None:
        settings["setting: tissue threshold"] = f"margins exclude voxels below {region_settings['exclude_below']:g}"
    if region_settings.get("excluded_masks"):
        settings["setting: excluded masks"] = "; ".join(f"{place}: {', '.join(names)}" for place, names
                                                        in region_settings["excluded_masks"].items())
    if region_settings.get("components"):
        settings["setting: lesion components"] = region_settings["components"]
    if inputs.get("timepoints"):
        settings["setting: delta"] = f"{inputs.get('delta_mode') or 'relative'} change, baseline → on-treatment"
    return settings
