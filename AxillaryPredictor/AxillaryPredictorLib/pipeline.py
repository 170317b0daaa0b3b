"""Case in, prediction out: features -> model package -> probability, nomogram, report.

``predict_case`` extracts exactly the views/regions/profile the package needs (checking
the profile hash), adds the clinical inputs, scores with the package's own scorer and
maps the case onto the package's nomogram. ``write_prediction`` writes ``report.html``,
``report.pdf``, ``nomogram.png`` and ``prediction.json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import SimpleITK as sitk

from AxillaryPredictorLib.packages.package import ModelPackage


@dataclass
class Prediction:
    case_id: str
    model_id: str
    probability: float
    risk_group: str
    threshold: float
    features: dict[str, float]
    clinical: dict[str, Any]
    predictor_points: dict[str, float] = field(default_factory=dict)
    total_points: float | None = None
    nomogram_values: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    images: list = field(default_factory=list)  # report.TimepointImages
    derived: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        return (f"Case {self.case_id}: predicted probability {self.probability:.1%} — risk group {self.risk_group} "
                f"(cut-off {self.threshold:.3f}, model {self.model_id})")

    def to_json(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "model_id": self.model_id, "probability": self.probability,
                "risk_group": self.risk_group, "threshold": self.threshold, "total_points": self.total_points,
                "predictor_points": self.predictor_points, "nomogram_values": self.nomogram_values,
                "derived_scores": self.derived, "clinical": self.clinical,
                "features_used": {k: (None if v != v else v) for k, v in self.features.items()},  # NaN -> null
                "warnings": self.warnings, "versions": self.versions}


def _profile_check(package: ModelPackage) -> Any:
    from AxillaryPredictorLib.extraction.profiles import load_profile

    wanted = package.document["inputs"]["profile"]
    profile = load_profile(wanted["name"])
    if wanted.get("sha256") and wanted["sha256"] != profile.hash:
        raise ValueError(f"Model '{package.id}' was trained with profile '{wanted['name']}' sha256 "
                         f"{wanted['sha256'][:12]}…, but this installation's profile of that name hashes to "
                         f"{profile.hash[:12]}…: the features would not be comparable.")
    return profile


def predict_case(package: ModelPackage, views: Mapping[str, tuple[sitk.Image, sitk.Image]] | None = None, *,
                 pairs: Mapping[str, tuple[tuple, tuple]] | None = None, clinical: Mapping[str, Any] | None = None,
                 case_id: str = "case", workers: int | None = None,
                 progress: Callable[[float, str], None] | None = None) -> Prediction:
    """Score one case. ``views``: view -> (image, tumor mask[, lymph node mask]) for
    single-timepoint models; ``pairs``: view -> ((baseline image, mask), (on-treatment image,
    mask)) for delta models. ``progress(fraction, message)`` follows the extraction (raise in
    it to cancel)."""
    from AxillaryPredictorLib.extraction.engine import extract
    from AxillaryPredictorLib.extraction.tables import select_regions
    from AxillaryPredictorLib.imaging.regions import build_region_set
    from AxillaryPredictorLib.provenance import library_versions
    from AxillaryPredictorLib.reporting.report import TimepointImages

    inputs = package.document["inputs"]
    profile = _profile_check(package)
    margins = inputs.get("margins_mm") or [3.0]
    wanted_regions = inputs["regions"]
    features: dict[str, float] = {}
    warnings: list[str] = []
    images = []
    if inputs.get("timepoints"):
        from AxillaryPredictorLib.extraction.delta import extract_delta

        if not pairs:
            raise ValueError(f"Model '{package.id}' needs baseline and on-treatment scans (delta radiomics).")
        missing = [v for v in inputs["views"] if v not in pairs]
        if missing:
            raise ValueError(f"Model '{package.id}' needs view(s) {', '.join(missing)}; given: {', '.join(pairs)}.")
        for view in inputs["views"]:
            baseline, ontreatment = pairs[view]
            result = extract_delta(baseline, ontreatment, case_id=case_id, view=view, margins=margins,
                                   regions=wanted_regions, profile=profile.name,
                                   mode=inputs.get("delta_mode") or "relative", workers=workers,
                                   progress=progress)
            features.update(result.row())
            warnings += result.warnings
            for label, (image, mask) in (("Baseline", baseline), ("On-treatment", ontreatment)):
                shown = {"tumor": mask}
                if sitk.GetArrayViewFromImage(mask).any():  # the regions as extracted (tumor and its rings)
                    built = build_region_set(mask, margins).images
                    shown = {name: built[name] for name in wanted_regions if name in built}
                images.append(TimepointImages(f"{label} {view}", image, shown))
    else:
        if not views:
            raise ValueError(f"Model '{package.id}' needs images of view(s) {', '.join(inputs['views'])}.")
        missing = [v for v in inputs["views"] if v not in views]
        if missing:
            raise ValueError(f"Model '{package.id}' needs view(s) {', '.join(missing)}; given: {', '.join(views)}.")
        prepared = {}
        for view in inputs["views"]:
            image, mask, *rest = views[view]
            node = rest[0] if rest else None
            if "node" in wanted_regions and node is None:
                raise ValueError(f"Model '{package.id}' needs the lymph node ROI of view {view} (a 'node' segment, "
                                 "or --node-mask on the command line).")
            region_set = build_region_set(mask, margins, node_mask=node)
            warnings += region_set.warnings
            prepared[view] = (image, select_regions(region_set.images, wanted_regions))
            images.append(TimepointImages(view, image, {n: region_set.images[n] for n in wanted_regions}))
        result = extract(prepared, profile, case_id=case_id, workers=workers, progress=progress)
        features.update(result.features)
        warnings += result.warnings
    clinical = dict(clinical or {})
    frame = pd.DataFrame([{**features, **clinical}])
    probability = float(package.predict_proba(frame)[0])
    imputed = package.imputed(frame)
    if imputed:
        warnings.append(f"{len(imputed)} model input(s) could not be computed for this case and were replaced by the "
                        f"training {package.document.get('imputation', {}).get('strategy', 'median')}: "
                        f"{', '.join(imputed[:5])}.")
    warnings += package.out_of_range(package.with_derived(package.encode_clinical(frame)))
    prediction = Prediction(case_id, package.id, probability, package.risk_group(probability),
                            float(package.document["threshold"]), {c: features[c] for c in package.required_columns()
                                                                    if c in features}, clinical, warnings=warnings,
                            versions={**library_versions(), "model": f"{package.id} {package.document['version']} "
                                      f"(sha256 {package.document['sha256'][:12]}…)",
                                      "profile": f"{profile.name} (sha256 {profile.hash[:12]}…)"}, images=images)
    derived_frame = package.with_derived(package.encode_clinical(frame))
    prediction.derived = {d["name"]: float(derived_frame[d["name"]].iloc[0])
                          for d in package.document.get("derived", [])}
    if package.document["estimator"]["type"] == "logistic":
        from AxillaryPredictorLib.reporting.nomogram import Nomogram, case_values

        try:
            nomogram = Nomogram.from_package(package)
        except ValueError as error:
            warnings.append(f"No nomogram for this model: {error}")
        else:
            values = case_values(package, frame)
            prediction.nomogram_values = values
            prediction.predictor_points = nomogram.points(values)
            prediction.total_points = nomogram.total_points(values)
            if abs(nomogram.probability_from_points(prediction.total_points) - probability) > 0.005:
                warnings.append("The nomogram's probability differs from the model's by more than 0.5 points.")
    return prediction


def write_prediction(package: ModelPackage, prediction: Prediction, out_dir: str | Path,
                     inputs: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """report.html, report.pdf, nomogram.png and prediction.json in ``out_dir``."""
    from AxillaryPredictorLib.files import write_text_atomic
    from AxillaryPredictorLib.reporting.report import CaseReport, key_feature_rows, radscore_with_values, write_report

    document = package.document
    card = {"model": f"{document['title']} ({document['id']} v{document['version']})", "status": document["status"],
            "task": document["task"], "modality": document["modality"],
            "training data": document.get("description", ""),
            "reported performance": _performance_text(document.get("performance", {})),
            "intended use": document["intended_use"]}
    if document.get("citation"):
        card["citation"] = document["citation"]
    frame = pd.DataFrame([{**prediction.features, **prediction.clinical}])
    key_features = key_feature_rows(package, frame) if document["estimator"]["type"] == "logistic" else []
    report = CaseReport(
        case_id=prediction.case_id, probability=prediction.probability, risk_group=prediction.risk_group,
        threshold=prediction.threshold, task=document["task"], model_id=document["id"], model_card=card,
        inputs={**(inputs or {}), **_settings(document),
                **{f"clinical: {k}": v for k, v in prediction.clinical.items()},
                **{f"score: {k}": round(v, 4) for k, v in prediction.derived.items()}},
        key_features=key_features[:20], radscore_formula=document.get("radscore_formula"),
        radscore_values=radscore_with_values(package, frame) if key_features else None,
        predictor_points=prediction.predictor_points, total_points=prediction.total_points,
        nomogram=None, nomogram_values=prediction.nomogram_values, images=prediction.images,
        warnings=prediction.warnings, versions=prediction.versions)
    if prediction.total_points is not None:
        from AxillaryPredictorLib.reporting.nomogram import Nomogram

        report.nomogram = Nomogram.from_package(package)
    paths = write_report(report, out_dir)
    paths["json"] = write_text_atomic(Path(out_dir) / "prediction.json",
                                      json.dumps(prediction.to_json(), indent=2, default=float))
    return paths


def _settings(document: Mapping[str, Any]) -> dict[str, str]:
    """The extraction settings the model fixes, for the report's inputs table."""
    inputs = document["inputs"]
    settings = {"setting: views": ", ".join(inputs["views"]), "setting: regions": ", ".join(inputs["regions"]),
                "setting: profile": f"{inputs['profile'].get('name')} (sha256 "
                                    f"{str(inputs['profile'].get('sha256', ''))[:12]}…)"}
    if inputs.get("margins_mm"):
        settings["setting: margins (mm)"] = ", ".join(f"{m:g}" for m in inputs["margins_mm"])
    if inputs.get("timepoints"):
        settings["setting: delta"] = f"{inputs.get('delta_mode') or 'relative'} change, baseline → on-treatment"
    return settings


def _performance_text(performance: Mapping[str, Any]) -> str:
    cv = performance.get("cv", {})
    if not cv:
        return "not reported"
    return (f"cross-validated AUC {cv['auc']:.3f} (95% CI {cv.get('auc_lower', math.nan):.3f}-"
            f"{cv.get('auc_upper', math.nan):.3f}), {cv.get('method', '')}")
