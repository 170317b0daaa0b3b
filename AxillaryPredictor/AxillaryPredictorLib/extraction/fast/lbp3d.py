"""pyradiomics' LBP-3D images (``getLBP3DImage``; Banerjee et al. 2013, doi:10.1007/978-3-642-37410-4_3), with
its cubic-spline sampling compiled.

pyradiomics samples the image at the 42 vertices of an icosphere around every voxel of the mask with
``scipy.ndimage.map_coordinates(order=3)``. That call is most of LBP-3D's time, and its result decides
bits (sample >= centre voxel), so it must be reproduced exactly: ``cubic_samples`` does scipy's
arithmetic operation for operation (the same spline coefficients, from scipy's own ``spline_filter``;
the same weight expressions; the same 64 taps added in the same order into a double; the same mirror
indices at the border and 0 outside the image; the double rounded to the image's float type). After the
sampling come pyradiomics' own numpy expressions, with two sums along a middle axis (which numpy adds in
order) done by loops that add in the same order (``vertex_sums``, ``middle_sums``: same numbers, tested).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import SimpleITK as sitk
from numba import njit


@njit(nogil=True, cache=True)
def _cubic_weights(x, weights):  # pragma: no cover - compiled
    """Cubic B-spline weights of the 4 taps from floor(x) - 1 (scipy's expressions, in its order)."""
    x = x - np.floor(x)
    y = x
    z = 1.0 - x
    weights[1] = (y * y * (y - 2.0) * 3.0 + 4.0) / 6.0
    weights[2] = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0
    weights[0] = z * z * z / 6.0
    last = 1.0
    for i in range(3):
        last -= weights[i]
    weights[3] = last


@njit(nogil=True, cache=True)
def _mirror(index, length):  # pragma: no cover - compiled
    """A tap index outside [0, length) mirrored about the first/last voxel (scipy's spline border)."""
    if length <= 1:
        return 0
    period = 2 * length - 2
    if index < 0:
        index = period * (-index // period) + index
        return index + period if index <= 1 - length else -index
    if index >= length:
        index -= period * (index // period)
        if index >= length:
            index = period - index
    return index


@njit(nogil=True, cache=True)
def cubic_samples(coefficients, points, offsets, out):  # pragma: no cover - compiled
    """``out[p, v]`` = the cubic spline with ``coefficients`` at ``points[p] + offsets[v]`` (0 outside the array)."""
    shape = coefficients.shape
    weights = np.empty((3, 4))
    taps = np.empty((3, 4), dtype=np.int64)
    for p in range(points.shape[0]):
        for v in range(offsets.shape[0]):
            outside = False
            for axis in range(3):
                c = points[p, axis] + offsets[v, axis]
                length = shape[axis]
                if c < 0 or c > length - 1:
                    outside = True
                    break
                start = np.int64(np.floor(c)) - 1
                for k in range(4):
                    index = start + k
                    taps[axis, k] = index if 0 <= index < length else _mirror(index, length)
                _cubic_weights(c, weights[axis])
            total = 0.0
            if not outside:
                for a in range(4):
                    for b in range(4):
                        for k in range(4):
                            value = coefficients[taps[0, a], taps[1, b], taps[2, k]]
                            value *= weights[0, a]
                            value *= weights[1, b]
                            value *= weights[2, k]
                            total += value
            out[p, v] = total


@njit(nogil=True, cache=True)
def vertex_sums(bits, harmonics):  # pragma: no cover - compiled
    """``(bits[:, :, None] * harmonics[None]).sum(axis=1)``: numpy adds along that (middle) axis in order, and a
    product of a 0/1 bit and a complex number is exact in any formula, so the sums are the same numbers."""
    out = np.empty((bits.shape[0], harmonics.shape[1]), dtype=harmonics.dtype)
    for p in range(bits.shape[0]):
        for j in range(harmonics.shape[1]):
            total = bits[p, 0] * harmonics[0, j]
            for v in range(1, bits.shape[1]):
                total += bits[p, v] * harmonics[v, j]
            out[p, j] = total
    return out


@njit(nogil=True, cache=True)
def middle_sums(values):  # pragma: no cover - compiled
    """``values.sum(axis=1)`` of a 3D array, added in order along the axis as numpy does for a middle axis."""
    out = np.empty((values.shape[0], values.shape[2]), dtype=values.dtype)
    for p in range(values.shape[0]):
        for n in range(values.shape[2]):
            total = values[p, 0, n]
            for v in range(1, values.shape[1]):
                total += values[p, v, n]
            out[p, n] = total
    return out


def warm_up() -> None:
    """Compile (or load from the cache) the sampling kernel: before worker processes fork."""
    cubic_samples(np.zeros((2, 2, 2)), np.zeros((1, 3), dtype=np.int64), np.full((1, 3), 0.5),
                  np.empty((1, 1), dtype=np.float32))
    vertex_sums(np.ones((1, 2), dtype=np.int64), np.ones((2, 2), dtype=np.complex128))
    middle_sums(np.ones((1, 2, 2), dtype=np.complex128))


def lbp3d_images(image: sitk.Image, mask: sitk.Image, **kwargs: Any) -> Iterator[tuple[sitk.Image, str, dict]]:
    """What pyradiomics' ``getLBP3DImage(image, mask, **kwargs)`` yields (values inside the mask); nothing, as
    pyradiomics, for a 2D image or without ``scipy.special.sph_harm`` and trimesh."""
    try:
        from scipy.ndimage import spline_filter
        from scipy.special import sph_harm
        from scipy.stats import kurtosis
        from trimesh.creation import icosphere
    except ImportError:
        return
    if image.GetDimension() != 3:
        return

    label = kwargs.get("label", 1)
    levels = kwargs.get("lbp3DLevels", 2)
    radius = kwargs.get("lbp3DIcosphereRadius", 1)
    vertices = np.array(icosphere(kwargs.get("lbp3DIcosphereSubdivision", 1), radius).vertices)
    harmonics, degree = _harmonics(vertices, radius, levels, sph_harm)
    array = sitk.GetArrayFromImage(image)
    roi = np.where(sitk.GetArrayFromImage(mask) == label)
    samples = np.empty((len(roi[0]), len(vertices)), dtype=array.dtype)
    coefficients = spline_filter(array, 3, output=np.float64, mode="constant")  # as map_coordinates' prefilter
    cubic_samples(coefficients, np.ascontiguousarray(np.array(roi).T), vertices.astype(np.float64), samples)
    yield from _lbp_from_samples(image, array, roi, samples, harmonics, degree, levels, kurtosis, kwargs)


def _harmonics(vertices: np.ndarray, radius: float, levels: int, sph_harm: Any) -> tuple[np.ndarray, np.ndarray]:
    """pyradiomics' spherical harmonics at the vertices (columns) and the degree of each column."""
    theta = np.arccos(np.true_divide(vertices[:, 2], radius))
    phi = np.arctan2(vertices[:, 1], vertices[:, 0])
    with warnings.catch_warnings():  # SciPy 1.15-1.16 deprecate sph_harm (pyradiomics calls it the same way)
        warnings.simplefilter("ignore", DeprecationWarning)
        harmonics = sph_harm(0, 0, theta, phi)
        degree = np.array(0)
        for n in range(1, levels):
            for m in range(-n, n + 1):
                degree = np.append(degree, n)
                harmonics = np.column_stack((harmonics, sph_harm(m, n, theta, phi)))
    return harmonics, degree


def _lbp_from_samples(image: sitk.Image, array: np.ndarray, roi: tuple, f: np.ndarray, harmonics: np.ndarray,
                      degree: np.ndarray, levels: int, kurtosis: Any, kwargs: dict,
                      ) -> Iterator[tuple[sitk.Image, str, dict]]:
    """pyradiomics' expressions after the sampling (same operations, same order)."""
    k = kurtosis(f, axis=1)
    f = np.greater_equal(f, array[roi][:, None]).astype(int)
    c = vertex_sums(f, harmonics)  # np.multiply(f[:, :, None], harmonics[None, :, :]).sum(axis=1)
    f = np.multiply(c[:, None, degree == 0], harmonics[None, :, degree == 0])
    for n in range(1, levels):
        f = np.concatenate((f, np.sum(np.multiply(c[:, None, degree == n], harmonics[None, :, degree == n]),
                                      axis=2, keepdims=True)), axis=2)
    f = np.real(np.sqrt(middle_sums(f ** 2)))  # np.sum(f ** 2, axis=1)
    result = np.zeros(array.shape)
    for index in range(levels):
        result[roi] = f[:, index]
        yield _image(result, image), f"lbp-3D-m{index + 1}", kwargs
    result[roi] = np.real(k)
    yield _image(result, image), "lbp-3D-k", kwargs


def _image(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image
