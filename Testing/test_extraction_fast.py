"""The fast path's pieces against what they replace: LBP-3D images, mesh coefficients, bounding boxes, kernels.

LBP-3D images must be bit-for-bit pyradiomics' (a sample >= centre test turns a last-bit difference into a
different pattern); matrix counts are integers and must be identical; the mesh sums may differ by the
order of floating-point additions only (1e-12 relative).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from AxillaryPredictorLib.extraction import engine
from AxillaryPredictorLib.extraction.fast import kernels, lbp3d, shape, texture
from AxillaryPredictorLib.extraction.profiles import load_profile
from AxillaryPredictorLib.imaging.preprocessing import prepare_view
from AxillaryPredictorLib.imaging.regions import build_regions

BREAST1 = Path(__file__).parent / "fixtures" / "pyradiomics_breast1"
logging.getLogger("radiomics").setLevel(logging.ERROR)


@pytest.fixture(scope="module")
def breast1_view():
    """breast1 preprocessed as he2025-dbt does (1 mm, normalized), with tumor + 3/5 mm regions."""
    image = sitk.ReadImage(str(BREAST1 / "breast1_image.nrrd"))
    label = sitk.Cast(sitk.ReadImage(str(BREAST1 / "breast1_label.nrrd")) == 1, sitk.sitkUInt8)
    return prepare_view(image, build_regions(label, (3, 5)), load_profile("he2025-dbt"), view="V")


def test_lbp3d_images_are_pyradiomics_bit_for_bit(breast1_view):
    from radiomics import imageoperations

    if engine.lbp3d_unavailable():
        pytest.skip(engine.lbp3d_unavailable())
    boxes, _ = engine._check_regions(breast1_view, {"label": 1})
    union = engine._union(breast1_view, boxes)
    inside = sitk.GetArrayViewFromImage(union) == 1
    ours = list(lbp3d.lbp3d_images(breast1_view.image, union))
    theirs = list(imageoperations.getLBP3DImage(breast1_view.image, union))
    assert [name for _, name, _ in ours] == [name for _, name, _ in theirs] == ["lbp-3D-m1", "lbp-3D-m2", "lbp-3D-k"]
    for (mine, _, _), (reference, _, _) in zip(ours, theirs, strict=True):
        assert np.array_equal(sitk.GetArrayViewFromImage(mine)[inside], sitk.GetArrayViewFromImage(reference)[inside])
    assert inside.sum() > 1000


def test_lbp3d_sampling_matches_scipy_at_the_border():
    """Samples within 2 voxels of the edge (mirrored taps) and outside it (0), float32 as pyradiomics' images."""
    from scipy.ndimage import map_coordinates, spline_filter

    rng = np.random.default_rng(5)
    array = rng.normal(size=(5, 6, 7)).astype(np.float32)
    points = np.argwhere(np.ones(array.shape, dtype=bool))
    offsets = rng.uniform(-1.5, 1.5, size=(9, 3))
    ours = np.empty((len(points), len(offsets)), dtype=np.float32)
    lbp3d.cubic_samples(spline_filter(array, 3, output=np.float64, mode="constant"), points, offsets, ours)
    coordinates = points[None, :, :] + offsets[:, None, :]
    assert np.array_equal(ours, map_coordinates(array, coordinates.T, order=3))


def test_mesh_coefficients_equal_pyradiomics(breast1_view):
    from radiomics import cShape

    spacing = np.array(breast1_view.image.GetSpacing()[::-1])
    for mask in breast1_view.regions.values():
        padded = np.pad(sitk.GetArrayFromImage(mask), 1) == 1
        area, volume, diameters = cShape.calculate_coefficients(padded, spacing)
        ours = shape.coefficients(padded, spacing)
        np.testing.assert_allclose([ours[0], ours[1]], [area, volume], rtol=1e-12)
        assert np.array_equal(ours[2], np.asarray(diameters))  # maxima of the same distances: identical


def test_mesh_coefficients_of_a_flat_region_and_anisotropic_spacing():
    from radiomics import cShape

    mask = np.zeros((3, 9, 12), dtype=bool)
    mask[1, 2:7, 3:10] = True
    mask[1, 4, 5] = False
    spacing = np.array([2.5, 0.7, 0.9])
    area, volume, diameters = cShape.calculate_coefficients(mask, spacing)
    ours = shape.coefficients(mask, spacing)
    np.testing.assert_allclose([ours[0], ours[1]], [area, volume], rtol=1e-12)
    assert np.array_equal(ours[2], np.asarray(diameters))


def test_numpy_bounding_boxes_equal_check_mask(breast1_view):
    from radiomics import imageoperations

    for mask in breast1_view.regions.values():
        box = engine._numpy_box(breast1_view.image, mask, {"label": 1})
        assert np.array_equal(box, imageoperations.checkMask(breast1_view.image, mask, label=1)[0])
    single = sitk.Image(breast1_view.image.GetSize(), sitk.sitkUInt8)
    single.CopyInformation(breast1_view.image)
    single[3, 3, 3] = 1
    assert engine._numpy_box(breast1_view.image, single, {"label": 1}) is None  # checkMask's error is kept


@pytest.mark.parametrize("distances, alpha", [([1], 0), ([1, 2], 1)])
def test_fused_and_padded_kernels_count_what_the_separate_ones_do(distances, alpha):
    rng = np.random.default_rng(11)
    codes = rng.integers(0, 4, size=(7, 9, 8)).astype(np.int32)
    codes[0] = 0  # an empty slice: lines, zones and neighbourhoods cut by the region
    region = texture.Region("r", codes, codes[codes > 0].astype(float), np.unique(codes[codes > 0]), codes.shape)
    settings = {"distances": distances, "gldm_a": alpha}
    for class_name in ("glcm", "glrlm", "glszm", "gldm", "ngtdm"):
        texture.count_matrices([region], class_name, settings)
    _, unit = texture._angles(region, settings, [1], False)
    _, one_way = texture._angles(region, settings, distances, False)
    _, both_ways = texture._angles(region, settings, distances, True)
    _, zone_angles = texture._angles(region, settings, [1], True)
    expected = {"glcm": kernels.glcm(codes, one_way, 3), "glrlm": kernels.glrlm(codes, unit, 3, 9),
                "glszm": kernels.glszm(codes, zone_angles, 3), "gldm": kernels.gldm(codes, both_ways, 3, alpha),
                "ngtdm": kernels.ngtdm(codes, both_ways, 3)}
    for class_name, matrix in expected.items():
        assert np.array_equal(region.matrices[class_name][0], matrix), class_name
