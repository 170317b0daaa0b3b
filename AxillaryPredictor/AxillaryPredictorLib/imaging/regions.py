"""Tumor and peritumoral regions grown with exact millimetre margins.

Rule (identical to Slicer's Margin effect, ``vtkITKImageMargin``): a voxel belongs to
``tumor_marginNmm`` when its squared signed Maurer distance to the tumor, computed on the
voxel grid's real spacing, is <= N² mm² (float32 distances, as ITK computes them). The
distance is measured between voxel centres, so rings come out slightly narrower than
the continuous ideal (see docs/regions.md for figures).

Region names (docs/regions.md): ``tumor``; per margin N, ``tumor_marginNmm`` (tumor + ring) and
``marginNmm`` (ring only); ``node`` for a lymph node ROI passed through unchanged. A
margin of 2.5 mm is named ``2p5mm`` (no dots: R and spreadsheets mangle them).

The distance map is computed once, on the tumor's bounding box grown by the largest
margin (every voxel farther away lies outside every region), so building all regions
costs a fraction of one distance map of the whole image. Along axes whose spacing ITK's
float32 coordinates would round differently in a shifted box, the box starts at index 0, so
ties at the margin fall exactly as on the whole image. Margins that leave the image
are clipped and reported. Single-slice (2D) images grow in-plane only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import SimpleITK as sitk

from AxillaryPredictorLib.errors import InputError, RegionError

MIN_MARGIN_MM = 0.5
MAX_MARGIN_MM = 30.0
DEFAULT_MARGINS_MM = (3.0, 5.0, 10.0)


def margin_label(margin_mm: float) -> str:
    """``3`` -> ``3mm``, ``2.5`` -> ``2p5mm`` (region-name part for a margin)."""
    value = float(margin_mm)
    text = f"{value:g}" if value != int(value) else str(int(value))
    return text.replace(".", "p") + "mm"


def region_names(margins_mm: Iterable[float] = DEFAULT_MARGINS_MM, *, node: bool = False) -> list[str]:
    """Region names in output order: tumor, then tumor_marginN / marginN per margin, then node."""
    names = ["tumor"]
    for margin in margins_mm:
        names += [f"tumor_margin{margin_label(margin)}", f"margin{margin_label(margin)}"]
    return names + (["node"] if node else [])


def parse_margins(text: str | Sequence[float]) -> tuple[float, ...]:
    """``"3,5,10"`` -> (3.0, 5.0, 10.0); clear error for anything else."""
    if isinstance(text, str):
        parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
        try:
            values = tuple(float(p) for p in parts)
        except ValueError:
            raise RegionError(f"Margins must be numbers in mm separated by commas, e.g. 3,5,10 (got '{text}').") \
                from None
    else:
        values = tuple(float(v) for v in text)
    return values


@dataclass(frozen=True)
class RegionReport:
    """Size and losses of one region. ``volume_mm3`` is an area in mm² for 2D images."""

    name: str
    voxels: int
    volume_mm3: float
    clipped_fraction: float = 0.0  # share of the ring removed by the allowed (tissue) mask
    border_fraction: float = 0.0  # share of the ring that fell outside the image
    warnings: tuple[str, ...] = ()


@dataclass
class RegionSet:
    """Regions (UInt8 0/1 images on the tumor mask's grid) with their reports and settings."""

    images: dict[str, sitk.Image]
    reports: dict[str, RegionReport]
    settings: dict[str, Any]
    components: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line per region: voxels, volume and losses (for status messages)."""
        unit = "mm²" if self.settings.get("in_plane_only") else "mm³"
        lines = []
        for report in self.reports.values():
            losses = ""
            if report.clipped_fraction or report.border_fraction:
                losses = f" (clipped {report.clipped_fraction:.0%}, outside image {report.border_fraction:.0%})"
            lines.append(f"{report.name}: {report.voxels} voxels, {report.volume_mm3:.0f} {unit}{losses}")
        return "\n".join(lines + self.warnings)

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (regions.json)."""
        return {"settings": self.settings, "components": self.components, "warnings": self.warnings,
                "regions": {name: asdict(report) for name, report in self.reports.items()}}


# ----------------------------------------------------------------------- validation


def describe_grid_difference(a: sitk.Image, b: sitk.Image, tolerance: float = 1e-4) -> str | None:
    """None when the two grids agree, else a sentence naming what differs."""
    if a.GetSize() != b.GetSize():
        return f"size {a.GetSize()} vs {b.GetSize()}"
    for name, x, y in (("spacing", a.GetSpacing(), b.GetSpacing()), ("origin", a.GetOrigin(), b.GetOrigin()),
                       ("direction", a.GetDirection(), b.GetDirection())):
        if any(abs(u - v) > tolerance for u, v in zip(x, y, strict=True)):
            return f"{name} {tuple(round(v, 4) for v in x)} vs {tuple(round(v, 4) for v in y)}"
    return None


def check_tolerance(tolerance: float | None) -> float | None:
    """``tolerance`` (mm) as a float when it is None or a finite number >= 0; an InputError
    otherwise (NaN would silently turn every grid comparison off)."""
    if tolerance is None:
        return None
    try:
        value = float(tolerance)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise InputError(f"The grid tolerance must be a finite distance in mm, 0 or more (got {tolerance!r}); "
                         "e.g. --tolerance 1, or leave it out to refuse masks on another grid.")
    return value


def match_grid(mask: sitk.Image, reference: sitk.Image, role: str, tolerance: float | None = None,
               against: str = "tumor mask") -> sitk.Image:
    """``mask`` on ``reference``'s grid: unchanged when the grids agree; resampled with
    nearest neighbour when they differ and ``tolerance`` (mm) allows it (as pyradiomics'
    ``correctMask``); otherwise an InputError naming the difference."""
    tolerance = check_tolerance(tolerance)
    if mask.GetDimension() != reference.GetDimension():
        raise InputError(f"The {role} is {mask.GetDimension()}D (size {mask.GetSize()}) but the {against} is "
                         f"{reference.GetDimension()}D (size {reference.GetSize()}); resampling (--tolerance) cannot "
                         "change the dimension. Use a mask drawn on this image, saved with the same dimension "
                         "(for a single-slice image: a 2D mask, or both as one-slice 3D volumes).")
    difference = describe_grid_difference(mask, reference)
    if difference is None:
        return mask
    if tolerance is None:
        raise InputError(f"The {role} and the {against} are on different grids ({difference}). Use a mask drawn on "
                         "this image, or allow resampling the mask with nearest neighbour (tolerance in mm; "
                         "CLI: --tolerance MM).")
    bounds_reference = _physical_bounds(reference)
    bounds_mask = _physical_bounds(mask)
    if np.any(np.abs(bounds_reference - bounds_mask) > tolerance + max(reference.GetSpacing())):
        raise InputError(f"The {role} does not cover the same physical region as the {against} ({difference}); "
                         f"the difference exceeds the tolerance of {tolerance:g} mm.")
    return sitk.Resample(mask, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, mask.GetPixelID())


def _physical_bounds(image: sitk.Image) -> np.ndarray:
    size = np.array(image.GetSize()) - 1
    corners = [image.TransformContinuousIndexToPhysicalPoint([float(c) for c in corner])
               for corner in ([0] * image.GetDimension(), size.tolist())]
    return np.array(corners)


def binary_mask(mask: sitk.Image, label: int | None = None, role: str = "tumor mask") -> np.ndarray:
    """Boolean array of ``mask`` == label (or != 0 for a binary mask); clear errors otherwise."""
    array = sitk.GetArrayViewFromImage(mask)
    values = _label_values(array)
    if label is not None:
        if label not in values:
            raise InputError(f"Label {label} is not in the {role}; labels present: "
                             f"{', '.join(str(int(v)) for v in values if v != 0) or 'none'}.")
        return np.asarray(array == label)
    foreground = [v for v in values if v != 0]
    if len(foreground) > 1:
        raise InputError(f"The {role} has several labels ({', '.join(str(int(v)) for v in foreground)}); choose the "
                         "tumor with label=N (CLI: --label N).")
    return np.asarray(array != 0)


def _label_values(array: np.ndarray) -> np.ndarray:
    """Distinct values of a label image (bincount for small unsigned types: no sort)."""
    if array.dtype in (np.uint8, np.uint16) and array.size:
        return np.nonzero(np.bincount(array.ravel()))[0]
    return np.unique(array)


def margin_feasibility(margins: str | Sequence[float], spacing: Sequence[float], size: Sequence[int]) -> str:
    """Why these margins cannot be grown on a grid of this spacing (mm) and size, or '' when they
    can (the check Slicer's Margin effect makes, run before any work)."""
    planar = len(size) == 2 or size[2] == 1
    try:
        _check_margins(parse_margins(margins), spacing, planar)
    except ValueError as error:
        return str(error)
    return ""


def _check_margins(margins: Sequence[float], spacing: Sequence[float], planar: bool) -> tuple[float, ...]:
    margins = tuple(float(m) for m in margins)
    if not margins:
        raise RegionError("Give at least one margin in mm.")
    for margin in margins:
        if not MIN_MARGIN_MM <= margin <= MAX_MARGIN_MM:
            raise RegionError(f"Margin {margin:g} mm is outside the supported range "
                              f"{MIN_MARGIN_MM}-{MAX_MARGIN_MM:g} mm.")
        in_plane = spacing[:2] if planar else spacing
        if all(margin < s for s in in_plane):
            raise RegionError(f"A {margin:g} mm margin is not feasible at the current resolution: it is smaller than "
                              f"one voxel along every axis (spacing {tuple(round(s, 3) for s in in_plane)} mm).")
    if len(set(margins)) != len(margins):
        raise RegionError("Margins must be distinct.")
    return tuple(sorted(margins))


# ----------------------------------------------------------------------- components


def _select_components(tumor: np.ndarray, mode: str, voxel_volume: float) -> tuple[np.ndarray, dict[str, Any]]:
    if mode not in ("largest", "all"):
        raise RegionError("components must be 'largest' or 'all'.")
    labelled = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(tumor.astype(np.uint8)),
                                                              True))
    sizes = np.bincount(labelled.ravel())[1:]
    order = np.argsort(-sizes, kind="stable")
    info: dict[str, Any] = {"mode": mode, "count": len(sizes),
                            "sizes_mm3": [float(sizes[i] * voxel_volume) for i in order]}
    if mode == "all" or len(sizes) <= 1:
        info["discarded_mm3"] = []
        return tumor, info
    keep = int(order[0]) + 1
    info["discarded_mm3"] = [float(sizes[i] * voxel_volume) for i in order[1:]]
    return labelled == keep, info


# --------------------------------------------------------------------------- regions


def build_region_set(
    tumor_mask: sitk.Image,
    margins_mm: Sequence[float] | str = DEFAULT_MARGINS_MM,
    *,
    allowed_mask: sitk.Image | None = None,
    components: str = "largest",
    node_mask: sitk.Image | None = None,
    label: int | None = None,
    tolerance: float | None = None,
) -> RegionSet:
    """Build every region and its report. Inputs are never modified.

    ``tumor_mask``: binary (or labelled, choose with ``label``) image; ``allowed_mask``:
    where margins may go (e.g. breast tissue), on the same grid; ``node_mask``: a lymph
    node ROI passed through as region ``node``; ``tolerance`` (mm): allow resampling the
    other masks onto the tumor grid with nearest neighbour.
    """
    margins_in = parse_margins(margins_mm) if isinstance(margins_mm, str) else margins_mm
    tolerance = check_tolerance(tolerance)
    if tumor_mask.GetDimension() not in (2, 3):
        raise InputError(f"The tumor mask must be 2D or 3D, not {tumor_mask.GetDimension()}D.")
    spacing = tumor_mask.GetSpacing()
    planar = tumor_mask.GetDimension() == 2 or tumor_mask.GetSize()[2] == 1
    margins = _check_margins(margins_in, spacing, planar)
    tumor = binary_mask(tumor_mask, label)
    if not tumor.any():
        raise RegionError("The tumor mask is empty: segment the tumor first (Segment Editor), or check the label.")
    voxel_volume = float(np.prod(spacing[:2] if planar else spacing))
    crop, pad_low, pad_high = _roi(tumor, margins, tumor_mask, planar)
    tumor_roi, component_info = _select_components(tumor[crop], components, voxel_volume)
    warnings: list[str] = []
    if component_info["discarded_mm3"]:
        warnings.append(f"{len(component_info['discarded_mm3'])} smaller lesion component(s) discarded "
                        f"({', '.join(f'{v:.0f}' for v in component_info['discarded_mm3'])} mm³); "
                        "use components='all' to keep them.")
    allowed_roi = None
    if allowed_mask is not None:
        allowed_roi = binary_mask(match_grid(allowed_mask, tumor_mask, "allowed (tissue) mask", tolerance),
                                  role="allowed mask")[crop]

    within, outside = _margin_masks(tumor_roi, margins, tumor_mask, pad_low, pad_high)
    images: dict[str, sitk.Image] = {}
    reports: dict[str, RegionReport] = {}
    origin_index = [int(c.start) for c in crop][::-1]

    def add(name: str, array: np.ndarray, clipped: float = 0.0, border: float = 0.0,
            notes: tuple[str, ...] = ()) -> None:
        images[name] = _full_image(array, tumor_mask, origin_index)
        count = int(np.count_nonzero(array))
        reports[name] = RegionReport(name, count, count * voxel_volume, clipped, border, notes)

    add("tumor", tumor_roi)
    for margin in margins:
        label_text = margin_label(margin)
        ring, clipped, border, notes = _ring(margin, within[margin] & ~tumor_roi, outside[margin], allowed_roi)
        warnings.extend(notes)
        add(f"tumor_margin{label_text}", tumor_roi | ring, clipped, border, notes)
        add(f"margin{label_text}", ring, clipped, border, notes)
    if node_mask is not None:
        node = binary_mask(match_grid(node_mask, tumor_mask, "node mask", tolerance), role="node mask")
        if not node.any():
            raise RegionError("The lymph node mask is empty.")
        images["node"] = _full_image(node, tumor_mask, [0] * tumor_mask.GetDimension())
        count = int(np.count_nonzero(node))
        reports["node"] = RegionReport("node", count, count * voxel_volume)
    settings = {"margins_mm": list(margins), "components": components, "label": label,
                "allowed_mask": allowed_mask is not None, "node": node_mask is not None,
                "in_plane_only": planar, "spacing_mm": list(spacing), "rule": "vtkITKImageMargin (signed Maurer, "
                "squared distance <= margin², voxel centres)"}
    return RegionSet(images, reports, settings, component_info, warnings)


def _ring(margin: float, ring: np.ndarray, outside: int, allowed: np.ndarray | None,
          ) -> tuple[np.ndarray, float, float, tuple[str, ...]]:
    """A margin ring clipped to the allowed tissue: (ring, fraction clipped by the tissue mask,
    fraction lost at the image border, notes). ``outside``: ring voxels beyond the image."""
    ring_count = int(np.count_nonzero(ring))
    ring_total = ring_count + outside
    border = outside / ring_total if ring_total else 0.0
    notes: list[str] = []
    if outside:
        notes.append(f"The {margin:g} mm margin leaves the image: {border:.1%} of the ring was clipped at the "
                     "image border.")
    clipped = 0.0
    if allowed is not None:
        kept = ring & allowed
        clipped = 1.0 - np.count_nonzero(kept) / ring_count if ring_count else 0.0
        ring = kept
    if not ring.any():
        notes.append(f"The {margin:g} mm ring is empty after clipping.")
    return ring, clipped, border, tuple(notes)


def build_regions(tumor_mask: sitk.Image, margins_mm: Sequence[float] | str = DEFAULT_MARGINS_MM,
                  **options: Any) -> dict[str, sitk.Image]:
    """``tumor``, ``tumor_marginNmm`` and ``marginNmm`` (and ``node``) as UInt8 0/1 images on the tumor
    mask's grid; ``options`` as :func:`build_region_set` (allowed_mask, components, node_mask, label,
    tolerance), which also gives the report."""
    return build_region_set(tumor_mask, margins_mm, **options).images


def _roi(tumor: np.ndarray, margins: tuple[float, ...], grid: sitk.Image,
         planar: bool) -> tuple[tuple[slice, ...], np.ndarray, np.ndarray]:
    """The tumor's bounding box grown by the largest margin (+1 voxel), clipped to the
    image, and how far it would reach beyond the image on each side (voxels, numpy order).

    Along an axis whose voxel coordinates ITK would round differently once shifted (most
    non-dyadic spacings, e.g. 0.7 mm), the box starts at index 0: the distance map then
    rounds exactly as on the whole image, so ties at the margin fall the same way as in
    ``vtkITKImageMargin``."""
    spacing_zyx = np.array(grid.GetSpacing()[::-1], dtype=float)
    reach = np.ceil(max(margins) / spacing_zyx).astype(int) + 1
    if planar and tumor.ndim == 3:
        reach[0] = 0
    nonzero = [np.nonzero(tumor.any(axis=tuple(a for a in range(tumor.ndim) if a != axis)))[0]
               for axis in range(tumor.ndim)]
    low = np.array([axis.min() for axis in nonzero]) - reach
    high = np.array([axis.max() for axis in nonzero]) + reach + 1
    shape = np.array(tumor.shape)
    start = [int(a) if _shift_invariant(int(a), int(b), s) else 0
             for a, b, s in zip(np.maximum(low, 0), np.minimum(high, shape), spacing_zyx, strict=True)]
    crop = tuple(slice(a, int(b)) for a, b in zip(start, np.minimum(high, shape), strict=True))
    return crop, np.maximum(-low, 0), np.maximum(high - shape, 0)


def _shift_invariant(start: int, stop: int, spacing: float) -> bool:
    """True when ITK's float32 voxel coordinates i·spacing (both forms its Maurer passes use)
    for i in [start, stop) equal those of i - start plus one constant, exactly: the distance
    map of a box starting at ``start`` then rounds exactly as the whole image's."""
    if start == 0:
        return True
    index = np.arange(start, stop)

    def coordinates(i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        product32 = (i.astype(np.float32) * np.float32(spacing)).astype(np.float64)
        product64 = (i * spacing).astype(np.float32).astype(np.float64)
        return product32, product64

    whole, shifted = coordinates(index), coordinates(index - start)
    offset = whole[0][0] - shifted[0][0]
    return all(np.array_equal(w - s, np.full(len(index), offset)) for w, s in zip(whole, shifted, strict=True))


def _squared_distance(tumor: np.ndarray, spacing: Sequence[float]) -> sitk.Image:
    """Signed squared Maurer distance (mm², float32, inside negative) as vtkITKImageMargin computes it."""
    image = sitk.GetImageFromArray(tumor.astype(np.uint8))
    image.SetSpacing(spacing)
    return sitk.SignedMaurerDistanceMap(image, insideIsPositive=False, squaredDistance=True, useImageSpacing=True,
                                        backgroundValue=0)


def _margin_threshold(margin: float) -> np.float32:
    """float32 (m + eps)·|m + eps|, exactly the threshold vtkITKImageMargin applies."""
    return np.float32((margin + np.finfo(float).eps) * abs(margin + np.finfo(float).eps))


def _margin_masks(tumor_roi: np.ndarray, margins: tuple[float, ...], grid: sitk.Image, pad_low: np.ndarray,
                  pad_high: np.ndarray) -> tuple[dict[float, np.ndarray], dict[float, int]]:
    """Per margin: the ROI voxels within it, and how many voxels of the grown region
    would lie beyond the image border.

    The regions come from the distance map of the ROI itself (aligned as :func:`_roi`
    explains); only when a margin may leave the image is a second map computed on the ROI
    padded beyond the border, to count the voxels lost there."""
    distance_image = _squared_distance(tumor_roi, grid.GetSpacing())
    distance = sitk.GetArrayViewFromImage(distance_image)  # the view lives as long as distance_image
    within = {margin: distance <= _margin_threshold(margin) for margin in margins}
    outside = dict.fromkeys(margins, 0)
    if pad_low.any() or pad_high.any():
        padded = np.pad(tumor_roi, list(zip(pad_low, pad_high, strict=True)))
        padded_image = _squared_distance(padded, grid.GetSpacing())
        padded_distance = sitk.GetArrayViewFromImage(padded_image)
        inner = tuple(slice(int(p), int(n - q)) for p, n, q in zip(pad_low, padded.shape, pad_high, strict=True))
        for margin in margins:
            grown = padded_distance <= _margin_threshold(margin)
            outside[margin] = int(np.count_nonzero(grown)) - int(np.count_nonzero(grown[inner]))
    return within, outside


def _full_image(roi: np.ndarray, grid: sitk.Image, index: list[int]) -> sitk.Image:
    """A UInt8 image on ``grid`` that is 0 except ``roi`` pasted at ``index`` (i, j, k)."""
    full = sitk.Image(grid.GetSize(), sitk.sitkUInt8)
    full.CopyInformation(grid)
    if roi.shape == tuple(grid.GetSize()[::-1]):
        image = sitk.GetImageFromArray(roi.astype(np.uint8))
        image.CopyInformation(grid)
        return image
    piece = sitk.GetImageFromArray(roi.astype(np.uint8))
    return sitk.Paste(full, piece, piece.GetSize(), [0] * grid.GetDimension(), index)


def tissue_mask(image: sitk.Image, exclude_below: float | None = None,
                exclude_masks: Sequence[sitk.Image] = ()) -> sitk.Image:
    """Where peritumoral margins may go: voxels not darker than ``exclude_below`` (air)
    and outside every mask in ``exclude_masks`` (e.g. chest wall, skin segments)."""
    allowed = np.ones(sitk.GetArrayViewFromImage(image).shape, bool)
    if exclude_below is not None:
        if not math.isfinite(exclude_below):
            raise RegionError("exclude_below must be a finite intensity.")
        allowed &= sitk.GetArrayViewFromImage(image) >= exclude_below
    for index, mask in enumerate(exclude_masks):
        allowed &= ~binary_mask(match_grid(mask, image, f"excluded mask {index + 1}"), role="excluded mask")
    result = sitk.GetImageFromArray(allowed.astype(np.uint8))
    result.CopyInformation(image)
    return result
