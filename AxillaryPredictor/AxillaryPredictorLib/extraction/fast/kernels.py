"""numba kernels for pyradiomics' texture matrices of one region (segment-based, as ``_cmatrices``).

Every kernel takes the region's discretized image ``codes`` (3D int32 array of the region's bounding
box: gray level 1..Ng inside the region, 0 outside) and pyradiomics' own angle offsets (from
``cMatrices.generate_angles`` for the same bounding-box size; 2D images get a leading 0 offset) and
counts exactly what pyradiomics' C code counts, in the same voxel order (so float accumulations, the
NGTDM differences, add in the same order). Compiled with ``nogil`` (threads can share a view) and
``cache`` (compiled once per installation).

The engine uses the faster forms with the same counts: ``neighbour_matrices`` (GLCM, GLDM and NGTDM in one
pass over zero-padded codes), ``glszm_union`` (zones by union-find) and ``glrlm_lines`` (no bounds check per
voxel); the plain kernels remain the reference they are tested against (docs/extraction.md, Performance).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def glcm(codes, angles, ng):  # pragma: no cover - compiled
    """(Ng, Ng, Na) co-occurrence counts: voxel i with gray level g, neighbour i + a with h (both in the region)."""
    sz, sy, sx = codes.shape
    na = angles.shape[0]
    matrix = np.zeros((ng, ng, na))
    for z in range(sz):
        for y in range(sy):
            for x in range(sx):
                g = codes[z, y, x]
                if g == 0:
                    continue
                for a in range(na):
                    zz = z + angles[a, 0]
                    yy = y + angles[a, 1]
                    xx = x + angles[a, 2]
                    if 0 <= zz < sz and 0 <= yy < sy and 0 <= xx < sx:
                        h = codes[zz, yy, xx]
                        if h > 0:
                            matrix[g - 1, h - 1, a] += 1.0
    return matrix


@njit(nogil=True, cache=True)
def _run_line(codes, z, y, x, dz, dy, dx, matrix, a):  # pragma: no cover - compiled
    """Count the runs of one line (from voxel z, y, x along dz, dy, dx) into ``matrix[:, :, a]``; returns the
    number of region voxels on the line."""
    sz, sy, sx = codes.shape
    gl = -1
    rl = 0
    elements = 0
    while 0 <= z < sz and 0 <= y < sy and 0 <= x < sx:
        g = codes[z, y, x]
        if g > 0:
            elements += 1
            if gl == -1:
                gl = g
            elif g == gl:
                rl += 1
            else:
                matrix[gl - 1, rl, a] += 1.0
                gl = g
                rl = 0
        elif gl > -1:
            matrix[gl - 1, rl, a] += 1.0
            gl = -1
            rl = 0
        z += dz
        y += dy
        x += dx
    if gl > -1:
        matrix[gl - 1, rl, a] += 1.0
    return elements


@njit(nogil=True, cache=True)
def glrlm(codes, angles, ng, nr):  # pragma: no cover - compiled
    """(Ng, Nr, Na) run-length counts along each angle (index = run length - 1).

    Lines start at every voxel whose predecessor (voxel - angle) lies outside the bounding box (pyradiomics'
    start voxels for unit offsets); an angle in which no line holds more than one region voxel is zeroed,
    as pyradiomics does ("segmentation is 2D for this angle")."""
    sz, sy, sx = codes.shape
    na = angles.shape[0]
    matrix = np.zeros((ng, nr, na))
    for a in range(na):
        dz, dy, dx = angles[a, 0], angles[a, 1], angles[a, 2]
        multi = False
        for z in range(sz):
            inside_z = 0 <= z - dz < sz
            for y in range(sy):
                if inside_z and 0 <= y - dy < sy:  # only the row's first voxel along x can start a line
                    if dx != 0 and _run_line(codes, z, y, 0 if dx > 0 else sx - 1, dz, dy, dx, matrix, a) > 1:
                        multi = True
                    continue
                for x in range(sx):  # the predecessor of every voxel of this row is outside the box
                    if _run_line(codes, z, y, x, dz, dy, dx, matrix, a) > 1:
                        multi = True
        if not multi:
            matrix[:, 0, a] = 0.0
    return matrix


@njit(nogil=True, cache=True)
def _grow_zone(codes, angles, visited, stack, z, y, x):  # pragma: no cover - compiled
    """Size of the zone (same gray level, connected through ``angles``) of voxel z, y, x; marks it visited."""
    sz, sy, sx = codes.shape
    gl = codes[z, y, x]
    stack[0, 0], stack[0, 1], stack[0, 2] = z, y, x
    top = 1
    visited[z, y, x] = True
    size = 0
    while top > 0:
        top -= 1
        cz, cy, cx = stack[top, 0], stack[top, 1], stack[top, 2]
        size += 1
        for a in range(angles.shape[0]):
            zz, yy, xx = cz + angles[a, 0], cy + angles[a, 1], cx + angles[a, 2]
            if (0 <= zz < sz and 0 <= yy < sy and 0 <= xx < sx and codes[zz, yy, xx] == gl
                    and not visited[zz, yy, xx]):
                visited[zz, yy, xx] = True
                stack[top, 0], stack[top, 1], stack[top, 2] = zz, yy, xx
                top += 1
    return size


@njit(nogil=True, cache=True)
def glszm(codes, angles, ng):  # pragma: no cover - compiled
    """(Ng, largest zone) size-zone counts: zones are connected (via ``angles``, both directions given) voxels of
    one gray level."""
    sz, sy, sx = codes.shape
    visited = np.zeros((sz, sy, sx), dtype=np.bool_)
    count = max(int(np.sum(codes > 0)), 1)
    stack = np.empty((count, 3), dtype=np.int64)
    zone_levels = np.empty(count, dtype=np.int64)
    zone_sizes = np.empty(count, dtype=np.int64)
    zones = 0
    for z in range(sz):
        for y in range(sy):
            for x in range(sx):
                if codes[z, y, x] == 0 or visited[z, y, x]:
                    continue
                zone_levels[zones] = codes[z, y, x]
                zone_sizes[zones] = _grow_zone(codes, angles, visited, stack, z, y, x)
                zones += 1
    largest = 0
    for k in range(zones):
        largest = max(largest, zone_sizes[k])
    matrix = np.zeros((ng, largest))
    for k in range(zones):
        matrix[zone_levels[k] - 1, zone_sizes[k] - 1] += 1.0
    return matrix


@njit(nogil=True, cache=True)
def gldm(codes, angles, ng, alpha):  # pragma: no cover - compiled
    """(Ng, Na + 1) dependence counts: voxels of gray level g with d neighbours (``angles``, both directions given)
    in the region whose gray level differs by at most ``alpha``."""
    sz, sy, sx = codes.shape
    na = angles.shape[0]
    matrix = np.zeros((ng, na + 1))
    for z in range(sz):
        for y in range(sy):
            for x in range(sx):
                g = codes[z, y, x]
                if g == 0:
                    continue
                dependent = 0
                for a in range(na):
                    zz = z + angles[a, 0]
                    yy = y + angles[a, 1]
                    xx = x + angles[a, 2]
                    if 0 <= zz < sz and 0 <= yy < sy and 0 <= xx < sx:
                        h = codes[zz, yy, xx]
                        if h > 0 and abs(g - h) <= alpha:
                            dependent += 1
                matrix[g - 1, dependent] += 1.0
    return matrix


@njit(nogil=True, cache=True)
def ngtdm(codes, angles, ng):  # pragma: no cover - compiled
    """(Ng, 3): voxel count, sum of |g - mean of the neighbours in the region| and the gray level, per gray level
    (accumulated in pyradiomics' voxel and angle order)."""
    sz, sy, sx = codes.shape
    na = angles.shape[0]
    matrix = np.zeros((ng, 3))
    for g in range(ng):
        matrix[g, 2] = g + 1
    for z in range(sz):
        for y in range(sy):
            for x in range(sx):
                g = codes[z, y, x]
                if g == 0:
                    continue
                count = 0.0
                total = 0.0
                for a in range(na):
                    zz = z + angles[a, 0]
                    yy = y + angles[a, 1]
                    xx = x + angles[a, 2]
                    if 0 <= zz < sz and 0 <= yy < sy and 0 <= xx < sx:
                        h = codes[zz, yy, xx]
                        if h > 0:
                            count += 1.0
                            total += h
                diff = 0.0 if count == 0 else g - total / count
                if diff < 0:
                    diff = -diff
                matrix[g - 1, 0] += 1.0
                matrix[g - 1, 1] += diff
    return matrix


@njit(nogil=True, cache=True)
def _line_steps(start, step, size):  # pragma: no cover - compiled
    """How many voxels a line from ``start`` moving by ``step`` (-1, 0 or 1) has inside [0, size)."""
    if step > 0:
        return size - start
    if step < 0:
        return start + 1
    return 1 << 62  # no limit from this axis


@njit(nogil=True, cache=True)
def _count_runs(flat, i, stride, steps, matrix, a):  # pragma: no cover - compiled
    """``_run_line`` on the flat codes: the line of ``steps`` voxels from index ``i`` by ``stride``."""
    gl = -1
    rl = 0
    elements = 0
    for _ in range(steps):
        g = flat[i]
        if g > 0:
            elements += 1
            if gl == -1:
                gl = g
            elif g == gl:
                rl += 1
            else:
                matrix[gl - 1, rl, a] += 1.0
                gl = g
                rl = 0
        elif gl > -1:
            matrix[gl - 1, rl, a] += 1.0
            gl = -1
            rl = 0
        i += stride
    if gl > -1:
        matrix[gl - 1, rl, a] += 1.0
    return elements


@njit(nogil=True, cache=True)
def glrlm_lines(codes, angles, ng, nr):  # pragma: no cover - compiled
    """``glrlm`` for unit angles (every component -1, 0 or 1, as pyradiomics' GLRLM angles are) with each line's
    length computed beforehand instead of a bounds check per voxel: the same lines, voxels and counts."""
    sz, sy, sx = codes.shape
    flat = codes.ravel()
    na = angles.shape[0]
    matrix = np.zeros((ng, nr, na))
    for a in range(na):
        dz, dy, dx = angles[a, 0], angles[a, 1], angles[a, 2]
        stride = (dz * sy + dy) * sx + dx
        multi = False
        for z in range(sz):
            inside_z = 0 <= z - dz < sz
            steps_z = _line_steps(z, dz, sz)
            for y in range(sy):
                steps_zy = min(steps_z, _line_steps(y, dy, sy))
                if inside_z and 0 <= y - dy < sy:  # only the row's first voxel along x can start a line
                    if dx != 0:
                        x = 0 if dx > 0 else sx - 1
                        steps = min(steps_zy, _line_steps(x, dx, sx))
                        if _count_runs(flat, (z * sy + y) * sx + x, stride, steps, matrix, a) > 1:
                            multi = True
                    continue
                for x in range(sx):  # the predecessor of every voxel of this row is outside the box
                    steps = min(steps_zy, _line_steps(x, dx, sx))
                    if _count_runs(flat, (z * sy + y) * sx + x, stride, steps, matrix, a) > 1:
                        multi = True
        if not multi:
            matrix[:, 0, a] = 0.0
    return matrix


@njit(nogil=True, cache=True)
def _flat_offsets(shape, angles):  # pragma: no cover - compiled
    """Each angle as an offset in the C-order flat index of an array of ``shape``."""
    offsets = np.empty(angles.shape[0], dtype=np.int64)
    for a in range(angles.shape[0]):
        offsets[a] = (angles[a, 0] * shape[1] + angles[a, 1]) * shape[2] + angles[a, 2]
    return offsets


@njit(nogil=True, cache=True)
def neighbour_matrices(padded, pad, angles, glcm_angle, na_glcm, ng, alpha):  # pragma: no cover - compiled
    """GLCM (Ng, Ng, na_glcm), GLDM (Ng, Na + 1) and NGTDM (Ng, 3) of one region in one pass over its voxels.

    ``padded``: the region's codes with ``pad`` (>= the largest offset) zero voxels added on every side, so a
    neighbour outside the bounding box reads 0 (outside the region), as the bounds checks of ``glcm``, ``gldm``
    and ``ngtdm`` decide. ``angles``: the bidirectional angles (GLDM, NGTDM); ``glcm_angle[a]``: the index of angle
    ``a`` among GLCM's one-directional angles, or -1. Voxels and angles are visited in the same order as by the
    three kernels, so NGTDM's float sums add in the same order; the other counts are integers."""
    sz, sy, sx = padded.shape
    flat = padded.ravel()
    offsets = _flat_offsets(padded.shape, angles)
    na = angles.shape[0]
    glcm_counts = np.zeros((ng, ng, na_glcm))
    gldm_counts = np.zeros((ng, na + 1))
    ngtdm_sums = np.zeros((ng, 3))
    for g in range(ng):
        ngtdm_sums[g, 2] = g + 1
    for z in range(pad, sz - pad):
        for y in range(pad, sy - pad):
            row = (z * sy + y) * sx
            for x in range(pad, sx - pad):
                i = row + x
                g = flat[i]
                if g == 0:
                    continue
                dependent = 0
                count = 0.0
                total = 0.0
                for a in range(na):
                    h = flat[i + offsets[a]]
                    if h > 0:
                        if glcm_angle[a] >= 0:
                            glcm_counts[g - 1, h - 1, glcm_angle[a]] += 1.0
                        if abs(g - h) <= alpha:
                            dependent += 1
                        count += 1.0
                        total += h
                gldm_counts[g - 1, dependent] += 1.0
                diff = 0.0 if count == 0 else g - total / count
                if diff < 0:
                    diff = -diff
                ngtdm_sums[g - 1, 0] += 1.0
                ngtdm_sums[g - 1, 1] += diff
    return glcm_counts, gldm_counts, ngtdm_sums


@njit(nogil=True, cache=True)
def _root(parent, x):  # pragma: no cover - compiled
    """Root of ``x``'s set (path halving)."""
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@njit(nogil=True, cache=True)
def _join(parent, a, b):  # pragma: no cover - compiled
    """Merge the sets of ``a`` and ``b`` (the smaller root index becomes the root)."""
    a = _root(parent, a)
    b = _root(parent, b)
    if a < b:
        parent[b] = a
    elif b < a:
        parent[a] = b


@njit(nogil=True, cache=True)
def glszm_union(padded, angles, ng):  # pragma: no cover - compiled
    """``glszm`` by union-find in one pass over the codes padded with zeros (so a neighbour index is always inside
    the array and a padding voxel never joins a zone): each region voxel is joined to its neighbours of the same
    gray level that come before it (the angles with a negative flat offset: one direction of each pair, so every
    connected pair is seen once). Connectivity is symmetric, so the sets are the flood fill's zones."""
    flat = padded.ravel()
    offsets = _flat_offsets(padded.shape, angles)
    back = offsets[offsets < 0]
    voxels = np.nonzero(flat)[0]  # in C order
    parent = np.empty(flat.shape[0], dtype=np.int64)
    for i in voxels:
        parent[i] = i
        for o in back:
            if flat[i + o] == flat[i]:
                _join(parent, i, i + o)
    sizes = np.zeros(flat.shape[0], dtype=np.int64)
    for i in voxels:
        sizes[_root(parent, i)] += 1
    matrix = np.zeros((ng, sizes.max() if voxels.shape[0] else 0))
    for i in voxels:
        if parent[i] == i:
            matrix[flat[i] - 1, sizes[i] - 1] += 1.0
    return matrix


def warm_up() -> None:
    """Compile (or load from the cache) every kernel on a tiny region: before worker processes fork."""
    codes = np.ones((2, 2, 2), dtype=np.int32)
    codes[0, 0, 0] = 2
    angles = np.array([[0, 0, 1], [0, 0, -1]], dtype=np.int64)
    glcm(codes, angles, 2)
    glrlm(codes, angles[:1], 2, 2)
    glszm(codes, angles, 2)
    gldm(codes, angles, 2, 0)
    ngtdm(codes, angles, 2)
    glrlm_lines(codes, angles[:1], 2, 2)
    padded = np.pad(codes, 1)
    neighbour_matrices(padded, 1, angles, np.array([0, -1], dtype=np.int64), 1, 2, 0)
    glszm_union(padded, angles, 2)
