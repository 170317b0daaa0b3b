"""Delta radiomics: change of every feature between a baseline and an on-treatment scan.

Modes (``on`` = on-treatment value, ``base`` = baseline value of the same feature):

- ``relative`` (default, as in Zeng et al. 2025): (on − base) / base; undefined (NaN)
  when |base| ≤ ``zero_tolerance``;
- ``absolute``: on − base;
- ``log-ratio``: ln(on / base); undefined when on / base ≤ 0.

Shape features are deltas of the per-timepoint shape features. When the on-treatment
tumor is empty (complete radiological response) the features that measure size
(volume, surface, diameters, axis lengths) are taken as 0 at that timepoint — a relative
delta of −1, an absolute delta of −baseline, and an undefined (NaN) log-ratio, since ln 0 does
not exist — and every other delta is undefined (NaN); the result says so.

Columns (docs/architecture.md): ``delta__<region>__<view>__<feature>`` and, when asked,
``baseline__…`` / ``ontreatment__…`` for the raw values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from AxillaryPredictorLib.errors import InputError

DELTA_MODES = ("relative", "absolute", "log-ratio")
TIMEPOINTS = ("baseline", "ontreatment")

#: pyradiomics shape / shape2D features that measure size; they are 0 when the tumor is gone.
SIZE_SHAPE_FEATURES = frozenset({
    "MeshVolume", "VoxelVolume", "SurfaceArea", "Maximum3DDiameter", "Maximum2DDiameterSlice",
    "Maximum2DDiameterColumn", "Maximum2DDiameterRow", "MajorAxisLength", "MinorAxisLength",
    "LeastAxisLength", "MeshSurface", "PixelSurface", "Perimeter", "MaximumDiameter",
})


def is_size_feature(column: str) -> bool:
    """True for ``…shape_<size feature>`` / ``…shape2D_<size feature>`` columns."""
    name = column.rsplit("__", 1)[-1]
    parts = name.split("_")
    return len(parts) >= 3 and parts[-2] in ("shape", "shape2D") and parts[-1] in SIZE_SHAPE_FEATURES


@dataclass(frozen=True)
class DeltaResult:
    """Delta features of one case and what could not be computed."""

    values: dict[str, float]
    undefined: list[str] = field(default_factory=list)  # feature columns whose delta is NaN
    complete_response: bool = False
    mode: str = "relative"
    notes: list[str] = field(default_factory=list)


def delta_value(base: float, on: float, mode: str = "relative", zero_tolerance: float = 1e-12) -> float:
    """Delta of one feature; NaN where the mode is undefined (see module docstring)."""
    if mode not in DELTA_MODES:
        raise InputError(f"Unknown delta mode '{mode}'; choose one of {', '.join(DELTA_MODES)}.")
    if not (math.isfinite(base) and math.isfinite(on)):
        return math.nan
    if mode == "absolute":
        return on - base
    if mode == "relative":
        return math.nan if abs(base) <= zero_tolerance else (on - base) / base
    if abs(base) <= zero_tolerance or on / base <= 0:
        return math.nan
    return math.log(on / base)


def compute_delta(
    baseline: Mapping[str, float],
    ontreatment: Mapping[str, float] | None,
    *,
    mode: str = "relative",
    zero_tolerance: float = 1e-12,
) -> DeltaResult:
    """Delta of every feature column present at baseline.

    ``baseline`` and ``ontreatment`` map feature columns (``<region>__<view>__<feature>``)
    to values; ``ontreatment=None`` means the on-treatment tumor is empty (complete
    response). Returns ``delta__``-prefixed columns.
    """
    if mode not in DELTA_MODES:
        raise InputError(f"Unknown delta mode '{mode}'; choose one of {', '.join(DELTA_MODES)}.")
    complete_response = ontreatment is None
    if not complete_response:
        missing = sorted(set(baseline) - set(ontreatment))
        if missing:
            raise InputError(f"{len(missing)} baseline features are missing on-treatment (e.g. {missing[0]}); "
                             "extract both timepoints with the same profile and regions.")
    values: dict[str, float] = {}
    undefined: list[str] = []
    for column, base in baseline.items():
        base = float(base)
        if complete_response:
            value = delta_value(base, 0.0, mode, zero_tolerance) if is_size_feature(column) else math.nan
        else:
            value = delta_value(base, float(ontreatment[column]), mode, zero_tolerance)
        values[f"delta__{column}"] = value
        if math.isnan(value):
            undefined.append(column)
    notes = []
    if complete_response:
        notes.append("On-treatment tumor is empty (complete radiological response): size shape features are "
                     "taken as 0 on-treatment; all other deltas are undefined (NaN).")
    if undefined and not complete_response:
        notes.append(f"{len(undefined)} of {len(values)} delta features are undefined "
                     f"({'zero baseline' if mode == 'relative' else 'non-positive ratio or missing value'}).")
    return DeltaResult(values=values, undefined=undefined, complete_response=complete_response, mode=mode,
                       notes=notes)


def inverse_relative(delta: float) -> float:
    """Relative delta with the timepoints swapped: (b − o)/o = −d / (1 + d)."""
    return math.nan if not np.isfinite(delta) or delta == -1 else -delta / (1.0 + delta)


# --------------------------------------------------------------------- paired extraction


@dataclass
class DeltaExtraction:
    """Delta features of one paired case, with the raw features of both timepoints."""

    case_id: str
    delta: DeltaResult
    baseline: dict[str, float]
    ontreatment: dict[str, float] | None
    warnings: list[str] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)

    def row(self, include_raw: bool = False) -> dict[str, float]:
        """``delta__…`` columns (+ ``baseline__…``/``ontreatment__…`` when asked) and the flag."""
        row = dict(self.delta.values)
        if include_raw:
            row.update({f"baseline__{k}": v for k, v in self.baseline.items()})
            on = self.ontreatment or {}
            row.update({f"ontreatment__{k}": on.get(k, math.nan) for k in self.baseline})
        row["complete_response"] = float(self.delta.complete_response)
        return row


DICOM_METADATA = {"case_id": "0010|0020", "laterality": ("0020|0062", "0020|0060"), "modality": "0008|0060"}


def scan_metadata(path: str | Path) -> dict[str, str]:
    """Patient ID (as ``case_id``), laterality (ImageLaterality, else Laterality) and modality
    of a DICOM file or series folder, for ``check_pair``; empty for other file formats."""
    import SimpleITK as sitk

    path = Path(path)
    files = sorted(f for f in path.iterdir() if f.is_file()) if path.is_dir() else [path]
    for file in files:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(file))
        try:
            reader.ReadImageInformation()
        except RuntimeError:
            continue
        if reader.GetImageIO() != "GDCMImageIO":
            return {}
        found = {}
        for key, tags in DICOM_METADATA.items():
            for tag in (tags,) if isinstance(tags, str) else tags:
                if reader.HasMetaDataKey(tag) and reader.GetMetaData(tag).strip():
                    found[key] = reader.GetMetaData(tag).strip()
                    break
        return found
    return {}


def check_pair(baseline_meta: Mapping[str, object] | None, ontreatment_meta: Mapping[str, object] | None,
               baseline_image, ontreatment_image, spacing_ratio_warning: float = 1.5) -> list[str]:
    """Errors for mismatched case ID / laterality / modality; warnings for spacing changes."""
    baseline_meta, ontreatment_meta = dict(baseline_meta or {}), dict(ontreatment_meta or {})
    for key in ("case_id", "laterality", "modality"):
        a, b = baseline_meta.get(key), ontreatment_meta.get(key)
        if a is not None and b is not None and str(a) != str(b):
            raise InputError(f"Baseline and on-treatment scans differ in {key} ('{a}' vs '{b}'): they must be the "
                             "same patient, breast and modality.")
    warnings = []
    ratio = np.array(baseline_image.GetSpacing()) / np.array(ontreatment_image.GetSpacing())
    if np.any(ratio > spacing_ratio_warning) or np.any(ratio < 1 / spacing_ratio_warning):
        warnings.append(f"Voxel spacing differs strongly between timepoints ({baseline_image.GetSpacing()} vs "
                        f"{ontreatment_image.GetSpacing()} mm); features are compared after resampling.")
    return warnings
