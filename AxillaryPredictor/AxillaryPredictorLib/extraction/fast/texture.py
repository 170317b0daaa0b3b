"""First-order and texture features of every region of one filtered image, computed together.

Per region, exactly what pyradiomics' segment-based classes do: the region's voxels are discretized
with its own bin edges (pyradiomics' ``getBinEdges`` expressions, ``numpy.digitize``); its texture
matrices are counted by the numba kernels (``kernels``) over its own bounding box, with pyradiomics'
angles for that box size; the matrices then get pyradiomics' post-processing (empty gray levels, run
lengths and angles removed, symmetrization, weighting, normalization).

Then the regions are stacked along pyradiomics' batch axis (axis 0, the one its voxel-based mode uses
for kernels) and each feature is computed ONCE for all regions by pyradiomics' own feature method.
Stacking puts the regions on common gray-level (and run-length / zone-size / dependence) axes: a
region's matrix is zero where it has no entry, and every formula either sums over those axes (a zero
adds nothing) or, for NGTDM, masks absent gray levels itself (``p_zero``), as in voxel-based mode. The
exceptions are handled so that each region still gets its segment-based value:

- GLCM ``Ng`` (in Idmn, Idn) is set per region; MCC (eigenvalues) is computed per region on its own
  trimmed matrix;
- a region with an empty angle (GLCM, GLRLM; pyradiomics deletes that angle for the region) or other
  angles (a bounding box 1 voxel thick) is evaluated alone;
- first-order voxel arrays are padded with NaN (pyradiomics' formulas are NaN-aware), histograms with 0.

Values differ from pyradiomics' only by the order of floating-point additions (integer counts are exact).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TEXTURE_CLASSES = ("glcm", "glrlm", "glszm", "gldm", "ngtdm")
#: settings the fast path reproduces; any other value of these keys falls back to pyradiomics' classes
UNSUPPORTED = {"voxelBased": (False, None)}


@dataclass
class Region:
    """One region's discretized bounding box and voxel values."""

    name: str
    codes: np.ndarray  # int32, region's bounding box (3D), gray level 1..Ng inside, 0 outside
    values: np.ndarray  # float64 voxel values in the region (C order), as pyradiomics' first order
    gray_levels: np.ndarray  # present gray levels (sorted)
    shape: tuple[int, ...]  # bounding-box shape in the image's own dimensionality (angles depend on it)
    matrices: dict[str, Any] = field(default_factory=dict)
    padded: dict[int, np.ndarray] = field(default_factory=dict)  # pad -> codes with that many zero voxels around

    @property
    def ng(self) -> int:
        return int(self.gray_levels[-1])


def supported(settings: Mapping[str, Any]) -> bool:
    """Whether the fast path reproduces pyradiomics for these settings."""
    return all(settings.get(key, allowed[0]) in allowed for key, allowed in UNSUPPORTED.items())


def bin_edges(values: np.ndarray, settings: Mapping[str, Any]) -> np.ndarray:
    """pyradiomics' ``getBinEdges`` (same expressions and types; ``min``/``max`` done by numpy)."""
    if settings.get("binCount") is not None:
        from radiomics import imageoperations

        return imageoperations.getBinEdges(values, **settings)
    bin_width = settings.get("binWidth", 25)
    minimum = values.min()
    maximum = values.max()
    low_bound = minimum - (minimum % bin_width)
    high_bound = maximum + 2 * bin_width
    edges = np.arange(low_bound, high_bound, bin_width)
    if len(edges) == 1:
        edges = [edges[0] - .5, edges[0] + .5]
    return edges


def discretize(array: np.ndarray, mask: np.ndarray, name: str, settings: Mapping[str, Any]) -> Region:
    """A region (``mask`` on ``array``, both cropped to the region's bounding box) discretized as pyradiomics."""
    raw = array[mask]
    codes = np.zeros(mask.shape, dtype=np.int32)
    levels = np.digitize(raw, bin_edges(raw, settings))
    codes[mask] = levels
    shape = mask.shape
    codes3 = codes if codes.ndim == 3 else codes.reshape((1,) * (3 - codes.ndim) + codes.shape)
    return Region(name, codes3, raw.astype("float"), np.unique(levels), shape)


# ----------------------------------------------------------------------------- matrices


def _angles(region: Region, settings: Mapping[str, Any], distances: Sequence[int], bidirectional: bool,
            ) -> tuple[np.ndarray, np.ndarray]:
    """pyradiomics' angles for this bounding box: as generated (for weighting) and as 3D int64 offsets."""
    return _box_angles(tuple(int(n) for n in region.shape), tuple(int(d) for d in distances), bool(bidirectional),
                       bool(settings.get("force2D", False)), int(settings.get("force2Ddimension", 0)))


@functools.lru_cache(maxsize=256)
def _box_angles(shape: tuple[int, ...], distances: tuple[int, ...], bidirectional: bool, force_2d: bool,
                dimension: int) -> tuple[np.ndarray, np.ndarray]:
    """``cMatrices.generate_angles`` for a box shape (the same box recurs for every filtered image of a view)."""
    from radiomics import cMatrices

    angles = np.asarray(cMatrices.generate_angles(np.array(shape), np.array(distances), bidirectional, force_2d,
                                                  dimension))
    offsets = np.zeros((angles.shape[0], 3), dtype=np.int64)
    offsets[:, 3 - angles.shape[1]:] = angles
    return angles, offsets  # callers never write to them


def _weights(angles: np.ndarray, spacing: Sequence[float], norm: str, glcm: bool) -> np.ndarray:
    """pyradiomics' per-angle weights (``weightingNorm``), GLCM (exp of -distance^2) or GLRLM (distance)."""
    spacing = np.asarray(spacing)
    weights = np.empty(len(angles))
    for index, angle in enumerate(angles):
        offset = np.abs(angle) * spacing
        if norm == "infinity":
            weights[index] = np.exp(-max(offset) ** 2) if glcm else max(offset)
        elif norm == "euclidean":
            weights[index] = np.exp(-np.sum(offset ** 2)) if glcm else np.sqrt(np.sum(offset ** 2))
        elif norm == "manhattan":
            weights[index] = np.exp(-np.sum(offset) ** 2) if glcm else np.sum(offset)
        else:
            weights[index] = 1
    return weights


def count_matrices(regions: list[Region], class_name: str, settings: Mapping[str, Any]) -> None:
    """Each region's raw matrix of ``class_name`` (pyradiomics' C output without the batch axis), with its angles.
    GLCM, GLDM and NGTDM are counted together in one pass (``kernels.neighbour_matrices``) on the first of them."""
    from AxillaryPredictorLib.extraction.fast import kernels

    distances = list(settings.get("distances", [1]))
    for region in regions:
        if class_name in region.matrices:
            continue
        if class_name in NEIGHBOUR_CLASSES:
            _count_neighbour_matrices(region, settings, distances)
        elif class_name == "glrlm":
            angles, offsets = _angles(region, settings, [1], False)
            count = kernels.glrlm_lines if np.abs(offsets).max(initial=0) <= 1 else kernels.glrlm
            region.matrices[class_name] = (count(region.codes, offsets, region.ng, int(max(region.shape))), angles)
        else:
            angles, offsets = _angles(region, settings, [1], True)
            region.matrices[class_name] = (kernels.glszm_union(_padded(region, 1), offsets, region.ng), angles)


#: the classes whose matrices count each voxel's neighbours at the profile's distances
NEIGHBOUR_CLASSES = ("glcm", "gldm", "ngtdm")


def _padded(region: Region, pad: int) -> np.ndarray:
    """The region's codes with ``pad`` zero voxels (outside the region) on every side (made once per pad)."""
    if pad not in region.padded:
        region.padded[pad] = np.pad(region.codes, pad)
    return region.padded[pad]


def _count_neighbour_matrices(region: Region, settings: Mapping[str, Any], distances: list[int]) -> None:
    """GLCM, GLDM and NGTDM of one region in one pass. Equality: the same pairs and neighbours as the separate
    kernels (GLCM's one-directional angles are the bidirectional ones with an index in its list), visited in the
    same voxel and angle order; a neighbour in the padding reads 0, as one outside the box did."""
    from AxillaryPredictorLib.extraction.fast import kernels

    glcm_angles, glcm_offsets = _angles(region, settings, distances, False)
    angles, offsets = _angles(region, settings, distances, True)
    index = {tuple(offset): i for i, offset in enumerate(glcm_offsets.tolist())}
    glcm_angle = np.array([index.get(tuple(offset), -1) for offset in offsets.tolist()], dtype=np.int64)
    alpha = int(settings.get("gldm_a", 0))
    if len(index) == len(glcm_offsets) and np.count_nonzero(glcm_angle >= 0) == len(glcm_offsets):
        pad = int(max(np.abs(offsets).max(initial=0), 1))
        glcm, gldm, ngtdm = kernels.neighbour_matrices(_padded(region, pad), pad, offsets, glcm_angle,
                                                       len(glcm_offsets), region.ng, alpha)
    else:  # repeated distances: GLCM's angles are not one each among the bidirectional ones; count separately
        glcm = kernels.glcm(region.codes, glcm_offsets, region.ng)
        gldm = kernels.gldm(region.codes, offsets, region.ng, alpha)
        ngtdm = kernels.ngtdm(region.codes, offsets, region.ng)
    region.matrices.update({"glcm": (glcm, glcm_angles), "gldm": (gldm, angles), "ngtdm": (ngtdm, angles)})


def _stack_levels(regions: list[Region], class_name: str, levels: np.ndarray, width_axis: int | None = None,
                  ) -> np.ndarray:
    """The regions' matrices on the common gray-level axis ``levels`` (rows of absent levels are 0); axes after
    the gray-level ones are zero-padded to the largest region's size."""
    matrices = [region.matrices[class_name][0] for region in regions]
    tail = [max(m.shape[k] for m in matrices) for k in range(1, matrices[0].ndim)]
    two_level = class_name == "glcm"
    shape = (len(regions), len(levels), *(tail if not two_level else [len(levels), *tail[1:]]))
    stacked = np.zeros(shape)
    for index, (region, matrix) in enumerate(zip(regions, matrices, strict=True)):
        rows = np.searchsorted(levels, region.gray_levels)
        present = region.gray_levels - 1
        if two_level:
            stacked[index][np.ix_(rows, rows)] = matrix[np.ix_(present, present)]
        else:
            block = matrix[present]
            stacked[(index, rows, *(slice(0, n) for n in block.shape[1:]))] = block
    return stacked


# --------------------------------------------------------------------------- the batches


def _batch(class_name: str, settings: Mapping[str, Any], **attributes: Any) -> Any:
    """A pyradiomics feature-class object without its ``__init__`` (no image, no matrix computation): only the
    attributes its feature methods read."""
    from radiomics import getFeatureClasses

    cls = getFeatureClasses()[class_name]
    batch = cls.__new__(cls)
    batch.logger = logging.getLogger(cls.__module__)
    batch.settings = dict(settings)
    batch.voxelBased = False
    batch.label = settings.get("label", 1)
    batch.coefficients = {}
    for key, value in attributes.items():
        setattr(batch, key, value)
    return batch


def _glcm_batch(regions: list[Region], settings: Mapping[str, Any], spacing: Sequence[float]) -> Any:
    levels = np.unique(np.concatenate([r.gray_levels for r in regions]))
    matrix = _stack_levels(regions, "glcm", levels)
    if settings.get("symmetricalGLCM", True):
        matrix += np.transpose(matrix, (0, 2, 1, 3)).copy()
    norm = settings.get("weightingNorm")
    if norm is not None:
        weights = _weights(regions[0].matrices["glcm"][1], spacing[::-1], norm, glcm=True)
        matrix = np.sum(matrix * weights[None, None, None, :], 3, keepdims=True)
    sums = np.sum(matrix, (1, 2))
    if matrix.shape[3] > 1:
        empty = np.where(np.sum(sums, 0) == 0)
        if len(empty[0]) > 0:
            matrix = np.delete(matrix, empty, 3)
            sums = np.delete(sums, empty, 1)
    sums[sums == 0] = np.nan
    matrix /= sums[:, None, None, :]
    batch = _batch("glcm", settings, P_glcm=matrix, symmetricalGLCM=settings.get("symmetricalGLCM", True),
                   weightingNorm=norm)
    batch.coefficients.update({"Ng": int(levels[-1]), "grayLevels": levels})
    batch._calculateCoefficients()
    batch.coefficients["Ng"] = np.array([r.ng for r in regions], dtype=float)[:, None, None]
    batch.levels = levels
    return batch


def _glcm_mcc(batch: Any, regions: list[Region]) -> np.ndarray:
    """MCC of each region on its own trimmed GLCM (pyradiomics' matrix exactly: counts are integers); regions with
    the same gray levels (nested regions often have them) share one call, their matrices stacked on the batch axis
    (the eigenvalues are computed matrix by matrix)."""
    values = np.empty(len(regions))
    groups: dict[bytes, list[int]] = {}
    for index, region in enumerate(regions):
        groups.setdefault(region.gray_levels.tobytes(), []).append(index)
    for indices in groups.values():
        rows = np.searchsorted(batch.levels, regions[indices[0]].gray_levels)
        matrix = batch.P_glcm[indices][:, rows][:, :, rows]
        solo = _batch("glcm", batch.settings, P_glcm=matrix)
        solo.coefficients = {"eps": np.spacing(1), "px": matrix.sum(2, keepdims=True),
                             "py": matrix.sum(1, keepdims=True)}
        values[indices] = np.broadcast_to(np.asarray(solo.getMCCFeatureValue(), dtype=float).reshape(-1),
                                          (len(indices),))
    return values


def _glrlm_batch(regions: list[Region], settings: Mapping[str, Any], spacing: Sequence[float]) -> Any:
    levels = np.unique(np.concatenate([r.gray_levels for r in regions]))
    matrix = _stack_levels(regions, "glrlm", levels)
    norm = settings.get("weightingNorm")
    if norm is not None:
        weights = _weights(regions[0].matrices["glrlm"][1], spacing[::-1], norm, glcm=False)
        matrix = np.sum(matrix * weights[None, None, None, :], 3, keepdims=True)
    runs = np.sum(matrix, (1, 2))
    if matrix.shape[3] > 1:
        empty = np.where(np.sum(runs, 0) == 0)
        if len(empty[0]) > 0:
            matrix = np.delete(matrix, empty, 3)
            runs = np.delete(runs, empty, 1)
    runs[runs == 0] = np.nan
    batch = _batch("glrlm", settings, P_glrlm=matrix, weightingNorm=norm)
    batch.coefficients.update({"Nr": runs, "grayLevels": levels, "Ng": int(levels[-1])})
    batch._calculateCoefficients()
    return batch


def _glszm_batch(regions: list[Region], settings: Mapping[str, Any], spacing: Sequence[float]) -> Any:
    """Zone sizes are stacked on the union of the sizes that occur (pyradiomics deletes the empty ones from
    ``arange(1, largest + 1)``; the kept columns and their sizes are the same, without the large zero block)."""
    levels = np.unique(np.concatenate([r.gray_levels for r in regions]))
    matrices = [region.matrices["glszm"][0] for region in regions]
    columns = [np.flatnonzero(matrix.sum(0)) for matrix in matrices]
    sizes = np.unique(np.concatenate(columns))
    stacked = np.zeros((len(regions), len(levels), len(sizes)))
    for index, (region, matrix, kept) in enumerate(zip(regions, matrices, columns, strict=True)):
        rows = np.searchsorted(levels, region.gray_levels)
        stacked[index][np.ix_(rows, np.searchsorted(sizes, kept))] = matrix[np.ix_(region.gray_levels - 1, kept)]
    jvector = (sizes + 1).astype(np.float64)
    ps = np.sum(stacked, 1)
    zones = np.sum(stacked, (1, 2))
    zones[zones == 0] = 1
    voxels = np.sum(ps * jvector[None, :], 1)
    voxels[voxels == 0] = 1
    batch = _batch("glszm", settings, P_glszm=stacked)
    batch.coefficients.update({"grayLevels": levels, "Ng": int(levels[-1]), "Np": voxels, "Nz": zones, "ps": ps,
                               "pg": np.sum(stacked, 2), "ivector": levels.astype(float), "jvector": jvector})
    return batch


def _gldm_batch(regions: list[Region], settings: Mapping[str, Any], spacing: Sequence[float]) -> Any:
    levels = np.unique(np.concatenate([r.gray_levels for r in regions]))
    matrix = _stack_levels(regions, "gldm", levels)
    jvector = np.arange(1, matrix.shape[2] + 1, dtype="float64")
    dependence = np.sum(matrix, 1)
    gray = np.sum(matrix, 2)
    empty_sizes = np.sum(dependence, 0)
    matrix = np.delete(matrix, np.where(empty_sizes == 0), 2)
    jvector = np.delete(jvector, np.where(empty_sizes == 0))
    dependence = np.delete(dependence, np.where(empty_sizes == 0), 1)
    total = np.sum(dependence, 1)
    total[total == 0] = 1
    batch = _batch("gldm", settings, P_gldm=matrix, gldm_a=settings.get("gldm_a", 0))
    batch.coefficients.update({"Nz": total, "pd": dependence, "pg": gray, "ivector": levels.astype(float),
                               "jvector": jvector, "grayLevels": levels, "Ng": int(levels[-1])})
    return batch


def _ngtdm_batch(regions: list[Region], settings: Mapping[str, Any], spacing: Sequence[float]) -> Any:
    ng = max(r.ng for r in regions)
    matrix = np.zeros((len(regions), ng, 3))
    matrix[:, :, 2] = np.arange(1, ng + 1)
    for index, region in enumerate(regions):
        matrix[index, :region.ng, :2] = region.matrices["ngtdm"][0][:, :2]
    empty = np.where(np.sum(matrix[:, :, 0], 0) == 0)
    batch = _batch("ngtdm", settings, P_ngtdm=np.delete(matrix, empty, 1))
    batch._calculateCoefficients()
    return batch


def _firstorder_batch(regions: list[Region], settings: Mapping[str, Any], spacing: Sequence[float]) -> Any:
    width = max(len(r.values) for r in regions)
    voxels = np.full((len(regions), width), np.nan)
    levels = np.unique(np.concatenate([r.gray_levels for r in regions]))
    counts = np.zeros((len(regions), len(levels)))
    for index, region in enumerate(regions):
        voxels[index, :len(region.values)] = region.values
        present, count = np.unique(region.codes[region.codes > 0], return_counts=True)
        counts[index, np.searchsorted(levels, present)] = count
    sums = np.sum(counts, 1, keepdims=True)
    sums[sums == 0] = 1
    batch = _batch("firstorder", settings, targetVoxelArray=voxels, pixelSpacing=tuple(spacing),
                   voxelArrayShift=settings.get("voxelArrayShift", 0))
    batch.coefficients["p_i"] = counts / sums
    _reuse_intermediates(batch, regions)
    return batch


def _reuse_intermediates(batch: Any, regions: list[Region]) -> None:
    """pyradiomics' first-order formulas compute the same moments and percentiles several times (m2 for
    skewness and kurtosis, the 10th/90th percentiles for their features and the robust MAD): each is computed
    once by pyradiomics' own function and a copy handed out on every later call (callers modify them)."""
    cache: dict[tuple, np.ndarray] = {}

    def once(key: tuple, compute: Any) -> np.ndarray:
        if key not in cache:
            cache[key] = np.asarray(compute())
        return cache[key].copy()

    moment = batch._moment
    batch._moment = lambda a, order=1: once(("moment", order), lambda: moment(a, order))
    quantiles = _region_percentiles(regions)
    batch.get10PercentileFeatureValue = lambda: quantiles[:, 0].copy()
    batch.get90PercentileFeatureValue = lambda: quantiles[:, 3].copy()
    batch.getInterquartileRangeFeatureValue = lambda: quantiles[:, 2] - quantiles[:, 1]
    batch.getMedianFeatureValue = lambda: np.array([np.median(region.values) for region in regions])


def _region_percentiles(regions: list[Region]) -> np.ndarray:
    """(regions, 4): the 10th, 25th, 75th and 90th percentiles of each region's voxels. pyradiomics'
    ``nanpercentile`` on the padded rows removes the NaN of each row and calls ``percentile`` on the rest, i.e.
    on the region's voxels (``nanmedian`` likewise ``median``): the same computation, without the per-row
    NaN scans of the padded batch."""
    return np.array([np.percentile(region.values, [10, 25, 75, 90]) for region in regions])


BATCHES = {"firstorder": _firstorder_batch, "glcm": _glcm_batch, "glrlm": _glrlm_batch, "glszm": _glszm_batch,
           "gldm": _gldm_batch, "ngtdm": _ngtdm_batch}


def _groups(regions: list[Region], class_name: str) -> list[list[Region]]:
    """Regions that can share one batch: same angles and (GLCM, GLRLM) no empty angle; the others alone."""
    if class_name == "firstorder":
        return _similar_sizes(regions)
    if class_name not in ("glcm", "glrlm"):
        return [regions] if regions else []
    groups: dict[bytes, list[Region]] = {}
    alone = []
    for region in regions:
        matrix, angles = region.matrices[class_name]
        if matrix.shape[-1] > 1 and np.any(np.sum(matrix, (0, 1)) == 0):
            alone.append([region])
        else:
            groups.setdefault(np.asarray(angles).tobytes(), []).append(region)
    return [*groups.values(), *alone]


def _similar_sizes(regions: list[Region], waste: float = 1.25) -> list[list[Region]]:
    """First-order batches of regions of similar voxel counts (largest first): the voxel arrays are padded to
    the largest of a batch, and that padding (NaN) would otherwise cost as much as the voxels themselves."""
    groups: list[list[Region]] = []
    for region in sorted(regions, key=lambda r: -len(r.values)):
        group = groups[-1] if groups else None
        if group and len(group[0].values) * (len(group) + 1) <= waste * (sum(len(r.values) for r in group)
                                                                          + len(region.values)):
            group.append(region)
        else:
            groups.append([region])
    return groups


def _evaluate(batch: Any, class_name: str, names: Sequence[str], regions: list[Region],
              ) -> dict[str, np.ndarray]:
    """name -> one value per region (pyradiomics' feature methods on the batch); a feature that raises is NaN
    (pyradiomics logs it and returns NaN); a deprecated one is left out (as pyradiomics' ``execute``)."""
    values: dict[str, np.ndarray] = {}
    for name in names:
        if class_name == "glcm" and name == "MCC":
            values[name] = _glcm_mcc(batch, regions)
            continue
        try:
            value = getattr(batch, f"get{name}FeatureValue")()
        except DeprecationWarning:
            continue
        except Exception:
            if len(regions) > 1:  # the failure may belong to one region only: evaluate each alone
                raise
            value = np.nan
        value = np.asarray(value, dtype=float)
        values[name] = np.broadcast_to(value, (len(regions),)) if value.ndim == 0 else value.reshape(len(regions))
    return values


def class_features(regions: list[Region], class_name: str, names: Sequence[str], settings: Mapping[str, Any],
                   spacing: Sequence[float]) -> tuple[dict[str, dict[str, float]], dict[str, BaseException]]:
    """region name -> {feature: value} for one class, and region name -> error for the regions it failed on (a
    batch that fails is redone region by region, so one region's failure never touches the others)."""
    failed: dict[str, BaseException] = {}
    if class_name in TEXTURE_CLASSES:
        for region in regions:
            try:
                count_matrices([region], class_name, settings)
            except Exception as error:  # reported by the caller as pyradiomics' failures are
                failed[region.name] = error
        regions = [region for region in regions if region.name not in failed]
    out: dict[str, dict[str, float]] = {}
    for group in _groups(regions, class_name):
        try:
            values = _evaluate(BATCHES[class_name](group, settings, spacing), class_name, names, group)
        except Exception as error:
            if len(group) == 1:
                failed[group[0].name] = error
                continue
            for region in group:
                more, errors = class_features([region], class_name, names, settings, spacing)
                out.update(more)
                failed.update(errors)
            continue
        for index, region in enumerate(group):
            out[region.name] = {name: float(column[index]) for name, column in values.items()}
    return out, failed
