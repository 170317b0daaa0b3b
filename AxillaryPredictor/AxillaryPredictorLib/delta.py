"""Delta radiomics: change of every feature between a baseline and an on-treatment scan.

Modes (``on`` = on-treatment value, ``base`` = baseline value of the same feature):

- ``relative`` (default, as in Zeng et al. 2025): (on − base) / base; undefined (NaN)
  when |base| ≤ ``zero_tolerance``;
- ``absolute``: on − base;
- ``log-ratio``: ln(on / base); undefined when on / base ≤ 0.

Shape features are deltas of the per-timepoint shape features. When the on-treatment
tumor is empty (complete radiological response) the features that measure size
(volume, surface, diameters, axis lengths) are taken as 0 at that timepoint — a relative
delta of −1 — and every other delta is undefined (NaN); the result says so.

Columns follow DESIGN.md: ``delta__<region>__<view>__<feature>`` and, when asked,
``baseline__…`` / ``ontreatment__…`` for the raw values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

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
        raise ValueError(f"Unknown delta mode '{mode}'; choose one of {', '.join(DELTA_MODES)}.")
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
        raise ValueError(f"Unknown delta mode '{mode}'; choose one of {', '.join(DELTA_MODES)}.")
    complete_response = ontreatment is None
    if not complete_response:
        missing = sorted(set(baseline) - set(ontreatment))
        if missing:
            raise ValueError(f"{len(missing)} baseline features are missing on-treatment (e.g. {missing[0]}); "
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
