"""pyradiomics' 3D shape features with the mesh coefficients (surface area, volume, diameters) computed faster.

pyradiomics' ``cShape.calculate_coefficients`` runs marching cubes over the padded mask (vertices at edge
midpoints) and then compares every pair of mesh vertices for the four maximum diameters: the pair loop is
quadratic in the number of vertices and is nearly all of the shape time. Here:

- **Surface area and volume** are sums over the cubes of the mask. A cube's triangles depend only on its
  8 corners (the configuration), so its area is a per-configuration constant, and its volume term (the
  signed tetrahedra of the divergence theorem) is linear in the cube's position:
  ``v(config) + origin . n(config)``. Both constants are measured once per spacing by pyradiomics'
  own C function on single cubes (and on cubes shifted by one voxel along each axis), so the triangulation
  is pyradiomics' own. Values differ from pyradiomics' only by the order of the floating-point sums.
- **Diameters**: the vertices are the midpoints of the voxel edges whose two voxels differ (each once, at
  pyradiomics' coordinates). The largest distance within a plane (same z, y or x) is searched among the
  vertices of that plane only; the largest distance overall among the vertices of the convex hull (the
  farthest pair of a point set lies on its hull). Distances are computed with pyradiomics' expression,
  so a maximum over a set containing the maximal pair is the same number.

Everything else is pyradiomics' shape class unchanged.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np
import SimpleITK as sitk
from numba import njit

#: cube corners (z, y, x) in the order of pyradiomics' cube index bits
CORNERS = ((0, 0, 0), (0, 0, 1), (0, 1, 1), (0, 1, 0), (1, 0, 0), (1, 0, 1), (1, 1, 1), (1, 1, 0))


def _cube(config: int) -> np.ndarray:
    cube = np.zeros((2, 2, 2), dtype=bool)
    for bit, corner in enumerate(CORNERS):
        cube[corner] = bool(config >> bit & 1)
    return cube


@functools.cache
def config_tables(spacing: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cube configuration: surface area, volume at the origin and volume change per unit of origin (z, y, x),
    from pyradiomics' ``calculate_coefficients`` on single cubes and pairs of cubes."""
    from radiomics import cShape

    spacing_array = np.array(spacing, dtype=np.float64)
    area, volume, slope = np.zeros(256), np.zeros(256), np.zeros((256, 3))
    for config in range(1, 255):
        cube = _cube(config)
        area[config], volume[config], _ = cShape.calculate_coefficients(cube, spacing_array)
        for axis in range(3):
            lower = np.zeros_like(cube)
            np.moveaxis(lower, axis, 0)[1] = np.moveaxis(cube, axis, 0)[0]
            pair = np.concatenate([np.zeros_like(np.moveaxis(cube, axis, 0)[:1]), np.moveaxis(cube, axis, 0)])
            _, both, _ = cShape.calculate_coefficients(np.ascontiguousarray(np.moveaxis(pair, 0, axis)),
                                                       spacing_array)
            _, below, _ = cShape.calculate_coefficients(lower, spacing_array)
            slope[config, axis] = (both - below - volume[config]) / spacing[axis]
    return area, volume, slope


@njit(nogil=True, cache=True)
def mesh_sums(mask, spacing, area, volume, slope):  # pragma: no cover - compiled
    """Surface area and volume of the marching-cubes mesh of the (padded) ``mask`` from the per-configuration
    constants, cube by cube."""
    corners = np.array(CORNERS)
    sz, sy, sx = mask.shape
    total_area = 0.0
    total_volume = 0.0
    for iz in range(sz - 1):
        for iy in range(sy - 1):
            for ix in range(sx - 1):
                config = 0
                for bit in range(8):
                    if mask[iz + corners[bit, 0], iy + corners[bit, 1], ix + corners[bit, 2]]:
                        config |= 1 << bit
                if config == 0 or config == 255:
                    continue
                total_area += area[config]
                total_volume += (volume[config] + iz * spacing[0] * slope[config, 0]
                                 + iy * spacing[1] * slope[config, 1] + ix * spacing[2] * slope[config, 2])
    return total_area, total_volume


def mesh_vertices(mask: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """(V, 3) the marching-cubes vertices pyradiomics stores: midpoints of the edges between differing voxels,
    ``(index + 0 or 0.5) * spacing`` per axis as pyradiomics computes them."""
    parts = []
    for axis in range(3):
        lower = [slice(None)] * 3
        upper = [slice(None)] * 3
        lower[axis], upper[axis] = slice(0, -1), slice(1, None)
        where = np.nonzero(mask[tuple(lower)] != mask[tuple(upper)])
        coordinates = [w.astype(np.float64) for w in where]
        coordinates[axis] = coordinates[axis] + 0.5
        parts.append(np.stack([c * s for c, s in zip(coordinates, spacing, strict=True)], axis=1))
    return np.ascontiguousarray(np.concatenate(parts))


@njit(nogil=True, cache=True)
def _squared(a, b):  # pragma: no cover - compiled
    """pyradiomics' squared distance (same operations, same order)."""
    d0 = a[0] - b[0]
    d1 = a[1] - b[1]
    d2 = a[2] - b[2]
    d0 *= d0
    d1 *= d1
    d2 *= d2
    return d0 + d1 + d2


@njit(nogil=True, cache=True)
def plane_maxima(points, order, axis):  # pragma: no cover - compiled
    """Largest squared distance between two points with the same coordinate on ``axis`` (``order``: the points
    sorted by that coordinate)."""
    best = 0.0
    start = 0
    n = order.shape[0]
    while start < n:
        end = start + 1
        value = points[order[start], axis]
        while end < n and points[order[end], axis] == value:
            end += 1
        for i in range(start, end):
            for j in range(i + 1, end):
                distance = _squared(points[order[i]], points[order[j]])
                if distance > best:
                    best = distance
        start = end
    return best


@njit(nogil=True, cache=True)
def largest_distance(points, candidates):  # pragma: no cover - compiled
    """Largest squared distance between two of the ``candidates`` (indices into ``points``)."""
    best = 0.0
    for i in range(candidates.shape[0]):
        for j in range(i + 1, candidates.shape[0]):
            distance = _squared(points[candidates[i]], points[candidates[j]])
            if distance > best:
                best = distance
    return best


def diameters(points: np.ndarray) -> np.ndarray:
    """pyradiomics' four diameters (same z, same y, same x, any) of the mesh vertices."""
    from scipy.spatial import ConvexHull, QhullError

    squared = [plane_maxima(points, np.argsort(points[:, axis], kind="stable"), axis) for axis in range(3)]
    candidates = np.arange(len(points))
    if len(points) > 64:
        with contextlib.suppress(QhullError, ValueError):  # flat or degenerate: every vertex stays a candidate
            candidates = np.sort(ConvexHull(points).vertices)
    squared.append(largest_distance(points, candidates))
    return np.sqrt(np.array(squared))


def coefficients(mask: np.ndarray, spacing: np.ndarray) -> tuple[float, float, np.ndarray]:
    """What ``cShape.calculate_coefficients(mask, spacing)`` returns: surface area, volume, diameters."""
    area, volume, slope = config_tables(tuple(float(s) for s in spacing))
    total_area, total_volume = mesh_sums(np.ascontiguousarray(mask, dtype=np.bool_),
                                         np.asarray(spacing, dtype=np.float64), area, volume, slope)
    return total_area, total_volume, diameters(mesh_vertices(mask, np.asarray(spacing, dtype=np.float64)))


@functools.cache
def shape_class() -> type:
    """pyradiomics' ``RadiomicsShape`` whose mesh coefficients come from ``coefficients``."""
    from radiomics import shape

    class FastShape(shape.RadiomicsShape):
        def _initSegmentBasedCalculation(self) -> None:  # noqa: N802 - pyradiomics' name
            """pyradiomics' own steps (pad by one voxel, coefficients, eigenvalues of the voxel coordinates)."""
            self.pixelSpacing = np.array(self.inputImage.GetSpacing()[::-1])
            self.maskArray = np.pad(sitk.GetArrayFromImage(self.inputMask), 1) == self.label
            self.labelledVoxelCoordinates = np.where(self.maskArray != 0)
            self.SurfaceArea, self.Volume, self.diameters = coefficients(self.maskArray, self.pixelSpacing)
            count = len(self.labelledVoxelCoordinates[0])
            physical = (np.array(self.labelledVoxelCoordinates, dtype="int").transpose((1, 0))
                        * self.pixelSpacing[None, :])
            physical -= np.mean(physical, axis=0)
            physical /= np.sqrt(count)
            self.eigenValues = np.linalg.eigvals(np.dot(physical.T.copy(), physical))
            machine_errors = np.bitwise_and(self.eigenValues < 0, self.eigenValues > -1e-10)
            self.eigenValues[machine_errors] = 0
            self.eigenValues.sort()

    FastShape.__name__ = "RadiomicsShape"
    FastShape.__module__ = shape.RadiomicsShape.__module__
    return FastShape


def warm_up() -> None:
    """Compile (or load from the cache) the kernels: before worker processes fork."""
    mask = np.zeros((4, 4, 4), dtype=bool)
    mask[1:3, 1:3, 1:3] = True
    tables = (np.zeros(256), np.zeros(256), np.zeros((256, 3)))
    mesh_sums(mask, np.ones(3), *tables)
    points = mesh_vertices(mask, np.ones(3))
    plane_maxima(points, np.argsort(points[:, 0]), 0)
    largest_distance(points, np.arange(len(points)))
