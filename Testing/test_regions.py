"""Tumor and peritumoral regions: analytic volumes, parity with Slicer's vtkITKImageMargin, invariants,
bad inputs, the scene adapter and the CLI."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import SimpleITK as sitk

from AxillaryPredictorLib.imaging.regions import (
    build_region_set,
    build_regions,
    margin_label,
    region_names,
    tissue_mask,
)
from AxillaryPredictorLib.phantoms import LesionSpec, make_phantom


def _array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image).astype(bool)


def _sphere(radius_mm: float, spacing: float, size: int) -> sitk.Image:
    centre = (size - 1) / 2
    k, j, i = np.indices((size, size, size))
    inside = ((k - centre) ** 2 + (j - centre) ** 2 + (i - centre) ** 2) * spacing**2 <= radius_mm**2
    image = sitk.GetImageFromArray(inside.astype(np.uint8))
    image.SetSpacing((spacing, spacing, spacing))
    return image


def slicer_margin(mask: sitk.Image, margin: float) -> np.ndarray:
    """Slicer's Margin effect filter (vtkITKImageMargin from slicer-core) on the mask's voxels and spacing."""
    import slicer
    import vtk
    from vtk.util import numpy_support

    array = sitk.GetArrayFromImage(mask).astype(np.uint8)
    data = vtk.vtkImageData()
    data.SetDimensions(*mask.GetSize())
    data.SetSpacing(*mask.GetSpacing())
    data.GetPointData().SetScalars(numpy_support.numpy_to_vtk(array.ravel(), deep=True,
                                                              array_type=vtk.VTK_UNSIGNED_CHAR))
    grow = slicer.vtkITKImageMargin()
    grow.SetInputData(data)
    grow.SetCalculateMarginInMM(True)
    grow.SetOuterMarginMM(margin)
    grow.SetBackgroundValue(0)
    grow.Update()
    return numpy_support.vtk_to_numpy(grow.GetOutput().GetPointData().GetScalars()).reshape(array.shape) != 0


def _check_invariants(regions: dict[str, sitk.Image], margins) -> None:
    tumor = _array(regions["tumor"])
    previous = tumor
    for margin in sorted(margins):
        label = margin_label(margin)
        ring, grown = _array(regions[f"margin{label}"]), _array(regions[f"tumor_margin{label}"])
        assert not (ring & tumor).any()
        assert np.array_equal(ring | tumor, grown)
        assert not (previous & ~grown).any()  # nested
        previous = grown


def test_names_and_margin_labels():
    assert region_names((3, 5, 10)) == ["tumor", "tumor_margin3mm", "margin3mm", "tumor_margin5mm", "margin5mm",
                                        "tumor_margin10mm", "margin10mm"]
    assert margin_label(2.5) == "2p5mm" and region_names([3], node=True)[-1] == "node"


def test_sphere_ring_volumes_match_the_analytic_shell():
    radius = 10.0
    region_set = build_region_set(_sphere(radius, 0.5, 100), (3, 5, 10))
    deviations = {}
    for margin in (3, 5, 10):
        analytic = 4 / 3 * np.pi * ((radius + margin) ** 3 - radius**3)
        measured = region_set.reports[f"margin{margin}mm"].volume_mm3
        deviations[margin] = measured / analytic - 1
        assert measured == pytest.approx(analytic, rel=0.05)
    assert deviations[3] < 0  # voxel-centre rule: rings come out slightly narrow (docs/regions.md)


@pytest.mark.parametrize(("preset", "lesion"), [
    ("dce", LesionSpec(diameter_mm=16, spiculation=0.4)),  # anisotropic 0.7 x 0.7 x 1.5 mm
    ("dbt-mlo", LesionSpec(diameter_mm=12, lobulation=0.3)),  # oblique direction
    ("us", LesionSpec(diameter_mm=14)),  # single slice
])
def test_parity_with_slicer_margin_effect_and_invariants(preset, lesion):
    phantom = make_phantom(preset, seed=5, lesion=lesion)
    regions = build_regions(phantom.tumor, (3, 5, 10))
    for margin in (3, 5, 10):
        ours = _array(regions[f"tumor_margin{margin}mm"])
        assert np.array_equal(ours, slicer_margin(phantom.tumor, margin)), f"{margin} mm differs from Slicer"
        assert regions[f"margin{margin}mm"].GetDirection() == phantom.tumor.GetDirection()
    _check_invariants(regions, (3, 5, 10))


_OBLIQUE = (0.8660254037844387, 0.0, 0.5, 0.0, 1.0, 0.0, -0.5, 0.0, 0.8660254037844387)


@pytest.fixture(scope="module")
def spiculated_tumor() -> np.ndarray:
    return sitk.GetArrayFromImage(make_phantom("dce", seed=5, lesion=LesionSpec(diameter_mm=16, spiculation=0.4))
                                  .tumor).astype(np.uint8)


@pytest.mark.parametrize("spacing", [(0.8, 0.6, 1.7), (0.7, 0.7, 1.5), (0.65, 0.9, 2.2), (0.45, 0.55, 1.1)])
@pytest.mark.parametrize("direction", ["axis-aligned", "oblique"])
def test_parity_with_slicer_margin_effect_on_anisotropic_grids(spiculated_tumor, spacing, direction):
    """Voxel for voxel on grids where the crop to the tumor's box used to round ties differently
    from the whole image (9 of 15,204 voxels at 0.8 x 0.6 x 1.7 mm, 5 mm), also with the lesion at
    the image's first corner so the margins leave the image."""
    lesion_at_corner = spiculated_tumor[tuple(slice(int(np.nonzero(spiculated_tumor.any(axis=tuple(
        b for b in range(3) if b != a)))[0].min()) - 2, None) for a in range(3))]
    for array in (spiculated_tumor, lesion_at_corner):
        mask = sitk.GetImageFromArray(array)
        mask.SetSpacing(spacing)
        if direction == "oblique":
            mask.SetDirection(_OBLIQUE)
        regions = build_regions(mask, (3, 5, 10))
        for margin in (3, 5, 10):
            ours = _array(regions[f"tumor_margin{margin}mm"])
            differing = int(np.count_nonzero(ours != slicer_margin(mask, margin)))
            assert differing == 0, f"{margin} mm at {spacing}: {differing} voxels differ from Slicer"
        _check_invariants(regions, (3, 5, 10))


def test_two_dimensional_images_grow_in_plane_only():
    phantom = make_phantom("us", seed=1)
    planar = sitk.Extract(phantom.tumor, (*phantom.tumor.GetSize()[:2], 0), (0, 0, 0))
    regions = build_regions(planar, (3,))
    assert regions["tumor"].GetDimension() == 2
    _check_invariants(build_regions(planar, (3, 5, 10)), (3, 5, 10))
    assert np.array_equal(_array(regions["tumor_margin3mm"]), _array(build_regions(phantom.tumor, (3,))
                                                                     ["tumor_margin3mm"])[0])


def test_components_largest_and_all_are_reported():
    array = np.zeros((30, 40, 40), np.uint8)
    array[5:15, 5:15, 5:15] = 1
    array[20:23, 30:33, 30:33] = 1
    mask = sitk.GetImageFromArray(array)
    largest = build_region_set(mask, (1,))
    assert largest.components["count"] == 2 and largest.components["discarded_mm3"] == [27.0]
    assert _array(largest.images["tumor"]).sum() == 1000 and "discarded" in largest.warnings[0]
    everything = build_region_set(mask, (1,), components="all")
    assert _array(everything.images["tumor"]).sum() == 1027 and not everything.warnings
    for region_set in (largest, everything):
        _check_invariants(region_set.images, (1,))


def test_scene_shows_the_lesion_component_the_regions_were_grown_from(headless):
    from AxillaryPredictorLib.scene.logic import AxillaryPredictorLogicBase
    from AxillaryPredictorLib.scene.nodes import add_volume_node, import_label_image, segment_to_image

    array = np.zeros((30, 40, 40), np.uint8)
    array[5:15, 5:15, 5:15] = 1
    array[20:23, 30:33, 30:33] = 1
    mask = sitk.GetImageFromArray(array)
    image = sitk.GetImageFromArray(np.random.default_rng(0).normal(100, 10, array.shape).astype(np.float32))
    logic = AxillaryPredictorLogicBase(headless.scene)
    volume = add_volume_node(headless.scene, image, "two lesions")
    segmentation = headless.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "seg")
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    import_label_image(segmentation, mask, {1: "tumor"})
    logic.buildRegions(segmentation, "tumor", volume, "1")
    assert "tumor_largest_component" in logic.segmentNames(segmentation)
    used = sitk.GetArrayFromImage(segment_to_image(segmentation, "tumor_largest_component", volume))
    assert used.sum() == 1000 and used[5:15, 5:15, 5:15].all()
    assert sitk.GetArrayFromImage(segment_to_image(segmentation, "tumor", volume)).sum() == 1027  # untouched


def test_allowed_mask_and_image_border_are_reported():
    phantom = make_phantom("dce", seed=2, lesion=LesionSpec(diameter_mm=20))
    allowed = tissue_mask(phantom.image, exclude_below=float(np.percentile(sitk.GetArrayViewFromImage(phantom.image),
                                                                           40)))
    region_set = build_region_set(phantom.tumor, (3, 10), allowed_mask=allowed)
    report = region_set.reports["margin10mm"]
    assert 0 < report.clipped_fraction < 1
    assert not (_array(region_set.images["margin10mm"]) & ~_array(allowed)).any()
    assert np.array_equal(_array(region_set.images["tumor"]), _array(phantom.tumor))  # the tumor is never clipped
    _check_invariants(region_set.images, (3, 10))
    # a lesion at the image edge: the margin leaves the image and is reported, not silently truncated
    array = np.zeros((20, 20, 20), np.uint8)
    array[0:4, 8:12, 8:12] = 1
    edge = build_region_set(sitk.GetImageFromArray(array), (3,))
    assert edge.reports["margin3mm"].border_fraction > 0.1 and "leaves the image" in edge.warnings[0]


def test_node_passes_through():
    phantom = make_phantom("dce", seed=2, node=True)
    regions = build_regions(phantom.tumor, (3,), node_mask=phantom.node)
    assert np.array_equal(_array(regions["node"]), _array(phantom.node))


def test_bad_inputs_give_clear_errors_and_leave_inputs_unchanged():
    phantom = make_phantom("dce", seed=1)
    before = sitk.GetArrayFromImage(phantom.tumor).copy()
    empty = sitk.Image(phantom.tumor.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(phantom.tumor)
    with pytest.raises(ValueError, match="tumor mask is empty"):
        build_regions(empty)
    labels = sitk.Add(phantom.tumor, sitk.Multiply(sitk.Cast(phantom.labels == 2, sitk.sitkUInt8), 2))
    with pytest.raises(ValueError, match=r"several labels \(1, 2\).*label=N"):
        build_regions(labels)
    assert _array(build_regions(labels, (3,), label=1)["tumor"]).sum() == before.sum()
    with pytest.raises(ValueError, match="outside the supported range"):
        build_regions(phantom.tumor, (40,))
    with pytest.raises(ValueError, match="not feasible at the current resolution"):
        build_regions(phantom.tumor, (0.6,))
    with pytest.raises(ValueError, match="numbers in mm"):
        build_regions(phantom.tumor, "3,five")
    shifted = sitk.Image(phantom.tumor)
    shifted.SetOrigin([o + 1.0 for o in phantom.tumor.GetOrigin()])
    with pytest.raises(ValueError, match=r"different grids \(origin"):
        build_regions(phantom.tumor, (3,), allowed_mask=shifted)
    resampled = build_regions(phantom.tumor, (3,), allowed_mask=sitk.Cast(shifted * 0 + 1, sitk.sitkUInt8),
                              tolerance=2.0)
    assert "margin3mm" in resampled
    assert np.array_equal(sitk.GetArrayFromImage(phantom.tumor), before)


def test_scene_segments_round_trip_and_rerun_replaces_only_our_segments(headless):
    from AxillaryPredictorLib.scene.logic import AxillaryPredictorLogicBase
    from AxillaryPredictorLib.scene.nodes import segment_to_image
    from AxillaryPredictorLib.scene.regions import REGION_TAG, created_segments

    phantom = make_phantom("dbt-mlo", seed=4, node=True)
    logic = AxillaryPredictorLogicBase(headless.scene)
    volume, segmentation = logic.loadPhantomCase(phantom)
    tumor_before = sitk.GetArrayFromImage(segment_to_image(segmentation, "tumor", volume))
    region_set = logic.buildRegions(segmentation, "tumor", volume, "3,5,10")
    names = logic.segmentNames(segmentation)
    assert names[:2] == ["tumor", "node"] and set(names[2:]) == set(region_names((3, 5, 10))[1:])
    for name in names[2:]:
        from_scene = sitk.GetArrayFromImage(segment_to_image(segmentation, name, volume))
        assert np.array_equal(from_scene, sitk.GetArrayFromImage(region_set.images[name])), name
        assert np.array_equal(from_scene.astype(bool), slicer_margin(phantom.tumor, float(name.split("margin")[1][:-2]))
                              & ~(tumor_before.astype(bool) if name.startswith("margin") else False))
    logic.buildRegions(segmentation, "tumor", volume, "3")
    assert logic.segmentNames(segmentation) == ["tumor", "node", "tumor_margin3mm", "margin3mm"]
    assert np.array_equal(sitk.GetArrayFromImage(segment_to_image(segmentation, "tumor", volume)), tumor_before)
    segment = segmentation.GetSegmentation().GetSegment(created_segments(segmentation)["margin3mm"])
    assert segment.HasTag(REGION_TAG)


def test_seg_nrrd_written_by_slicer_reads_back_on_the_image_grid(headless, tmp_path):
    from AxillaryPredictorLib.imaging.io import read_mask, segment_names
    from AxillaryPredictorLib.scene.logic import AxillaryPredictorLogicBase
    from AxillaryPredictorLib.scene.nodes import save_node

    phantom = make_phantom("dce", seed=6, node=True)
    _, segmentation = AxillaryPredictorLogicBase(headless.scene).loadPhantomCase(phantom)
    path = save_node(segmentation, tmp_path / "case.seg.nrrd")
    assert set(segment_names(path)) == {"tumor", "node"}
    for name, expected in (("tumor", phantom.tumor), ("node", phantom.node)):
        mask = read_mask(path, segment=name, reference=phantom.image)
        assert np.array_equal(sitk.GetArrayFromImage(mask), sitk.GetArrayFromImage(expected))
    with pytest.raises(ValueError, match="choose one with segment=NAME"):
        read_mask(path)
    with pytest.raises(ValueError, match="segments: tumor, node"):
        read_mask(path, segment="lesion")


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_writes_regions_and_report_without_touching_inputs(tmp_path, capsys):
    from AxillaryPredictorLib.cli.main import main

    paths = make_phantom("dce", seed=3).write(tmp_path / "in", "case7")
    before = {role: _digest(p) for role, p in paths.items()}
    code = main(["regions", "--image", str(paths["image"]), "--mask", str(paths["tumor"]), "--margins", "3,5",
                 "--exclude-below", "50", "--out", str(tmp_path / "out")])
    assert code == 0
    report = json.loads((tmp_path / "out" / "regions.json").read_text(encoding="utf-8"))
    assert report["case_id"] == "case7_image" and report["settings"]["margins_mm"] == [3.0, 5.0]
    assert set(report["regions"]) == {"tumor", "tumor_margin3mm", "margin3mm", "tumor_margin5mm", "margin5mm"}
    for name, entry in report["regions"].items():
        written = sitk.ReadImage(str(tmp_path / "out" / f"{name}.nrrd"))
        assert int(sitk.GetArrayViewFromImage(written).sum()) == entry["voxels"]
    assert {role: _digest(p) for role, p in paths.items()} == before
    assert main(["regions", "--image", str(paths["image"]), "--mask", str(paths["labels"]), "--out",
                 str(tmp_path / "bad")]) == 2
    assert "--label N" in capsys.readouterr().err


def test_image_reading_rgb_ultrasound_4d_phases_and_dicom(tmp_path):
    from AxillaryPredictorLib.imaging.io import read_image, select_phase, to_grayscale

    rgb = sitk.Compose([sitk.Image([8, 6], sitk.sitkUInt8) + v for v in (100, 50, 10)])
    grey = to_grayscale(rgb)
    assert sitk.GetArrayViewFromImage(grey)[0, 0] == pytest.approx(0.299 * 100 + 0.587 * 50 + 0.114 * 10, rel=1e-6)
    phases = sitk.JoinSeries([sitk.Image([5, 5, 4], sitk.sitkFloat32) + v for v in (0, 10, 20)])
    sitk.WriteImage(phases, str(tmp_path / "dce4d.nrrd"))
    with pytest.raises(ValueError, match="3 phases"):
        read_image(tmp_path / "dce4d.nrrd")
    assert sitk.GetArrayViewFromImage(read_image(tmp_path / "dce4d.nrrd", phase=2)).max() == 20
    with pytest.raises(ValueError, match="phases 0 to 2"):
        select_phase(phases, 3)
    phantom = make_phantom("dce", seed=1)
    series = tmp_path / "dicom"
    series.mkdir()
    volume = sitk.Cast(phantom.image, sitk.sitkInt16)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(volume.GetDepth()):
        slice_image = volume[:, :, k]
        slice_image.SetMetaData("0020|000e", "1.2.826.0.1.3680043.2.1125.1.1")
        slice_image.SetMetaData("0020|0032", "\\\\".join(map(str, volume.TransformIndexToPhysicalPoint((0, 0, k)))))
        slice_image.SetMetaData("0020|0013", str(k))
        writer.SetFileName(str(series / f"{k:03d}.dcm"))
        writer.Execute(slice_image)
    read = read_image(series)
    assert read.GetSize() == volume.GetSize()
    assert np.array_equal(sitk.GetArrayFromImage(read), sitk.GetArrayFromImage(volume))


def test_regions_can_go_to_a_separate_segmentation_node(headless):
    from AxillaryPredictorLib.scene.logic import AxillaryPredictorLogicBase
    from AxillaryPredictorLib.scene.nodes import add_segmentation_node

    logic = AxillaryPredictorLogicBase(headless.scene)
    volume, segmentation = logic.loadPhantomCase(make_phantom("dce", seed=2))
    target = add_segmentation_node(headless.scene, "regions", volume)
    logic.buildRegions(segmentation, "tumor", volume, "3", targetSegmentationNode=target)
    assert logic.segmentNames(segmentation) == ["tumor"]
    assert logic.segmentNames(target) == ["tumor_margin3mm", "margin3mm"]


def test_cli_refuses_a_mask_on_another_grid_unless_a_tolerance_allows_resampling(tmp_path, capsys):
    from AxillaryPredictorLib.cli.main import main

    phantom = make_phantom("dce", seed=3)
    files = phantom.write(tmp_path, "c")
    coarse = sitk.Resample(phantom.tumor, [int(s * 0.7) for s in phantom.tumor.GetSize()], sitk.Transform(),
                           sitk.sitkNearestNeighbor, phantom.tumor.GetOrigin(),
                           [s / 0.7 for s in phantom.tumor.GetSpacing()], phantom.tumor.GetDirection(), 0,
                           sitk.sitkUInt8)
    sitk.WriteImage(coarse, str(tmp_path / "coarse.nrrd"))
    before = (tmp_path / "coarse.nrrd").read_bytes()
    assert main(["regions", "--image", str(files["image"]), "--mask", str(tmp_path / "coarse.nrrd"), "--margins",
                 "3", "--out", str(tmp_path / "refused")]) == 2
    error = capsys.readouterr().err
    assert "mask coarse.nrrd and the image are on different grids (size" in error and "--tolerance MM" in error
    assert not (tmp_path / "refused").exists() and (tmp_path / "coarse.nrrd").read_bytes() == before
    assert main(["regions", "--image", str(files["image"]), "--mask", str(tmp_path / "coarse.nrrd"), "--margins",
                 "3", "--tolerance", "2", "--out", str(tmp_path / "resampled")]) == 0
    tumor = sitk.ReadImage(str(tmp_path / "resampled" / "tumor.nrrd"))
    assert tumor.GetSize() == phantom.image.GetSize()


def _write_dicom_phases(folder, volume: sitk.Image, series_uid: str, tag: str | None, phases: int = 2) -> None:
    """``phases`` volumes (volume + 100·p) interleaved in ONE DICOM series, told apart by ``tag``."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for p in range(phases):
        phase_volume = volume + 100 * p
        for k in range(volume.GetDepth()):
            slice_image = phase_volume[:, :, k]
            slice_image.SetMetaData("0020|000e", series_uid)
            slice_image.SetMetaData("0008|0018", f"{series_uid}.{p}.{k}")
            slice_image.SetMetaData("0020|0032", "\\".join(map(str, volume.TransformIndexToPhysicalPoint((0, 0, k)))))
            slice_image.SetMetaData("0020|0037", "1\\0\\0\\0\\1\\0")
            slice_image.SetMetaData("0020|0013", str(p * volume.GetDepth() + k + 1))
            if tag is not None:
                slice_image.SetMetaData(tag, str(p + 1))
            writer.SetFileName(str(folder / f"{series_uid[-3:]}_{k:03d}_{p}.dcm"))  # phases interleaved by name
            writer.Execute(slice_image)


@pytest.mark.parametrize("tag", ["0020|0100", "0020|0012", "0018|1060"])
def test_dicom_multi_phase_series_and_series_choice(tmp_path, tag):
    """A DCE series holding two volumes in one SeriesInstanceUID: read_image(folder, phase=N) reads one
    phase (grouped by TemporalPositionIdentifier, else AcquisitionNumber, else TriggerTime); a folder
    with several series needs series=UID."""
    from AxillaryPredictorLib.imaging.io import read_image

    volume = sitk.Cast(make_phantom("dce", seed=1).image, sitk.sitkInt16)[:, :, 10:22]
    folder = tmp_path / "dce"
    _write_dicom_phases(folder, volume, "1.2.826.0.1.3680043.2.1125.9.1", tag)
    with pytest.raises(ValueError, match="holds 2 phases"):
        read_image(folder)
    with pytest.raises(ValueError, match="phases 0 to 1"):
        read_image(folder, phase=2)
    for phase in (0, 1):
        read = read_image(folder, phase=phase)
        assert read.GetSize() == volume.GetSize()
        assert np.allclose(read.GetOrigin(), volume.GetOrigin(), atol=1e-4)
        assert np.array_equal(sitk.GetArrayFromImage(read), sitk.GetArrayFromImage(volume) + 100 * phase)
    _write_dicom_phases(folder, volume, "1.2.826.0.1.3680043.2.1125.9.2", None, phases=1)  # a second series
    with pytest.raises(ValueError, match="holds 2 DICOM series"):
        read_image(folder, phase=1)
    single = read_image(folder, series="1.2.826.0.1.3680043.2.1125.9.2", phase=1)  # phase: ignored for one volume
    assert np.array_equal(sitk.GetArrayFromImage(single), sitk.GetArrayFromImage(volume))
    assert np.array_equal(sitk.GetArrayFromImage(read_image(folder, series="1.2.826.0.1.3680043.2.1125.9.1",
                                                            phase=1)), sitk.GetArrayFromImage(volume) + 100)
    with pytest.raises(ValueError, match="is not in"):
        read_image(folder, series="1.2.3")


def test_write_texts_atomic_leaves_no_partial_or_stale_set(tmp_path, monkeypatch):
    import os

    from AxillaryPredictorLib.files import write_texts_atomic

    targets = [tmp_path / "a.json", tmp_path / "a.csv"]
    write_texts_atomic([(targets[0], "old json"), (targets[1], "old csv")])
    assert [p.read_text(encoding="utf-8") for p in targets] == ["old json", "old csv"]
    real, calls = os.replace, []

    def fail_second(source, target):
        calls.append(target)
        if len(calls) == 2:
            raise OSError("disk gone")
        real(source, target)

    monkeypatch.setattr(os, "replace", fail_second)
    with pytest.raises(OSError, match="disk gone"):
        write_texts_atomic([(targets[0], "new json"), (targets[1], "new csv")])
    assert list(tmp_path.iterdir()) == []  # neither the new half-set, nor the old set, nor temporary files


def test_a_mask_of_another_dimension_is_refused_with_both_dimensions_named(tmp_path, capsys):
    from AxillaryPredictorLib.cli.main import main
    from AxillaryPredictorLib.errors import InputError
    from AxillaryPredictorLib.imaging.regions import match_grid

    image = sitk.Image([16, 16], sitk.sitkFloat32)
    mask = sitk.Image([16, 16, 4], sitk.sitkUInt8)
    mask[8, 8, 2] = 1
    for tolerance in (None, 2.0):
        with pytest.raises(InputError, match=r"is 3D \(size \(16, 16, 4\)\) but the image is 2D.*same dimension"):
            match_grid(mask, image, "mask m.nrrd", tolerance, against="image")
    sitk.WriteImage(image, str(tmp_path / "image.nrrd"))
    sitk.WriteImage(mask, str(tmp_path / "mask.nrrd"))
    code = main(["regions", "--image", str(tmp_path / "image.nrrd"), "--mask", str(tmp_path / "mask.nrrd"),
                 "--margins", "3", "--tolerance", "2", "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert code == 2 and "is 3D" in error and "is 2D" in error and "broadcast" not in error
    assert "Traceback" not in error and not (tmp_path / "out").exists()


@pytest.mark.parametrize("tolerance", ["nan", "inf", "-1"])
def test_a_tolerance_that_is_not_a_finite_distance_is_refused(tmp_path, capsys, tolerance):
    from AxillaryPredictorLib.cli.main import main
    from AxillaryPredictorLib.errors import InputError
    from AxillaryPredictorLib.imaging.regions import match_grid

    phantom = make_phantom("dce", seed=3)
    far = sitk.Image(phantom.tumor)
    far.SetOrigin([o + 500 for o in phantom.tumor.GetOrigin()])  # another place entirely: never resampled
    with pytest.raises(InputError, match="finite distance in mm"):
        match_grid(far, phantom.tumor, "mask", float(tolerance))
    with pytest.raises(InputError, match="finite distance in mm"):
        build_region_set(phantom.tumor, (3,), tolerance=float(tolerance))
    files = phantom.write(tmp_path, "c")
    sitk.WriteImage(far, str(tmp_path / "far.nrrd"))
    code = main(["regions", "--image", str(files["image"]), "--mask", str(tmp_path / "far.nrrd"), "--margins", "3",
                 f"--tolerance={tolerance}", "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert code == 2 and "finite distance in mm" in error and not (tmp_path / "out").exists()
