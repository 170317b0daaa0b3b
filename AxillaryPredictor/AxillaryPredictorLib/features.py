"""Radiomics extraction for every region of every view: the shared-grid engine.

``extract(views, profile, case_id=..., engine="shared", workers=None)`` returns one row per
case with columns ``<region>__<view>__<pyradiomics feature name>`` (DESIGN.md).

Engines, both on the same preprocessed shared-grid image and masks (``preprocessing``):

- ``shared`` (default): per view, every filtered image is computed once (not once per
  region), each (filtered image, region) is discretized once and the discretized matrix is
  shared by all feature classes; the pyradiomics feature classes and C matrix routines do
  the rest, so values are pyradiomics' own. Work is spread over ``workers`` processes
  (default: the number of cores) by view and image type.
- ``pyradiomics``: the reference — ``RadiomicsFeatureExtractor.execute`` once per region
  on the identical image and mask (preCrop off, no resampling, no normalization: those
  were done once by ``preprocessing``).

A region too small for pyradiomics (e.g. one voxel) or empty after resampling gives NaN
for its features and a warning in the diagnostics — never a crash, never a silent zero.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from AxillaryPredictorLib.preprocessing import MAX_SCALED, PreparedView, describe, prepare_view
from AxillaryPredictorLib.profiles import Profile, load_profile, quiet_radiomics

ENGINES = ("shared", "pyradiomics")
logger = logging.getLogger(__name__)


def column_name(region: str, view: str, feature: str) -> str:
    """``<region>__<view>__<feature>`` — the one place that knows the column scheme."""
    return f"{region}__{view}__{feature}"


def split_column(column: str) -> tuple[str, str, str]:
    region, view, feature = column.split("__", 2)
    return region, view, feature


@dataclass
class ExtractionResult:
    """One case: its feature row, per-region diagnostics and provenance."""

    case_id: str
    features: dict[str, float]
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"case_id": self.case_id, **self.features}])


def library_versions() -> dict[str, str]:
    """Versions of the packages that determine feature values (importlib.metadata)."""
    versions = {}
    for name in ("axillary-predictor", "pyradiomics", "SimpleITK", "numpy", "PyWavelets", "scipy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    try:
        import radiomics

        versions["pyradiomics (reported by the module)"] = str(radiomics.__version__)
    except ImportError:
        pass
    return versions


# ------------------------------------------------------------------------------ engine


def _prebinned_class(base: type, binned: np.ndarray, gray_levels: np.ndarray) -> type:
    """``base`` whose discretization returns the matrix computed once for this region."""

    class Prebinned(base):
        def _applyBinning(self, matrix):  # noqa: N802 - pyradiomics' name
            self.coefficients["grayLevels"] = gray_levels
            self.coefficients["Ng"] = int(np.max(gray_levels))
            return binned.copy()

    Prebinned.__name__ = base.__name__
    Prebinned.__module__ = base.__module__  # pyradiomics names its loggers after the class's module
    return Prebinned


def _region_features(filtered: sitk.Image, mask: sitk.Image, bounding_box: np.ndarray, image_type_name: str,
                     settings: dict[str, Any], enabled: Mapping[str, Any]) -> dict[str, float]:
    """All non-shape classes for one (filtered image, region), discretized once."""
    from radiomics import getFeatureClasses, imageoperations

    image, region = imageoperations.cropToTumorMask(filtered, mask, bounding_box)
    image_array = sitk.GetArrayFromImage(image)
    mask_array = sitk.GetArrayFromImage(region) == settings.get("label", 1)
    binned, _ = imageoperations.binImage(image_array.copy(), mask_array, **settings)
    gray_levels = np.unique(binned[mask_array])
    classes = getFeatureClasses()
    values: dict[str, float] = {}
    for class_name, feature_names in enabled.items():
        if class_name.startswith("shape"):
            continue
        feature_class = _prebinned_class(classes[class_name], binned, gray_levels)(image, region, **settings)
        for feature in feature_names or []:
            feature_class.enableFeatureByName(feature)
        for name, value in feature_class.execute().items():
            values[f"{image_type_name}_{class_name}_{name}"] = float(value)
    return values


def _image_type_task(prepared: PreparedView, boxes: dict[str, np.ndarray], image_type: str,
                     options: dict[str, Any], settings: dict[str, Any], enabled: Mapping[str, Any],
                     ) -> dict[str, dict[str, float]]:
    """One filter (all its derived images) for every valid region of a view."""
    from radiomics import imageoperations

    quiet_radiomics()
    union = None
    for name in boxes:
        union = prepared.regions[name] if union is None else sitk.Or(union, prepared.regions[name])
    arguments = {**settings, **(options or {})}
    results: dict[str, dict[str, float]] = {name: {} for name in boxes}
    generator = getattr(imageoperations, f"get{image_type}Image")
    produced = False
    scaled = image_type in MAX_SCALED and prepared.whole is not None
    source = prepared.whole if scaled else prepared.image
    for filtered, image_type_name, kwargs in generator(source, union, **arguments):
        produced = True
        if scaled:  # filtered on the whole image, then cropped to the shared grid (same lattice)
            filtered = sitk.Resample(filtered, prepared.image, sitk.Transform(), sitk.sitkNearestNeighbor, 0.0,
                                     filtered.GetPixelID())
        for name, box in boxes.items():
            results[name].update(_region_features(filtered, prepared.regions[name], box, image_type_name, kwargs,
                                                  enabled))
    if not produced:
        raise RuntimeError(f"pyradiomics could not build the {image_type} image type (a dependency is missing: "
                           "LBP-3D needs scipy < 1.17 and trimesh).")
    return results


def _shape_task(prepared: PreparedView, boxes: dict[str, np.ndarray], extractor_params: dict[str, Any],
                settings: dict[str, Any]) -> dict[str, dict[str, float]]:
    from radiomics import featureextractor

    quiet_radiomics()
    extractor = featureextractor.RadiomicsFeatureExtractor(extractor_params)
    return {name: {k: float(v) for k, v in extractor.computeShape(prepared.image, prepared.regions[name], box,
                                                                   **settings).items()}
            for name, box in boxes.items()}


def _check_regions(prepared: PreparedView, settings: dict[str, Any]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Bounding boxes of the regions pyradiomics accepts; warnings for the others."""
    from radiomics import imageoperations

    boxes, warnings = {}, []
    for name, mask in prepared.regions.items():
        voxels = int(sitk.GetArrayViewFromImage(mask).sum())
        if voxels == 0:
            warnings.append(f"{prepared.view}/{name}: region is empty after resampling; its features are NaN")
            continue
        try:
            box, _ = imageoperations.checkMask(prepared.image, mask, **settings)
        except (ValueError, AssertionError) as error:
            warnings.append(f"{prepared.view}/{name}: too small for pyradiomics ({voxels} voxel(s): {error}); "
                            "its features are NaN")
            continue
        if box is None:
            warnings.append(f"{prepared.view}/{name}: pyradiomics rejected the region; its features are NaN")
            continue
        boxes[name] = box
    return boxes, warnings


def _extractor_params(profile: Profile) -> dict[str, Any]:
    from AxillaryPredictorLib.profiles import FORCED_SETTINGS

    params = {k: v for k, v in profile.params.items()}
    params["setting"] = {**(params.get("setting") or {}), **FORCED_SETTINGS}
    return params


def _run_shared(prepared_views: list[PreparedView], profile: Profile, workers: int,
                ) -> tuple[dict[tuple[str, str], dict[str, float]], list[str]]:
    settings = profile.settings
    enabled = profile.parsed["featureClass"]
    params = _extractor_params(profile)
    warnings: list[str] = []
    tasks = []
    for prepared in prepared_views:
        boxes, notes = _check_regions(prepared, settings)
        warnings += notes
        if not boxes:
            continue
        if any(name.startswith("shape") for name in enabled):
            tasks.append((prepared.view, _shape_task, (prepared, boxes, params, settings)))
        for image_type, options in profile.image_types.items():
            tasks.append((prepared.view, _image_type_task, (prepared, boxes, image_type, options, settings, enabled)))
    values: dict[tuple[str, str], dict[str, float]] = {}
    if workers <= 1 or len(tasks) <= 1:
        outputs = [function(*arguments) for _, function, arguments in tasks]
    else:
        # heaviest first: filters with several derived images (wavelet, LoG, LBP-3D) dominate
        order = sorted(range(len(tasks)), key=lambda i: -_task_weight(tasks[i]))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {i: pool.submit(tasks[i][1], *tasks[i][2]) for i in order}
            outputs = [futures[i].result() for i in range(len(tasks))]
    for (view, _, _), output in zip(tasks, outputs, strict=True):
        for region, features in output.items():
            values.setdefault((view, region), {}).update(features)
    return values, warnings


def _task_weight(task: tuple) -> int:
    _, function, arguments = task
    if function is _shape_task:
        return 1
    image_type, options = arguments[2], arguments[3] or {}
    return {"Wavelet": 8, "LBP3D": 6, "LoG": len(options.get("sigma", [1]))}.get(image_type, 1)


def _run_reference(prepared_views: list[PreparedView], profile: Profile,
                   ) -> tuple[dict[tuple[str, str], dict[str, float]], list[str]]:
    settings = profile.settings
    extractor = profile.extractor()
    scaled = {kind: options for kind, options in profile.image_types.items() if kind in MAX_SCALED}
    values: dict[tuple[str, str], dict[str, float]] = {}
    warnings: list[str] = []
    for prepared in prepared_views:
        boxes, notes = _check_regions(prepared, settings)
        warnings += notes
        if scaled and prepared.whole is not None:
            # as the engine: these image types are computed by pyradiomics on the whole image
            extractor = profile.extractor()
            whole_extractor = profile.extractor()
            for kind in scaled:
                extractor.enabledImagetypes.pop(kind, None)
            whole_extractor.enabledImagetypes = dict(scaled)
            whole_extractor.enabledFeatures = {k: v for k, v in whole_extractor.enabledFeatures.items()
                                               if not k.startswith("shape")}
        for name in boxes:
            result = dict(extractor.execute(prepared.image, prepared.regions[name]))
            if scaled and prepared.whole is not None:
                mask = sitk.Resample(prepared.regions[name], prepared.whole, sitk.Transform(),
                                     sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
                result.update(whole_extractor.execute(prepared.whole, mask))
            values[(prepared.view, name)] = {k: float(v) for k, v in result.items()
                                             if not k.startswith("diagnostics_")}
    return values, warnings


# --------------------------------------------------------------------------------- API


def extract(
    views: Mapping[str, tuple[sitk.Image, Mapping[str, sitk.Image]]],
    profile: str | Profile = "zeng2025-dce-delta",
    *,
    case_id: str = "case",
    engine: str = "shared",
    workers: int | None = None,
    prepared: list[PreparedView] | None = None,
) -> ExtractionResult:
    """Features of every region of every view of one case.

    ``views``: view name -> (image, {region name: mask on the image grid}); region masks
    usually come from ``regions.build_regions``. ``prepared``: already preprocessed views
    (skips preprocessing; used by benchmarks and the padding check).
    """
    if engine not in ENGINES:
        raise ValueError(f"Unknown engine '{engine}'; choose one of {', '.join(ENGINES)}.")
    quiet_radiomics()
    profile = profile if isinstance(profile, Profile) else load_profile(profile)
    for view in views:
        if not view or not all(c.isalnum() or c == "-" for c in view):
            raise ValueError(f"View name '{view}' must use letters, digits and '-' only (e.g. CC, MLO, DCE3).")
    if prepared is None:
        prepared = [prepare_view(image, dict(regions), profile, view=view) for view, (image, regions) in views.items()]
    workers = max(1, workers or os.cpu_count() or 1)
    if engine == "shared":
        values, warnings = _run_shared(prepared, profile, workers)
    else:
        values, warnings = _run_reference(prepared, profile)
    # every region of every view gets the same feature names; missing ones are NaN
    names: list[str] = []
    for features in values.values():
        for name in features:
            if name not in names:
                names.append(name)
    if not names:
        raise ValueError("No region could be extracted: " + "; ".join(warnings))
    row: dict[str, float] = {}
    diagnostics = []
    for view_prepared in prepared:
        for region, mask in view_prepared.regions.items():
            features = values.get((view_prepared.view, region))
            for name in names:
                row[column_name(region, view_prepared.view, name)] = (features or {}).get(name, float("nan"))
            diagnostics.append({"case_id": case_id, "view": view_prepared.view, "region": region,
                                "voxels": int(sitk.GetArrayViewFromImage(mask).sum()),
                                "extracted": features is not None})
    provenance = {"profile": profile.provenance(), "engine": engine, "versions": library_versions(),
                  "views": [describe(p) for p in prepared]}
    return ExtractionResult(case_id, row, diagnostics, warnings, provenance)


def extract_case(image: sitk.Image, tumor_mask: sitk.Image, *, view: str = "view", margins=(3, 5, 10),
                 regions: list[str] | None = None, profile: str | Profile = "zeng2025-dce-delta",
                 case_id: str = "case", engine: str = "shared", workers: int | None = None,
                 node_mask: sitk.Image | None = None, allowed_mask: sitk.Image | None = None) -> ExtractionResult:
    """Build the regions of one image and extract them (convenience over ``extract``)."""
    from AxillaryPredictorLib.regions import build_region_set

    region_set = build_region_set(tumor_mask, margins, allowed_mask=allowed_mask, node_mask=node_mask)
    chosen = select_regions(region_set.images, regions)
    result = extract({view: (image, chosen)}, profile, case_id=case_id, engine=engine, workers=workers)
    result.warnings = region_set.warnings + result.warnings
    result.provenance["regions"] = region_set.summary()
    return result


def select_regions(available: Mapping[str, sitk.Image], wanted: list[str] | None) -> dict[str, sitk.Image]:
    """The regions asked for (default: all), with a clear error for unknown names."""
    if not wanted:
        return dict(available)
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise ValueError(f"Unknown region(s) {', '.join(unknown)}; built regions: {', '.join(available)}.")
    return {name: available[name] for name in wanted}


def write_features(results: list[ExtractionResult], path: str | Path) -> Path:
    """Write the feature table and its provenance sidecar ``<table>.json`` atomically."""
    import json

    from AxillaryPredictorLib.io import write_text_atomic

    path = Path(path)
    frame = pd.concat([r.frame() for r in results], ignore_index=True)
    sidecar = {"cases": [r.case_id for r in results], "provenance": results[0].provenance if results else {},
               "warnings": [w for r in results for w in r.warnings],
               "diagnostics": [d for r in results for d in r.diagnostics]}
    write_text_atomic(Path(f"{path}.json"), json.dumps(sidecar, indent=2, default=str))
    write_text_atomic(path, frame.to_csv(index=False))
    return path
