"""Headless MRML scene on the real slicer-core: volumes, segmentations, conversions."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from AxillaryPredictorLib.scene import nodes as S


def _oblique_image(array: np.ndarray, spacing=(0.7, 0.8, 1.5), origin=(12.0, -30.5, 7.25)) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(sitk.VersorTransform((0.2, 0.3, 0.1, 0.9)).GetMatrix())
    return image


def _sphere(shape=(40, 44, 48), centre=(20, 22, 24), radius_vox=9.0) -> np.ndarray:
    k, j, i = np.indices(shape)
    return ((k - centre[0]) ** 2 + (j - centre[1]) ** 2 + (i - centre[2]) ** 2 <= radius_vox**2).astype(np.uint8)


def test_volume_node_from_array_has_the_image_geometry(headless):
    rng = np.random.default_rng(1)
    array = rng.normal(100, 20, (10, 12, 14)).astype(np.float32)
    image = _oblique_image(array)
    node = S.add_volume_node(headless.scene, image, "vol")
    # RAS geometry as Slicer reports it
    assert node.GetSpacing() == pytest.approx(image.GetSpacing())
    ras_origin = np.array(image.GetOrigin()) * [-1, -1, 1]
    assert node.GetOrigin() == pytest.approx(ras_origin)
    import vtk

    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    # voxel (i, j, k) = (3, 4, 5) maps to the same physical point in both conventions
    ras = np.array(matrix.MultiplyPoint((3, 4, 5, 1))[:3])
    lps = np.array(image.TransformIndexToPhysicalPoint((3, 4, 5)))
    assert ras == pytest.approx(lps * [-1, -1, 1])
    back = S.volume_node_to_image(node)
    assert np.array_equal(sitk.GetArrayFromImage(back), array)
    assert back.GetDirection() == pytest.approx(image.GetDirection())
    assert back.GetOrigin() == pytest.approx(image.GetOrigin())


def test_segmentation_round_trips_labelmap_voxels_and_geometry(headless):
    labels = _sphere()
    labels[2:6, 2:6, 2:6] = 2
    image = _oblique_image(labels)
    volume = S.add_volume_node(headless.scene, sitk.Cast(image, sitk.sitkFloat32), "ref")
    segmentation = S.add_segmentation_node(headless.scene, "seg", volume)
    mapping = S.import_label_image(segmentation, image, {1: "tumor", 2: "node"})
    assert sorted(mapping) == [1, 2]
    assert [segmentation.GetSegmentation().GetSegment(s).GetName() for s in S.segment_ids(segmentation)] == [
        "tumor", "node"]
    for label, name in ((1, "tumor"), (2, "node")):
        mask = S.segment_to_image(segmentation, name, volume)
        assert np.array_equal(sitk.GetArrayFromImage(mask), (labels == label).astype(np.uint8))
        assert mask.GetSpacing() == pytest.approx(image.GetSpacing())
        assert mask.GetOrigin() == pytest.approx(image.GetOrigin())
        assert mask.GetDirection() == pytest.approx(image.GetDirection())


def test_unknown_segment_error_lists_segments(headless):
    image = _oblique_image(_sphere())
    segmentation = S.add_segmentation_node(headless.scene, "seg")
    S.import_label_image(segmentation, image, {1: "tumor"})
    with pytest.raises(ValueError, match="Available segments: tumor"):
        S.segment_to_image(segmentation, "lesion")


def test_empty_label_image_is_refused(headless):
    segmentation = S.add_segmentation_node(headless.scene, "seg")
    with pytest.raises(ValueError, match="empty"):
        S.import_label_image(segmentation, _oblique_image(np.zeros((5, 5, 5), np.uint8)))


def test_closed_surface_encloses_the_segment_volume(headless):
    import vtk

    radius_mm = 9.0
    image = sitk.GetImageFromArray(_sphere(radius_vox=radius_mm))
    segmentation = S.add_segmentation_node(headless.scene, "seg")
    S.import_label_image(segmentation, image, {1: "tumor"})
    assert S.create_closed_surface(segmentation) > 100
    surface = segmentation.GetSegmentation().GetSegment(S.find_segment_id(segmentation, "tumor")) \
        .GetRepresentation("Closed surface")
    mass = vtk.vtkMassProperties()
    mass.SetInputData(surface)
    mass.Update()
    analytic = 4 / 3 * np.pi * radius_mm**3
    assert mass.GetVolume() == pytest.approx(analytic, rel=0.06)


def test_vtkitk_image_margin_grows_a_sphere(headless):
    import slicer
    import vtk
    from vtk.util import numpy_support

    radius, margin = 8.0, 3.0
    array = _sphere(shape=(40, 40, 40), centre=(20, 20, 20), radius_vox=radius)
    image_data = vtk.vtkImageData()
    image_data.SetDimensions(40, 40, 40)
    image_data.SetSpacing(1.0, 1.0, 1.0)
    image_data.GetPointData().SetScalars(numpy_support.numpy_to_vtk(array.ravel(), deep=True))
    grow = slicer.vtkITKImageMargin()
    grow.SetInputData(image_data)
    grow.SetCalculateMarginInMM(True)
    grow.SetOuterMarginMM(margin)
    grow.SetBackgroundValue(0)
    grow.Update()
    grown = numpy_support.vtk_to_numpy(grow.GetOutput().GetPointData().GetScalars()).reshape(array.shape)
    # Independent reference: Euclidean distance from each voxel centre to the nearest tumor voxel centre.
    from scipy import ndimage

    reference = ndimage.distance_transform_edt(array == 0) <= margin
    assert np.array_equal(grown.astype(bool), reference)
    expected = 4 / 3 * np.pi * (radius + margin) ** 3
    assert grown.astype(bool).sum() == pytest.approx(expected, rel=0.07)  # centre-to-centre rule: slightly narrow


def test_terminologies_logic_loads_its_contexts(headless):
    logic = headless.logic("Terminologies")
    assert logic.IsTerminologyContextLoaded("Segmentation category and type - 3D Slicer General Anatomy list")
    assert logic.IsTerminologyContextLoaded("Segmentation category and type - DICOM master list")


def test_scene_save_and_reload_restores_segments(headless, tmp_path):
    labels = _sphere()
    image = _oblique_image(labels)
    volume = S.add_volume_node(headless.scene, sitk.Cast(image, sitk.sitkFloat32), "ref")
    segmentation = S.add_segmentation_node(headless.scene, "seg", volume)
    S.import_label_image(segmentation, image, {1: "tumor"})
    mrml = S.save_scene(headless.scene, tmp_path / "saved")
    assert mrml.is_file()
    reloaded = S.load_scene(mrml)
    seg_nodes = reloaded.scene.GetNodesByClass("vtkMRMLSegmentationNode")
    vol_nodes = reloaded.scene.GetNodesByClass("vtkMRMLScalarVolumeNode")
    assert seg_nodes.GetNumberOfItems() == 1 and vol_nodes.GetNumberOfItems() == 1
    mask = S.segment_to_image(seg_nodes.GetItemAsObject(0), "tumor", vol_nodes.GetItemAsObject(0))
    assert np.array_equal(sitk.GetArrayFromImage(mask), labels)
    assert mask.GetDirection() == pytest.approx(image.GetDirection())


def test_logic_base_loads_a_phantom_case(headless):
    from AxillaryPredictorLib.phantoms import make_phantom
    from AxillaryPredictorLib.scene.logic import AxillaryPredictorLogicBase

    phantom = make_phantom("dbt-mlo", seed=3, node=True)
    logic = AxillaryPredictorLogicBase(headless.scene)
    volume, segmentation = logic.loadPhantomCase(phantom, name="Case")
    assert logic.segmentNames(segmentation) == ["tumor", "node"]
    for name, expected in (("tumor", phantom.tumor), ("node", phantom.node)):
        mask = logic.segmentMask(segmentation, name, volume)
        assert np.array_equal(sitk.GetArrayFromImage(mask), sitk.GetArrayFromImage(expected))
    assert logic.createClosedSurface(segmentation) > 0
    with pytest.raises(ValueError, match="Select a segmentation"):
        logic.segmentMask(None, "tumor")
