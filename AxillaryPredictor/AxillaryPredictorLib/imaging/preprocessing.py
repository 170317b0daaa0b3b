"""Preprocessing before feature extraction, once per view, onto one shared grid.

Order (the same as pyradiomics' own ``loadImage``): N4 bias-field correction (optional,
SimpleITK, on a shrunk copy for speed) -> intensity normalization over the whole image
(pyradiomics' ``normalizeImage``) -> resampling to the profile's spacing (B-spline for the
image, nearest neighbour for masks) onto ONE shared grid per view: the bounding box of
all regions plus a padding chosen from the filters' support, so every region's features
come from the same voxels and every filter is computed once.

Padding rule (in mm, then rounded up to whole voxels of the shared grid): 1 voxel for the
gradient; 4 voxels (coif1 at level 1 plus pywt's wrap padding) per wavelet level; 6·σ for
LoG (at 4·σ, 0.5% of LoG features still moved by more than 1e-3 after discretization); 8
voxels for LBP-3D (cubic spline prefilter, decay 0.268 per voxel). The largest applies.
The shared grid is snapped to the lattice anchored at the image origin, so it is exactly a
crop of the whole image resampled to the same spacing.

Input checks: NaN/infinite voxels and float64 values beyond the float32 range are refused;
a single-intensity image, outlier voxels (``intensity_warnings``), N4 on an image whose tissue
is <= 0 (``n4_warning``) and a colour image under a non-ultrasound profile are warnings
(``PreparedView.warnings``), which the extraction reports (docs/extraction.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import SimpleITK as sitk

from AxillaryPredictorLib.errors import InputError, RegionError
from AxillaryPredictorLib.imaging.regions import describe_grid_difference

if TYPE_CHECKING:  # a profile is read by attribute only: imaging does not depend on extraction
    from AxillaryPredictorLib.extraction.profiles import Profile


@dataclass
class PreparedView:
    """A view ready for extraction: image and region masks on the shared grid."""

    view: str
    image: sitk.Image
    regions: dict[str, sitk.Image]
    padding_voxels: tuple[int, ...]
    notes: list[str] = field(default_factory=list)
    #: the whole image resampled on the same lattice, for the filters that scale by the image's
    #: maximum (``MAX_SCALED``); None when the profile has none of them
    whole: sitk.Image | None = None
    #: warnings about the input image (constant, outliers, N4 ineffective, colour): the extraction's
    warnings: list[str] = field(default_factory=list)


#: pyradiomics' pointwise filters that rescale by max|I| of the image they are given: computed
#: on the whole (resampled) image, so a region's values do not depend on the crop or on which
#: other regions share the grid.
MAX_SCALED = ("Square", "SquareRoot", "Logarithm", "Exponential")


def padding_mm(profile: Profile, spacing: float) -> float:
    """Padding the enabled filters need around the regions, in mm (see module docstring)."""
    pads = [1.0 * spacing]
    for image_type, options in profile.image_types.items():
        if image_type == "Wavelet":
            levels = int((options or {}).get("level", profile.settings.get("level", 1)))
            pads.append(4.0 * (2 ** (levels - 1)) * spacing)
        elif image_type == "LoG":
            sigmas = (options or {}).get("sigma", profile.settings.get("sigma", [])) or [0.0]
            pads.append(6.0 * max(float(s) for s in sigmas))
        elif image_type == "LBP3D":
            pads.append(8.0 * spacing)
    return max(pads)


def _n4_inputs(image: sitk.Image, shrink_factor: int) -> tuple[sitk.Image, sitk.Image]:
    """The shrunk float32 copy N4 is estimated on and its Otsu foreground mask (1 = tissue)."""
    shrink = [shrink_factor if size >= 4 * shrink_factor else 1 for size in image.GetSize()]
    small = sitk.Shrink(sitk.Cast(image, sitk.sitkFloat32), shrink)
    return small, sitk.OtsuThreshold(small, 0, 1, 200)


def n4_correct(image: sitk.Image, shrink_factor: int = 4) -> sitk.Image:
    """N4 bias-field correction estimated on a shrunk copy, applied at full resolution."""
    image = sitk.Cast(image, sitk.sitkFloat32)
    small, mask = _n4_inputs(image, shrink_factor)
    corrector = sitk.N4BiasFieldCorrectionImageFilter()
    corrector.SetMaximumNumberOfIterations([20, 20, 20])
    corrector.Execute(small, mask)
    log_bias = corrector.GetLogBiasFieldAsImage(image)
    return sitk.Cast(image / sitk.Exp(log_bias), sitk.sitkFloat32)


#: share of the N4 foreground at or below 0 above which N4 is reported as (nearly) ineffective
N4_NONPOSITIVE_SHARE = 0.05


def n4_warning(image: sitk.Image, shrink_factor: int = 4, view: str = "view") -> str | None:
    """Why N4 cannot correct this image, or None. N4 models a multiplicative bias field on the
    logarithm of the intensities: an image whose tissue (N4's Otsu foreground) is mostly <= 0 (e.g.
    a subtraction or a shifted, rescaled export) is left nearly as it was. It is not shifted here:
    a shift changes the multiplicative model."""
    small, mask = _n4_inputs(image, shrink_factor)
    tissue = sitk.GetArrayViewFromImage(small)[sitk.GetArrayViewFromImage(mask) != 0]
    share = float(np.mean(tissue <= 0)) if tissue.size else 0.0  # no foreground: a constant image, warned apart
    if share <= N4_NONPOSITIVE_SHARE:
        return None
    return (f"View '{view}': {share:.0%} of the tissue voxels are <= 0 (minimum {float(tissue.min()):g}); N4 "
            "bias-field correction works on log intensities, so it left this image (nearly) uncorrected. Give the "
            "original positive-valued image (not a subtraction or a shifted export), or use a profile without N4.")


#: outlier rule: a voxel is an outlier when it lies more than OUTLIER_SPANS x (P99 - P1) beyond
#: [P1, P99] of its image or region (>= OUTLIER_MIN_VOXELS voxels); a few such voxels dominate the
#: whole-image normalization and the bins, which collapses the texture features
OUTLIER_SPANS = 10.0
OUTLIER_MIN_VOXELS = 100
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _outliers(values: np.ndarray) -> np.ndarray:
    """Which of ``values`` are outliers by the rule above (none for fewer than OUTLIER_MIN_VOXELS)."""
    if values.size < OUTLIER_MIN_VOXELS:
        return np.zeros(values.shape, bool)
    # percentiles of at most ~1M voxels (a regular subsample): fast on whole 3D images, same rule
    low, high = np.percentile(values[:: max(1, values.size // 1_000_000)], [1, 99])
    span = float(high - low)
    if span <= 0:
        return np.zeros(values.shape, bool)
    return (values > high + OUTLIER_SPANS * span) | (values < low - OUTLIER_SPANS * span)


def _outlier_text(view: str, scope: str, values: np.ndarray, effect: str) -> str:
    extreme = float(values[np.argmax(np.abs(values))])
    return (f"View '{view}': {scope} has {values.size} outlier voxel(s) (up to {extreme:g}) far beyond its other "
            f"intensities (more than {OUTLIER_SPANS:g} x (P99 - P1) outside [P1, P99]); they dominate {effect}, so "
            "texture features (e.g. entropy) collapse. Check the image for corrupt voxels (or clip them).")


def intensity_warnings(image: sitk.Image, regions: dict[str, sitk.Image], view: str = "view") -> list[str]:
    """Warnings about intensities that make features degenerate without an error: a single
    intensity everywhere (nothing to normalize or bin) or in a region (no texture), and extreme
    outlier voxels (rule above), in the whole image (they dominate its normalization) or else in a
    region (they dominate its bins)."""
    array = sitk.GetArrayViewFromImage(image)
    low, high = float(array.min()), float(array.max())
    if low == high:
        return [f"View '{view}': the image has a single intensity ({low:g}) everywhere, so intensity and texture "
                "features are undefined (NaN; a z-score normalization divides by 0) or meaningless; only shape "
                "features describe the regions. Check that the right image was given (not a blank series)."]
    masks = {name: sitk.GetArrayViewFromImage(mask) != 0 for name, mask in regions.items()}
    outliers = _outliers(array)
    warnings = []
    if outliers.any():
        inside = [name for name, mask in masks.items() if (mask & outliers).any()]
        where = f" (in region(s) {', '.join(inside)})" if inside else ""
        warnings.append(_outlier_text(view, f"the image{where}", array[outliers],
                                      "the normalization over the whole image and the bins"))
    for name, mask in masks.items():
        values = array[mask]
        if values.size > 1 and values.min() == values.max():
            warnings.append(f"View '{view}': region '{name}' has a single intensity ({float(values[0]):g}), so its "
                            "first-order and texture features describe no texture (e.g. entropy 0, GLCM correlation "
                            "1 by convention). Check that the mask lies on the lesion of this image.")
            continue
        found = _outliers(values)
        if found.any() and not (mask & outliers).any():
            warnings.append(_outlier_text(view, f"region '{name}'", values[found], "the region's bins"))
    return warnings


def _check_inputs(image: sitk.Image, regions: dict[str, sitk.Image], view: str) -> None:
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"View '{view}': the image has {image.GetNumberOfComponentsPerPixel()} components per voxel; "
                         "convert RGB ultrasound to grey levels first (AxillaryPredictorLib.imaging.io.to_grayscale).")
    array = sitk.GetArrayViewFromImage(image)
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise InputError(f"View '{view}': the image has NaN or infinite voxels; fix or mask them before extraction.")
    if array.dtype == np.float64 and array.size and max(-float(array.min()), float(array.max())) > FLOAT32_MAX:
        largest = max(-float(array.min()), float(array.max()))
        raise InputError(f"View '{view}': the image has values beyond the 32-bit float range (magnitude up to "
                         f"{largest:.3g}; the limit is {FLOAT32_MAX:.3g}), which the extraction (in 32-bit floats) "
                         "would turn into infinity. Fix the corrupt voxels or rescale the image.")
    if not regions:
        raise RegionError(f"View '{view}': no regions to extract.")
    for name, mask in regions.items():
        difference = describe_grid_difference(mask, image)
        if difference:
            raise RegionError(f"View '{view}': region '{name}' is not on the image grid ({difference}). Build the "
                              "regions from a mask on the image grid (read_mask(..., reference=image)).")


def prepare_view(image: sitk.Image, regions: dict[str, sitk.Image], profile: Profile, *,
                 view: str = "view", whole_image: bool = False) -> PreparedView:
    """N4, normalization and resampling onto the shared grid (see module docstring).

    ``whole_image=True`` keeps every voxel of the image instead (no cropping, no padding):
    the reference for checking that the shared grid's padding is enough."""
    _check_inputs(image, regions, view)
    pre = profile.preprocessing
    notes, warnings = _input_notes(image, regions, profile, view)
    image = sitk.Cast(image, sitk.sitkFloat32)
    if pre.get("n4"):
        problem = n4_warning(image, int(pre.get("n4ShrinkFactor", 4)), view)
        image = n4_correct(image, int(pre.get("n4ShrinkFactor", 4)))
        notes.append("N4 bias-field correction applied" + (" (ineffective: tissue <= 0)" if problem else ""))
        warnings += [problem] if problem else []
    if pre.get("normalize"):
        from radiomics import imageoperations

        image = imageoperations.normalizeImage(image, normalizeScale=pre.get("normalizeScale", 1),
                                               removeOutliers=pre.get("removeOutliers"))
        notes.append(f"intensities z-scored over the whole image (scale {pre.get('normalizeScale', 1)})")
    union = np.zeros(sitk.GetArrayViewFromImage(image).shape, bool)
    for mask in regions.values():
        union |= sitk.GetArrayViewFromImage(mask) != 0
    if whole_image:
        union[...] = True
    elif not union.any():
        raise RegionError(f"View '{view}': every region is empty.")
    planar = image.GetDimension() == 2 or image.GetSize()[2] == 1
    target = pre.get("resampledPixelSpacing")
    if target:
        spacing = [float(s) for s in target][: image.GetDimension()]
        if planar and image.GetDimension() == 3:
            spacing[2] = image.GetSpacing()[2]
    else:
        spacing = list(image.GetSpacing())
    pad_mm = 0.0 if whole_image else padding_mm(profile, min(spacing[:2] if planar else spacing))
    grid = _shared_grid(image, union, spacing, pad_mm, planar)
    interpolator = getattr(sitk, pre.get("interpolator", "sitkBSpline"))
    shared = sitk.Resample(image, grid, sitk.Transform(), interpolator, 0.0, sitk.sitkFloat32)
    whole = None
    if any(kind in profile.image_types for kind in MAX_SCALED):
        if whole_image:
            whole = shared
        else:
            everything = np.ones(union.shape, bool)
            whole = sitk.Resample(image, _shared_grid(image, everything, spacing, 0.0, planar), sitk.Transform(),
                                  interpolator, 0.0, sitk.sitkFloat32)
            notes.append("square/square-root/logarithm/exponential images computed on the whole resampled image")
    shared_regions = {name: sitk.Resample(sitk.Cast(mask != 0, sitk.sitkUInt8), grid, sitk.Transform(),
                                          sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
                      for name, mask in regions.items()}
    pad_voxels = tuple(math.ceil(pad_mm / s) for s in grid.GetSpacing())
    notes.append(f"shared grid {grid.GetSize()} at {tuple(round(s, 3) for s in grid.GetSpacing())} mm, "
                 f"padding {pad_mm:g} mm")
    return PreparedView(view, shared, shared_regions, pad_voxels, notes, whole, warnings)


def _input_notes(image: sitk.Image, regions: dict[str, sitk.Image], profile: Profile,
                 view: str) -> tuple[list[str], list[str]]:
    """Provenance notes and warnings about the input image itself (before preprocessing): its
    grey-level conversion (warned unless the profile is for ultrasound), constant or outlier
    intensities (``intensity_warnings``)."""
    from AxillaryPredictorLib.imaging.io import CONVERTED_KEY

    notes: list[str] = []
    warnings = intensity_warnings(image, regions, view)
    if image.HasMetaDataKey(CONVERTED_KEY):
        notes.append(image.GetMetaData(CONVERTED_KEY))
        if str(profile.modality).upper() != "US":
            warnings.append(f"View '{view}': the image was in colour ({image.GetMetaData(CONVERTED_KEY)}), but "
                            f"profile '{profile.name}' is for {profile.modality or 'non-ultrasound'} images, which "
                            "are grey-level: check that the right image was given (not a screenshot).")
    return notes, warnings


def _shared_grid(image: sitk.Image, union: np.ndarray, spacing: list[float], pad_mm: float,
                 planar: bool) -> sitk.Image:
    """Reference image (geometry only) covering the regions' bounding box plus padding."""
    dimension = image.GetDimension()
    nonzero = [np.nonzero(union.any(axis=tuple(a for a in range(union.ndim) if a != axis)))[0]
               for axis in range(union.ndim)]
    low_index = [int(axis.min()) for axis in nonzero][::-1]  # i, j, k
    high_index = [int(axis.max()) for axis in nonzero][::-1]
    direction = np.array(image.GetDirection()).reshape(dimension, dimension)
    source_spacing = np.array(image.GetSpacing())
    low_mm = np.array(low_index) * source_spacing
    high_mm = np.array(high_index) * source_spacing
    pad = np.full(dimension, pad_mm)
    if planar and dimension == 3:
        pad[2] = 0.0
    low_mm, high_mm = low_mm - pad, high_mm + pad
    # snap to the lattice anchored at the image origin, so the shared grid is exactly a crop
    # of the whole image resampled to the same spacing
    step = np.array(spacing, dtype=float)
    low_mm = np.floor(low_mm / step + 1e-6) * step
    high_mm = np.ceil(high_mm / step - 1e-6) * step
    size = [max(1, round((h - lo) / s) + 1) for lo, h, s in zip(low_mm, high_mm, spacing, strict=True)]
    if planar and dimension == 3:
        size[2] = 1
    origin = np.array(image.GetOrigin()) + direction @ low_mm
    grid = sitk.Image(size, sitk.sitkUInt8)
    grid.SetSpacing(spacing)
    grid.SetDirection(image.GetDirection())
    grid.SetOrigin(origin.tolist())
    return grid


def describe(prepared: PreparedView) -> dict[str, Any]:
    return {"view": prepared.view, "size": list(prepared.image.GetSize()),
            "spacing_mm": list(prepared.image.GetSpacing()), "padding_voxels": list(prepared.padding_voxels),
            "notes": prepared.notes}
