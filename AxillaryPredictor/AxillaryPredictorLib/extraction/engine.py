"""Radiomics extraction for every region of every view: the shared-grid engine.

``extract(views, profile, case_id=..., engine="shared", workers=None)`` returns one row per
case with columns ``<region>__<view>__<pyradiomics feature name>`` (docs/extraction.md).

Engines, both on the same preprocessed shared-grid image and masks (``preprocessing``):

- ``shared`` (default): per view, every filtered image is computed once (not once per
  region), each (filtered image, region) is discretized once and shared by all feature
  classes, the texture matrices are counted by numba kernels and pyradiomics' own feature
  formulas run once for all regions of a filtered image (``extraction.fast``; docs/extraction.md,
  Performance): values are pyradiomics'. Without numba, pyradiomics' classes and C matrix
  routines run per region instead (provenance ``kernels`` says which). Work is spread over
  ``workers`` processes (default: the number of cores) by view and image type (LoG: by sigma).
- ``pyradiomics``: the reference — ``RadiomicsFeatureExtractor.execute`` once per region
  on the identical image and mask (preCrop off, no resampling, no normalization: those
  were done once by ``preprocessing``).

A region too small for pyradiomics (e.g. one voxel) or empty after resampling gives NaN
for its features and a warning in the diagnostics — never a crash, never a silent zero. A
feature class that raises for one (image type, region) gives NaN for exactly that class's
features there (same columns as a normal run) and a warning naming view/region/image
type/class and the error; NaN values pyradiomics itself returns (it turns a failing feature
into NaN and only logs it) get one warning per (view, region, class).

``write_features`` writes ``features.csv``, its provenance sidecar ``features.csv.json`` and the
diagnostics table ``features.diagnostics.csv`` (one row per case/view/region) as one set: all
or none (see ``io.write_texts_atomic``).
"""

from __future__ import annotations

import functools
import json
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from AxillaryPredictorLib.errors import ExtractionError, InputError
from AxillaryPredictorLib.extraction.profiles import Profile, load_profile, quiet_radiomics
from AxillaryPredictorLib.extraction.tables import column_name
from AxillaryPredictorLib.imaging.preprocessing import MAX_SCALED, PreparedView, describe, prepare_view
from AxillaryPredictorLib.provenance import library_versions

ENGINES = ("shared", "pyradiomics")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Note:
    """A warning, attached to a (view, region) when it concerns one (None: the whole case)."""

    view: str | None
    region: str | None
    text: str
    #: feature-name prefix (``<image type>_<class>_``) whose values are NaN because pyradiomics failed
    failed: str | None = None


@dataclass
class ExtractionResult:
    """One case: its feature row, per-region diagnostics and provenance.

    ``diagnostics``: one dict per (view, region): voxels on the shared grid, ``extracted`` (False when
    the whole region was rejected), ``nan_features`` and that region's ``warnings``. ``warnings``: every
    warning as text — those of the regions plus case-level ones (callers prepend e.g. the region
    building's warnings)."""

    case_id: str
    features: dict[str, float]
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"case_id": self.case_id, **self.features}])


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


@functools.cache
def _known_features(class_name: str) -> dict[str, bool]:
    """pyradiomics' feature names of a class -> deprecated (``getFeatureNames``, cached: it inspects the class)."""
    from radiomics import getFeatureClasses

    return dict(getFeatureClasses()[class_name].getFeatureNames())


def _class_feature_names(class_name: str, feature_names: list[str] | None) -> list[str]:
    """The features a class yields: the enabled list, else its non-deprecated features (as ``enableAllFeatures``),
    in the order pyradiomics' ``execute`` returns them."""
    if feature_names:
        return list(feature_names)
    return [name for name, deprecated in _known_features(class_name).items() if not deprecated]


def _describe_error(error: BaseException) -> str:
    text = " ".join(str(error).split()) or "no message"
    return f"{type(error).__name__}: {text}"


def _region_features(filtered: sitk.Image, mask: sitk.Image, bounding_box: np.ndarray, image_type_name: str,
                     settings: dict[str, Any], enabled: Mapping[str, Any],
                     ) -> tuple[dict[str, float], list[tuple[str, str]]]:
    """All non-shape classes for one (filtered image, region), discretized once.

    A class that raises gives NaN for exactly its features (the names are still produced, so the
    columns do not change) and a ``(class name, error)`` failure; the other classes go on. A failure
    of the shared cropping/discretization gives NaN for every class (class name ``"all classes"``)."""
    from radiomics import getFeatureClasses, imageoperations

    texture = {name: features for name, features in enabled.items() if not name.startswith("shape")}
    values: dict[str, float] = {}
    failures: list[tuple[str, str]] = []
    try:
        image, region = imageoperations.cropToTumorMask(filtered, mask, bounding_box)
        image_array = sitk.GetArrayFromImage(image)
        mask_array = sitk.GetArrayFromImage(region) == settings.get("label", 1)
        binned, _ = imageoperations.binImage(image_array.copy(), mask_array, **settings)
        gray_levels = np.unique(binned[mask_array])
    except Exception as error:  # any pyradiomics failure becomes NaN + warning, never a crash
        for class_name, feature_names in texture.items():
            for name in _class_feature_names(class_name, feature_names):
                values[f"{image_type_name}_{class_name}_{name}"] = float("nan")
        return values, [("all classes", _describe_error(error))]
    classes = getFeatureClasses()
    for class_name, feature_names in texture.items():
        unknown = [name for name in feature_names or [] if name not in _known_features(class_name)]
        if unknown:  # a profile error, not a property of this region: fail as pyradiomics would
            raise ExtractionError(f"The profile enables unknown {class_name} feature(s): {', '.join(unknown)}.")
        try:
            feature_class = _prebinned_class(classes[class_name], binned, gray_levels)(image, region, **settings)
            for feature in feature_names or []:
                feature_class.enableFeatureByName(feature)
            computed = {name: float(value) for name, value in feature_class.execute().items()}
        except Exception as error:  # see the docstring
            computed = {name: float("nan") for name in _class_feature_names(class_name, feature_names)}
            failures.append((class_name, _describe_error(error)))
        for name, value in computed.items():
            values[f"{image_type_name}_{class_name}_{name}"] = value
    return values, failures


def _image_type_task(prepared: PreparedView, boxes: dict[str, np.ndarray], image_type: str,
                     options: dict[str, Any], settings: dict[str, Any], enabled: Mapping[str, Any],
                     ) -> tuple[dict[str, dict[str, float]], list[Note]]:
    """One filter (all its derived images) for every valid region of a view; warnings for the
    (derived image, region, class) combinations pyradiomics failed on (their features are NaN)."""
    quiet_radiomics()
    arguments = {**settings, **(options or {})}
    crops = _region_crops(prepared, boxes, settings) if _fast_path(arguments) else None
    results: dict[str, dict[str, float]] = {name: {} for name in boxes}
    notes: list[Note] = []
    generator = _filter(image_type, crops is not None)
    produced = False
    scaled = image_type in MAX_SCALED and prepared.whole is not None
    source = prepared.whole if scaled else prepared.image
    for filtered, image_type_name, kwargs in generator(source, _union(prepared, boxes), **arguments):
        produced = True
        if scaled:  # filtered on the whole image, then cropped to the shared grid (same lattice)
            filtered = sitk.Resample(filtered, prepared.image, sitk.Transform(), sitk.sitkNearestNeighbor, 0.0,
                                     filtered.GetPixelID())
        if crops is not None:
            per_region, failures = _fast_region_features(filtered, crops, image_type_name, kwargs, enabled)
        else:
            per_region, failures = {}, []
            for name, box in boxes.items():
                per_region[name], region_failures = _region_features(filtered, prepared.regions[name], box,
                                                                     image_type_name, kwargs, enabled)
                failures += [(name, class_name, error) for class_name, error in region_failures]
        for name, values in per_region.items():
            results[name].update(values)
        notes += [_failure_note(prepared.view, name, image_type_name, class_name, error, per_region[name])
                  for name, class_name, error in failures]
    if not produced and image_type == "LBP3D" and lbp3d_unavailable():
        # Slicer ships its own SciPy and we never downgrade it: skip LBP-3D, say so in the result
        return results, [Note(prepared.view, None, f"{prepared.view}: LBP-3D features skipped: "
                              f"{lbp3d_unavailable()}")]
    if not produced:
        raise ExtractionError(f"pyradiomics could not build the {image_type} image type (a dependency is missing: "
                                "LBP-3D needs scipy.special.sph_harm and trimesh).")
    return results, notes


def _filter(image_type: str, fast: bool) -> Callable[..., Any]:
    """pyradiomics' generator of an image type's derived images; LBP-3D's with its spline sampling compiled
    (``fast.lbp3d``: the same images) on the fast path."""
    from radiomics import imageoperations

    if fast and image_type == "LBP3D":
        from AxillaryPredictorLib.extraction.fast import lbp3d

        return lbp3d.lbp3d_images
    return getattr(imageoperations, f"get{image_type}Image")


def _union(prepared: PreparedView, boxes: Mapping[str, np.ndarray]) -> sitk.Image:
    """The union of the valid regions (the mask pyradiomics' filters are given; LBP-3D is computed inside it)."""
    union = np.zeros(sitk.GetArrayViewFromImage(prepared.image).shape, dtype=np.uint8)
    for name in boxes:
        union |= sitk.GetArrayViewFromImage(prepared.regions[name]).astype(bool)
    image = sitk.GetImageFromArray(union)
    image.CopyInformation(prepared.regions[next(iter(boxes))])
    return image


def _fast_path(settings: Mapping[str, Any]) -> bool:
    """Whether the numba path computes this image type (numba importable, settings it reproduces)."""
    from AxillaryPredictorLib.extraction import fast

    if fast.unavailable():
        return False
    from AxillaryPredictorLib.extraction.fast import texture

    return texture.supported(settings)


def _region_crops(prepared: PreparedView, boxes: Mapping[str, np.ndarray], settings: Mapping[str, Any],
                  ) -> dict[str, tuple[tuple[slice, ...], np.ndarray]]:
    """Per region: array slices of its bounding box (pyradiomics' ``checkMask`` box) and its mask there."""
    crops = {}
    for name, box in boxes.items():
        box = np.asarray(box)
        slices = tuple(slice(int(box[2 * d]), int(box[2 * d + 1]) + 1) for d in reversed(range(len(box) // 2)))
        crops[name] = (slices, sitk.GetArrayViewFromImage(prepared.regions[name])[slices] == settings.get("label", 1))
    return crops


def _fast_region_features(filtered: sitk.Image, crops: Mapping[str, tuple[tuple[slice, ...], np.ndarray]],
                          image_type_name: str, settings: dict[str, Any], enabled: Mapping[str, Any],
                          ) -> tuple[dict[str, dict[str, float]], list[tuple[str, str, str]]]:
    """Every non-shape class for every region of one filtered image, all regions at once (``fast.texture``):
    region -> features, and (region, class, error) for what failed (those features are NaN)."""
    from AxillaryPredictorLib.extraction.fast import texture

    array = sitk.GetArrayViewFromImage(filtered)
    values: dict[str, dict[str, float]] = {name: {} for name in crops}
    failures: list[tuple[str, str, str]] = []
    texture_classes = {name: features for name, features in enabled.items() if not name.startswith("shape")}
    regions = []
    for name, (slices, mask) in crops.items():
        try:
            regions.append(texture.discretize(array[slices], mask, name, settings))
        except Exception as error:  # NaN + warning, as a failure of pyradiomics' own discretization
            for class_name, feature_names in texture_classes.items():
                values[name].update({f"{image_type_name}_{class_name}_{feature}": float("nan")
                                     for feature in _class_feature_names(class_name, feature_names)})
            failures.append((name, "all classes", _describe_error(error)))
    for class_name, feature_names in texture_classes.items():
        unknown = [name for name in feature_names or [] if name not in _known_features(class_name)]
        if unknown:  # a profile error, not a property of this region: fail as pyradiomics would
            raise ExtractionError(f"The profile enables unknown {class_name} feature(s): {', '.join(unknown)}.")
        names = _class_feature_names(class_name, feature_names)
        computed, failed = texture.class_features(regions, class_name, names, settings, filtered.GetSpacing())
        for region in regions:
            if region.name in failed:
                computed[region.name] = {feature: float("nan") for feature in names}
                failures.append((region.name, class_name, _describe_error(failed[region.name])))
            values[region.name].update({f"{image_type_name}_{class_name}_{feature}": value
                                        for feature, value in computed[region.name].items()})
    return values, failures


def lbp3d_unavailable() -> str:
    """'' when pyradiomics can build LBP-3D images here, else why not (SciPy 1.17 removed
    ``scipy.special.sph_harm``; trimesh may be absent)."""
    import importlib.util

    import scipy.special

    if not hasattr(scipy.special, "sph_harm"):
        return f"SciPy {scipy.__version__} has no scipy.special.sph_harm"
    if importlib.util.find_spec("trimesh") is None:
        return "the trimesh package is not installed"
    return ""


def _failure_note(view: str, region: str, image_type_name: str, class_name: str, error: str,
                  values: Mapping[str, float]) -> Note:
    prefix = f"{image_type_name}_" if class_name == "all classes" else f"{image_type_name}_{class_name}_"
    count = sum(1 for name in values if name.startswith(prefix))
    return Note(view, region, f"{view}/{region}/{image_type_name}/{class_name}: pyradiomics failed ({error}); "
                f"these {count} features are NaN", failed=prefix)


#: extractor parameters (JSON) -> the extractor whose ``computeShape`` the shape task uses (it keeps no state)
_SHAPE_EXTRACTORS: dict[str, Any] = {}


def _shape_task(prepared: PreparedView, boxes: dict[str, np.ndarray], extractor_params: dict[str, Any],
                settings: dict[str, Any]) -> tuple[dict[str, dict[str, float]], list[Note]]:
    from radiomics import featureextractor

    quiet_radiomics()
    key = json.dumps(extractor_params, sort_keys=True, default=str)
    if key not in _SHAPE_EXTRACTORS:  # building one validates the parameters (pykwalify): 0.1 s
        _SHAPE_EXTRACTORS[key] = featureextractor.RadiomicsFeatureExtractor(extractor_params)
    extractor = _SHAPE_EXTRACTORS[key]
    results: dict[str, dict[str, float]] = {}
    notes: list[Note] = []
    fast = _fast_path(settings)
    for name, box in boxes.items():
        try:
            results[name] = {k: float(v) for k, v in _shape_features(extractor, prepared.image, prepared.regions[name],
                                                                     box, settings, fast).items()}
        except Exception as error:  # NaN + warning, never a crash
            results[name] = {}
            for class_name, feature_names in extractor.enabledFeatures.items():
                if class_name.startswith("shape") and _shape_class_applies(class_name, prepared.image, box,
                                                                           settings):
                    results[name].update({f"original_{class_name}_{feature}": float("nan")
                                          for feature in _class_feature_names(class_name, feature_names)})
                    notes.append(_failure_note(prepared.view, name, "original", class_name, _describe_error(error),
                                               results[name]))
    return results, notes


def _shape_features(extractor: Any, image: sitk.Image, mask: sitk.Image, box: np.ndarray,
                    settings: Mapping[str, Any], fast: bool) -> Mapping[str, Any]:
    """``extractor.computeShape``; for 3D shape alone on the fast path, the same steps with pyradiomics' shape class
    whose mesh coefficients are computed faster (``fast.shape``)."""
    if not fast or image.GetDimension() != 3 or set(extractor.enabledFeatures) & {"shape", "shape2D"} != {"shape"}:
        return extractor.computeShape(image, mask, box, **settings)
    from radiomics import imageoperations

    from AxillaryPredictorLib.extraction.fast import shape

    cropped_image, cropped_mask = imageoperations.cropToTumorMask(image, mask, box)
    feature_class = shape.shape_class()(cropped_image, cropped_mask, **settings)
    for feature in extractor.enabledFeatures["shape"] or []:
        feature_class.enableFeatureByName(feature)
    return {f"original_shape_{name}": value for name, value in feature_class.execute().items()}


def _shape_class_applies(class_name: str, image: sitk.Image, box: np.ndarray, settings: Mapping[str, Any]) -> bool:
    """Whether pyradiomics' ``computeShape`` yields this shape class for this image and box (as its source)."""
    if class_name == "shape":
        return image.GetDimension() == 3
    if image.GetDimension() == 2:
        return True
    if image.GetDimension() != 3 or not settings.get("force2D", False):
        return False
    box = np.asarray(box)
    return bool((box[1::2] - box[0::2] + 1)[settings.get("force2Ddimension", 0)] > 1)



def _numpy_box(image: sitk.Image, mask: sitk.Image, settings: Mapping[str, Any]) -> np.ndarray | None:
    """pyradiomics' ``checkMask`` bounding box (L_x, U_x, L_y, U_y, L_z, U_z) found by numpy, when every check of
    ``checkMask`` surely passes (same grid, label present, enough dimensions and voxels); else None (the caller
    runs ``checkMask``, which gives its error). Same box: the extent of the label's voxels along each axis."""
    label = settings.get("label", 1)
    same_grid = (image.GetSize() == mask.GetSize() and image.GetOrigin() == mask.GetOrigin()
                 and image.GetSpacing() == mask.GetSpacing() and image.GetDirection() == mask.GetDirection())
    if not same_grid or mask.GetPixelID() not in (sitk.sitkUInt8, sitk.sitkInt8, sitk.sitkUInt16, sitk.sitkInt16,
                                                  sitk.sitkUInt32, sitk.sitkInt32):
        return None
    inside = sitk.GetArrayViewFromImage(mask) == label
    box = []
    for axis in reversed(range(inside.ndim)):  # x first, as SimpleITK
        present = np.flatnonzero(inside.any(axis=tuple(a for a in range(inside.ndim) if a != axis)))
        if present.size == 0:
            return None
        box += [int(present[0]), int(present[-1])]
    box = np.array(box)
    ndims = np.sum((box[1::2] - box[0::2] + 1) > 1)
    min_size = settings.get("minimumROISize")
    if ndims == 0 or ndims < settings.get("minimumROIDimensions", 2) or (
            min_size is not None and int(inside.sum()) <= min_size):
        return None
    return box


def _check_regions(prepared: PreparedView, settings: dict[str, Any], fast: bool = False,
                   ) -> tuple[dict[str, np.ndarray], list[Note]]:
    """Bounding boxes of the regions pyradiomics accepts; warnings for the others (``fast``: by numpy where
    ``checkMask`` surely accepts the region, see ``_numpy_box``)."""
    from radiomics import imageoperations

    boxes, notes = {}, []
    for name, mask in prepared.regions.items():
        voxels = int(sitk.GetArrayViewFromImage(mask).sum())
        where = f"{prepared.view}/{name}"
        if voxels == 0:
            notes.append(Note(prepared.view, name, f"{where}: region is empty after resampling; its features are NaN"))
            continue
        box = _numpy_box(prepared.image, mask, settings) if fast else None
        if box is not None:
            boxes[name] = box
            continue
        try:
            box, _ = imageoperations.checkMask(prepared.image, mask, **settings)
        except (ValueError, AssertionError) as error:
            notes.append(Note(prepared.view, name, f"{where}: too small for pyradiomics ({voxels} voxel(s): {error}); "
                              "its features are NaN"))
            continue
        if box is None:
            notes.append(Note(prepared.view, name, f"{where}: pyradiomics rejected the region; its features are NaN"))
            continue
        boxes[name] = box
    return boxes, notes


def _extractor_params(profile: Profile) -> dict[str, Any]:
    from AxillaryPredictorLib.extraction.profiles import FORCED_SETTINGS

    params = {k: v for k, v in profile.params.items()}
    params["setting"] = {**(params.get("setting") or {}), **FORCED_SETTINGS}
    return params


def _run_shared(prepared_views: list[PreparedView], profile: Profile, workers: int,
                progress: Callable[[float, str], None] | None = None,
                ) -> tuple[dict[tuple[str, str], dict[str, float]], list[Note]]:
    tasks, warnings = _shared_tasks(prepared_views, profile)
    total = sum(_task_weight(task) for task in tasks) or 1
    done = 0

    def advance(task: tuple) -> None:  # progress by work done; the callback may raise to cancel
        nonlocal done
        done += _task_weight(task)
        if progress is not None:
            name = "shape" if task[1] is _shape_task else task[2][2]
            progress(done / total, f"{task[0]}: {name} features")

    if workers <= 1 or len(tasks) <= 1 or _little_work(prepared_views):
        outputs = []
        for task in tasks:
            outputs.append(task[1](*task[2]))
            advance(task)
    else:
        _prime_shape_tables(prepared_views, profile, tasks)
        outputs = _run_parallel(tasks, workers, advance)
    values: dict[tuple[str, str], dict[str, float]] = {}
    for (view, _, _), (output, notes) in zip(tasks, outputs, strict=True):
        for region, features in output.items():
            values.setdefault((view, region), {}).update(features)
        warnings += notes
    return values, warnings


def _prime_shape_tables(prepared_views: list[PreparedView], profile: Profile, tasks: list[tuple]) -> None:
    """The fast path's compiled kernels and per-spacing shape tables (0.3 s each), made before the workers fork:
    they inherit them."""
    if _fast_path(profile.settings) and any(task[1] is _shape_task for task in tasks):
        from AxillaryPredictorLib.extraction.fast import shape

        for prepared in prepared_views:
            shape.config_tables(tuple(float(s) for s in prepared.image.GetSpacing()[::-1]))


#: below this many shared-grid voxels (all views) the work takes less time than starting worker processes
PARALLEL_MIN_VOXELS = 300_000


def _little_work(prepared_views: list[PreparedView]) -> bool:
    """Whether the views are too small for worker processes to pay off (they run in this process then)."""
    return sum(int(np.prod(p.image.GetSize())) for p in prepared_views) < PARALLEL_MIN_VOXELS


def _shared_tasks(prepared_views: list[PreparedView], profile: Profile) -> tuple[list[tuple], list[Note]]:
    """The work of the shared engine: per view, one shape task and one task per image type (view,
    function, arguments), over the regions pyradiomics accepts; notes on the regions it rejects."""
    settings = profile.settings
    enabled = profile.parsed["featureClass"]
    params = _extractor_params(profile)
    warnings: list[Note] = []
    tasks = []
    for prepared in prepared_views:
        boxes, notes = _check_regions(prepared, settings, fast=True)
        warnings += notes
        if not boxes:
            continue
        if any(name.startswith("shape") for name in enabled):
            tasks.append((prepared.view, _shape_task, (prepared, boxes, params, settings)))
        for image_type, options in profile.image_types.items():
            for part in _split(image_type, options or {}, settings):
                tasks.append((prepared.view, _image_type_task, (prepared, boxes, image_type, part, settings, enabled)))
    return tasks, warnings


def _split(image_type: str, options: dict[str, Any], settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An image type's options as independent tasks: one per LoG sigma (each sigma is its own filter and
    derived image, so workers share them out), otherwise the options as they are."""
    sigmas = options.get("sigma", settings.get("sigma")) if image_type == "LoG" else None
    if not sigmas or len(sigmas) < 2:
        return [options]
    return [{**options, "sigma": [sigma]} for sigma in sigmas]


def _run_parallel(tasks: list[tuple], workers: int, advance: Callable[[tuple], None]) -> list[Any]:
    """Outputs of ``tasks`` (in their order) run in worker processes; all cancelled if one fails
    or ``advance`` raises."""
    # heaviest first: filters with several derived images (wavelet, LoG, LBP-3D) dominate
    order = sorted(range(len(tasks)), key=lambda i: -_task_weight(tasks[i]))
    forked = multiprocessing.get_start_method(allow_none=False) == "fork"
    token = object()  # this call's tasks (extractions may run in several threads)
    if forked:  # workers inherit the views: no copy of every view's image and masks per task through a pipe
        _INHERITED.update({(id(token), i): (tasks[i][1], tasks[i][2]) for i in order})
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context()) as pool:
            submit = (lambda i: pool.submit(_run_inherited, (id(token), i))) if forked else (
                lambda i: pool.submit(tasks[i][1], *tasks[i][2]))
            futures = {submit(i): i for i in order}
            results = {}
            try:
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    advance(tasks[futures[future]])
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
            return [results[i] for i in range(len(tasks))]
    finally:
        for i in order:
            _INHERITED.pop((id(token), i), None)


#: (call, task index) -> (function, arguments), set before the worker processes fork (they only read it)
_INHERITED: dict[tuple[int, int], tuple[Callable[..., Any], tuple]] = {}


def _run_inherited(key: tuple[int, int]) -> Any:
    function, arguments = _INHERITED[key]
    return function(*arguments)


def _task_weight(task: tuple) -> int:
    _, function, arguments = task
    if function is _shape_task:
        return 1
    image_type, options = arguments[2], arguments[3] or {}
    return {"Wavelet": 8, "LBP3D": 6, "LoG": len(options.get("sigma", [1]))}.get(image_type, 1)


def _run_reference(prepared_views: list[PreparedView], profile: Profile,
                   ) -> tuple[dict[tuple[str, str], dict[str, float]], list[Note]]:
    settings = profile.settings
    extractor = profile.extractor()
    scaled = {kind: options for kind, options in profile.image_types.items() if kind in MAX_SCALED}
    values: dict[tuple[str, str], dict[str, float]] = {}
    warnings: list[Note] = []
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
            try:
                result = dict(extractor.execute(prepared.image, prepared.regions[name]))
                if scaled and prepared.whole is not None:
                    mask = sitk.Resample(prepared.regions[name], prepared.whole, sitk.Transform(),
                                         sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
                    result.update(whole_extractor.execute(prepared.whole, mask))
            except Exception as error:  # pyradiomics' execute fails as a whole: NaN for the region
                warnings.append(Note(prepared.view, name, f"{prepared.view}/{name}: pyradiomics failed "
                                     f"({_describe_error(error)}); its features are NaN", failed=""))
                continue
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
    progress: Callable[[float, str], None] | None = None,
) -> ExtractionResult:
    """Features of every region of every view of one case.

    ``views``: view name -> (image, {region name: mask on the image grid}); region masks
    usually come from ``regions.build_regions``. ``prepared``: already preprocessed views
    (skips preprocessing; used by benchmarks and the padding check). ``progress(fraction,
    message)`` is called as each filter's features are done (shared engine); raising in it
    cancels the extraction.
    """
    if engine not in ENGINES:
        raise InputError(f"Unknown engine '{engine}'; choose one of {', '.join(ENGINES)}.")
    quiet_radiomics()
    profile = profile if isinstance(profile, Profile) else load_profile(profile)
    _check_view_names(views)
    if prepared is None:
        prepared = [prepare_view(image, dict(regions), profile, view=view) for view, (image, regions) in views.items()]
    workers = max(1, workers or os.cpu_count() or 1)
    if engine == "shared":
        values, warnings = _run_shared(prepared, profile, workers, progress)
    else:
        values, warnings = _run_reference(prepared, profile)
    # every region of every view gets the same feature names; missing ones are NaN
    names = list(dict.fromkeys(name for features in values.values() for name in features))
    if not names:
        raise ExtractionError("No region could be extracted: " + "; ".join(note.text for note in warnings))
    warnings += _nan_notes(values, warnings)
    warnings = [Note(p.view, None, text) for p in prepared for text in p.warnings] + _explain_undefined(prepared,
                                                                                                         warnings)
    row, diagnostics = _case_row(prepared, values, names, warnings, case_id)
    provenance = {"profile": profile.provenance(), "engine": engine, "kernels": _kernels(engine),
                  "versions": library_versions(),
                  "views": [describe(p) for p in prepared]}
    return ExtractionResult(case_id, row, diagnostics, [note.text for note in warnings], provenance)


def _kernels(engine: str) -> str:
    """What computed the texture matrices (provenance): numba kernels, or pyradiomics' C code and why."""
    if engine != "shared":
        return "pyradiomics C matrices (reference engine)"
    from AxillaryPredictorLib.extraction import fast

    return fast.backend()


def _check_view_names(views: Iterable[str]) -> None:
    for view in views:
        if not view or not all(c.isalnum() or c == "-" for c in view):
            raise InputError(f"View name '{view}' must use letters, digits and '-' only (e.g. CC, MLO, DCE3).")


def _case_row(prepared: list[PreparedView], values: Mapping[tuple[str, str], Mapping[str, float]], names: list[str],
              warnings: list[Note], case_id: str) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """The case's feature row (every feature of every region of every view; NaN when missing) and
    one diagnostics record per (view, region)."""
    row: dict[str, float] = {}
    diagnostics = []
    for view_prepared in prepared:
        for region, mask in view_prepared.regions.items():
            features = values.get((view_prepared.view, region))
            column = [(features or {}).get(name, float("nan")) for name in names]
            row.update(zip([column_name(region, view_prepared.view, name) for name in names], column, strict=True))
            diagnostics.append({"case_id": case_id, "view": view_prepared.view, "region": region,
                                "voxels": int(sitk.GetArrayViewFromImage(mask).sum()),
                                "extracted": features is not None,
                                "nan_features": int(np.isnan(np.array(column, dtype=float)).sum()),
                                "warnings": [note.text for note in warnings
                                             if (note.view, note.region) == (view_prepared.view, region)]})
    return row, diagnostics


def _explain_undefined(prepared: list[PreparedView], notes: list[Note]) -> list[Note]:
    """``notes`` with pyradiomics' failures on a view whose preprocessed image is NaN (a single-intensity
    image: its z-score normalization divides by 0; pyradiomics then fails with e.g. 'arange: cannot
    compute length' for every image type) replaced by one note per region that says why."""
    undefined = {p.view for p in prepared if not np.isfinite(sitk.GetArrayViewFromImage(p.image)).all()}
    if not undefined:
        return notes
    kept = [note for note in notes if note.view not in undefined or note.failed is None]
    regions = dict.fromkeys((note.view, note.region) for note in notes
                            if note.view in undefined and note.failed is not None)
    return kept + [Note(view, region, f"{view}/{region}: the image's intensities are undefined (NaN) after "
                        "preprocessing (a single-intensity image cannot be normalized), so its first-order and "
                        "texture features are NaN for every image type; shape features are kept")
                   for view, region in regions]


def _nan_notes(values: Mapping[tuple[str, str], Mapping[str, float]], notes: list[Note]) -> list[Note]:
    """One warning per (view, region, feature class) for the NaN values pyradiomics returned (it sets a
    feature it cannot compute to NaN and only logs the error), leaving out those of failed classes,
    which have their own warning."""
    failed = {(note.view, note.region): [] for note in notes if note.failed is not None}
    for note in notes:
        if note.failed is not None:
            failed[(note.view, note.region)].append(note.failed)
    found: list[Note] = []
    for (view, region), features in values.items():
        prefixes = tuple(failed.get((view, region), []))
        counts: dict[str, list[str]] = {}
        for name, value in features.items():
            if np.isnan(value) and not (prefixes and name.startswith(prefixes)):
                class_name = name.split("_")[1]
                counts.setdefault(class_name, []).append(name)
        for class_name, nan_names in counts.items():
            image_types = sorted({name.split("_")[0] for name in nan_names})
            shown = ", ".join(image_types[:3]) + (", ..." if len(image_types) > 3 else "")
            found.append(Note(view, region, f"{view}/{region}/{class_name}: pyradiomics returned NaN for "
                              f"{len(nan_names)} feature value(s) (image type(s) {shown}; e.g. {nan_names[0]})"))
    return found


def scaled_progress(progress: Callable[[float, str], None] | None, start: float, end: float,
                    ) -> Callable[[float, str], None] | None:
    """``progress`` mapped from [0, 1] onto [start, end] (for a step of a longer job)."""
    if progress is None:
        return None
    return lambda fraction, message: progress(start + (end - start) * fraction, message)
