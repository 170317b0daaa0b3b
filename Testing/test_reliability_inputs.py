"""Bad and degenerate image/mask inputs (issue 17): a clear message naming the file, the cause and
the fix instead of an ITK dump, a refusal instead of a silent infinity, and a warning with the cause
instead of NaN or collapsed features without one."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest
import SimpleITK as sitk

from AxillaryPredictorLib.cli.main import main
from AxillaryPredictorLib.errors import ExtractionError, InputError, ModelError
from AxillaryPredictorLib.extraction.engine import extract
from AxillaryPredictorLib.extraction.profiles import load_profile
from AxillaryPredictorLib.imaging.io import read_image, read_mask
from AxillaryPredictorLib.imaging.regions import build_regions
from AxillaryPredictorLib.phantoms import LesionSpec, make_phantom
from AxillaryPredictorLib.phantoms.images import PRESETS

logging.getLogger("radiomics").setLevel(logging.ERROR)


@pytest.fixture(scope="module")
def phantom():
    return make_phantom("dce", seed=2, lesion=LesionSpec(diameter_mm=9))


def _like(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image


def _write_case(folder, phantom) -> tuple:
    image, mask = folder / "image.nrrd", folder / "mask.nrrd"
    sitk.WriteImage(phantom.image, str(image))
    sitk.WriteImage(phantom.tumor, str(mask))
    return image, mask


def _extract_cli(image, mask, out, *extra) -> int:
    return main(["extract", "--image", str(image), "--mask", str(mask), "--margins", "3", "--regions", "tumor",
                 "--workers", "1", "--out", str(out / "features.csv"), *extra])


def _assert_clear_error(err: str, *needles: str) -> None:
    """One 'error: ...' line: no traceback, no ITK source file/line, and the expected content."""
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and ".cxx" not in err and "Exception thrown in SimpleITK" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)


# ----------------------------------------------------------------------------- reading


@pytest.mark.parametrize("what", ["image", "mask"])
@pytest.mark.parametrize("damage", ["zero-byte", "truncated"])
def test_cli_unreadable_image_or_mask_names_the_file_cause_and_fix(tmp_path, capsys, phantom, what, damage):
    """Before: the first line of ITK's message, i.e. its source file and line, instead of the cause."""
    image, mask = _write_case(tmp_path, phantom)
    broken = image if what == "image" else mask
    data = broken.read_bytes()
    broken.write_bytes(b"" if damage == "zero-byte" else data[: len(data) // 2])
    out = tmp_path / "out"
    assert _extract_cli(image, mask, out) == 2
    cause = "the file is empty (0 bytes)" if damage == "zero-byte" else "the file is truncated or damaged"
    _assert_clear_error(capsys.readouterr().err, f"Cannot read the {what} {broken}: {cause}",
                        "save or copy the file again")
    assert not out.exists() or not any(out.iterdir())


def test_cli_a_probability_map_as_mask_is_refused_as_not_a_labelmap(tmp_path, capsys, phantom):
    """Before: a probability map in (0, 1) was taken as a mask (or refused as 'several labels (0, 0, ...)')."""
    image, _ = _write_case(tmp_path, phantom)
    tumor = sitk.GetArrayFromImage(phantom.tumor).astype(np.float32)
    probability = _like(tumor * np.linspace(0.3, 0.9, tumor.size, dtype=np.float32).reshape(tumor.shape),
                        phantom.tumor)
    mask = tmp_path / "probability.nrrd"
    sitk.WriteImage(probability, str(mask))
    out = tmp_path / "out"
    assert _extract_cli(image, mask, out) == 2
    _assert_clear_error(capsys.readouterr().err, "probability.nrrd is not a labelmap", "fractional values",
                        "probability map", "Threshold it into a labelmap")
    assert not out.exists() or not any(out.iterdir())


def test_a_labelmap_stored_as_float_is_still_accepted(tmp_path, phantom):
    path = tmp_path / "float-labels.nrrd"
    sitk.WriteImage(sitk.Cast(phantom.tumor, sitk.sitkFloat32), str(path))
    mask = read_mask(path, reference=phantom.image)
    assert np.array_equal(sitk.GetArrayViewFromImage(mask), sitk.GetArrayViewFromImage(phantom.tumor))


# -------------------------------------------------------------------------- degenerate


def test_float64_values_beyond_float32_are_refused(tmp_path, capsys, phantom):
    """Before: 1e300 passed the finiteness check, became inf in float32 and gave NaN features."""
    array = sitk.GetArrayFromImage(phantom.image).astype(np.float64)
    array[0, 0, 0] = 1e300
    huge = _like(array, phantom.image)
    with pytest.raises(InputError, match="beyond the 32-bit float range"):
        extract({"V": (huge, {"tumor": phantom.tumor})}, "zeng2025-dce-delta", workers=1)
    image, mask = _write_case(tmp_path, phantom)
    sitk.WriteImage(huge, str(image))
    out = tmp_path / "out"
    assert _extract_cli(image, mask, out) == 2
    _assert_clear_error(capsys.readouterr().err, "32-bit float range", "1e+300", "rescale")
    assert not out.exists() or not any(out.iterdir())


def test_a_single_intensity_image_says_why_its_features_are_nan(phantom):
    """Before: nine 'pyradiomics failed (ValueError: arange: cannot compute length)' warnings."""
    constant = _like(np.full(sitk.GetArrayViewFromImage(phantom.image).shape, 100, np.float32), phantom.image)
    result = extract({"V": (constant, {"tumor": phantom.tumor})}, "zeng2025-dce-delta", workers=1)
    assert np.isnan(result.features["tumor__V__original_firstorder_Mean"])
    assert not np.isnan(result.features["tumor__V__original_shape_VoxelVolume"])
    assert not any("arange" in w for w in result.warnings), result.warnings
    assert any("single intensity (100) everywhere" in w for w in result.warnings)
    assert any(w.startswith("V/tumor: the image's intensities are undefined") for w in result.warnings)


def test_one_extreme_voxel_is_reported_as_an_outlier(phantom):
    """Before: one voxel of 1e30 in the tumor collapsed the entropy without any warning."""
    array = sitk.GetArrayFromImage(phantom.image)
    k, j, i = np.argwhere(sitk.GetArrayViewFromImage(phantom.tumor))[0]
    array[k, j, i] = 1e30
    spiked = _like(array, phantom.image)
    normal = extract({"V": (phantom.image, {"tumor": phantom.tumor})}, "zeng2025-dce-delta", workers=1)
    result = extract({"V": (spiked, {"tumor": phantom.tumor})}, "zeng2025-dce-delta", workers=1)
    entropy = "tumor__V__original_firstorder_Entropy"
    assert result.features[entropy] < 0.5 * normal.features[entropy]  # the collapse the warning is about
    assert not any("outlier" in w for w in normal.warnings)
    outliers = [w for w in result.warnings if "outlier" in w]
    assert len(outliers) == 1 and "1 outlier voxel(s) (up to 1e+30)" in outliers[0]
    assert "in region(s) tumor" in outliers[0]


def test_an_outlier_inside_one_region_only_is_reported_for_that_region():
    """A region's own outliers (relative to the region) when the whole image does not show them: a
    homogeneous region (100 to 110) with one voxel of 500 in an image spread over 0 to 1000."""
    from AxillaryPredictorLib.imaging.preprocessing import intensity_warnings

    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1000, (20, 40, 40)).astype(np.float32)
    region = np.zeros(image.shape, np.uint8)
    region[5:15, 10:30, 10:30] = 1
    image[region != 0] = rng.uniform(100, 110, int(region.sum()))
    image[10, 20, 20] = 500
    mask = sitk.GetImageFromArray(region)
    warnings = intensity_warnings(sitk.GetImageFromArray(image), {"tumor": mask}, "V")
    assert len(warnings) == 1 and warnings[0].startswith("View 'V': region 'tumor' has 1 outlier voxel(s) (up to 500)")
    image[10, 20, 20] = 105
    assert intensity_warnings(sitk.GetImageFromArray(image), {"tumor": mask}, "V") == []


@pytest.mark.parametrize("preset", list(PRESETS))
def test_phantoms_raise_no_outlier_or_n4_warning(preset):
    """The outlier rule's false alarms: none on the phantoms of every preset, lesion size and seed tried."""
    from AxillaryPredictorLib.imaging.preprocessing import intensity_warnings, n4_warning

    for seed in range(3):
        for diameter in (4, 9, 20):
            phantom = make_phantom(preset, seed=seed, lesion=LesionSpec(diameter_mm=diameter))
            regions = build_regions(phantom.tumor, (3, 5, 10))
            assert intensity_warnings(phantom.image, regions, preset) == []
            assert n4_warning(phantom.image, 4, preset) is None


def test_n4_on_a_negative_image_is_reported(phantom):
    """Before: N4 silently left an image whose tissue is <= 0 unchanged."""
    shifted = sitk.Cast(phantom.image, sitk.sitkFloat32) - 5000.0
    result = extract({"V": (shifted, {"tumor": phantom.tumor})}, "zeng2025-dce-delta", workers=1)
    n4 = [w for w in result.warnings if "N4" in w]
    assert len(n4) == 1 and "100% of the tissue voxels are <= 0" in n4[0]
    assert "ineffective" in " ".join(result.provenance["views"][0]["notes"])
    normal = extract({"V": (phantom.image, {"tumor": phantom.tumor})}, "zeng2025-dce-delta", workers=1)
    assert not any("N4" in w for w in normal.warnings)


@pytest.mark.parametrize(("setting", "message"), [
    ("binCount: 1000000000", "at most 10000 gray levels"),
    ("binWidth: 0", "binWidth: 0 (setting); it must be a number > 0"),
    ("binWidth: -5", "it must be a number > 0"),
])
def test_absurd_discretisation_is_refused_when_the_profile_is_loaded(tmp_path, capsys, phantom, setting, message):
    """Before: binCount 1e9 ran for 28 s and exited 0 with every feature NaN."""
    params = tmp_path / "params.yaml"
    params.write_text(f"imageType:\n  Original: {{}}\nfeatureClass:\n  firstorder:\nsetting:\n  {setting}\n")
    with pytest.raises(ExtractionError, match=re.escape(message)):
        load_profile(params)
    image, mask = _write_case(tmp_path, phantom)
    out = tmp_path / "out"
    assert _extract_cli(image, mask, out, "--params", str(params)) == 2
    _assert_clear_error(capsys.readouterr().err, message, str(params))
    assert not out.exists() or not any(out.iterdir())


def test_per_image_type_bin_count_is_checked_too(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("imageType:\n  Original: {}\n  LoG: {sigma: [1.0], binCount: 50000}\nfeatureClass:\n"
                      "  firstorder:\n")
    with pytest.raises(ExtractionError, match=r"binCount: 50000 \(imageType: LoG\)"):
        load_profile(params)


def test_colour_image_with_an_mr_profile_is_noted_and_warned(tmp_path, phantom):
    """Before: an RGB image was silently converted to grey levels, with no trace in the provenance."""
    grey = sitk.GetArrayFromImage(phantom.image)
    scaled = np.clip((grey - grey.min()) / (grey.max() - grey.min()) * 255, 0, 255).astype(np.uint8)
    rgb = sitk.GetImageFromArray(np.stack([scaled] * 3, axis=-1), isVector=True)
    rgb.CopyInformation(phantom.image)
    path = tmp_path / "rgb.nrrd"
    sitk.WriteImage(rgb, str(path))
    image = read_image(path)
    result = extract({"V": (image, {"tumor": phantom.tumor})}, "zeng2025-dce-delta", workers=1)
    assert "RGB converted to grey levels (ITU-R BT.601 luma" in result.provenance["views"][0]["notes"][0]
    colour = [w for w in result.warnings if "in colour" in w]
    assert len(colour) == 1 and "profile 'zeng2025-dce-delta' is for MR images" in colour[0]
    grey_result = extract({"V": (phantom.image, {"tumor": phantom.tumor})}, "zeng2025-dce-delta", workers=1)
    assert not any("colour" in w for w in grey_result.warnings)


def test_colour_ultrasound_is_noted_without_a_warning(tmp_path):
    us = make_phantom("us", seed=2, lesion=LesionSpec(diameter_mm=9))
    grey = sitk.GetArrayFromImage(us.image)
    scaled = np.clip((grey - grey.min()) / (grey.max() - grey.min()) * 255, 0, 255).astype(np.uint8)
    rgb = sitk.GetImageFromArray(np.stack([scaled] * 3, axis=-1), isVector=True)
    rgb.CopyInformation(us.image)
    path = tmp_path / "us.nrrd"
    sitk.WriteImage(rgb, str(path))
    result = extract({"US": (read_image(path), {"tumor": us.tumor})}, "zhang2025-us", workers=1)
    assert any("converted to grey levels" in note for note in result.provenance["views"][0]["notes"])
    assert not any("colour" in w for w in result.warnings)


def test_predict_on_a_one_voxel_tumor_says_why_the_inputs_are_nan(tmp_path, capsys, phantom):
    """Before: 'Model inputs are undefined (NaN) for: radscore.' with no cause and no fix."""
    tumor = sitk.GetArrayViewFromImage(phantom.tumor)
    one = np.zeros(tumor.shape, np.uint8)
    one[tuple(np.argwhere(tumor)[0])] = 1
    image, mask = _write_case(tmp_path, phantom)
    sitk.WriteImage(_like(one, phantom.tumor), str(mask))
    out = tmp_path / "report"
    code = main(["predict", "--model", "demo-dce-aln", "--image", str(image), "--mask", str(mask),
                 "--clinical", "ki67=30", "--clinical", "us_aln=negative", "--workers", "1", "--out", str(out)])
    assert code == 2
    _assert_clear_error(capsys.readouterr().err, "undefined (NaN) for: radscore", "DCE3/tumor: too small for "
                        "pyradiomics", "Fix the case's image or tumor mask")
    assert not out.exists() or not any(out.iterdir())


def test_the_model_error_keeps_its_class_and_step(phantom):
    from AxillaryPredictorLib.packages.registry import find_model
    from AxillaryPredictorLib.pipeline import CaseInputs, Scan, predict_case

    tumor = sitk.GetArrayViewFromImage(phantom.tumor)
    one = np.zeros(tumor.shape, np.uint8)
    one[tuple(np.argwhere(tumor)[0])] = 1
    inputs = CaseInputs.single("c", {"DCE3": Scan(phantom.image, _like(one, phantom.tumor))},
                               {"ki67": 30, "us_aln": "negative"})
    with pytest.raises(ModelError, match="too small for pyradiomics") as caught:
        predict_case(find_model("demo-dce-aln"), inputs, workers=1)
    assert caught.value.step == "predict"


@pytest.mark.parametrize("keep", [0.5, 0.05])
def test_cli_truncated_dicom_seg_names_the_file_and_the_cause(tmp_path, capsys, phantom, keep):
    """Before: a misleading 'not a regularly spaced volume' (half the file) or an AttributeError traceback."""
    from AxillaryPredictorLib.phantoms.dicom import write_dicom_seg, write_dicom_series

    series = write_dicom_series(phantom.image, tmp_path / "series")
    seg = write_dicom_seg({"tumor": phantom.tumor}, series, tmp_path / "seg.dcm")
    data = seg.read_bytes()
    seg.write_bytes(data[: int(len(data) * keep)])
    out = tmp_path / "out"
    assert _extract_cli(series, seg, out) == 2
    _assert_clear_error(capsys.readouterr().err, f"Cannot read the mask {seg}: the DICOM SEG is truncated or damaged",
                        "export it again")
    assert not out.exists() or not any(out.iterdir())


def test_a_single_intensity_region_is_reported():
    """Before: a region of one intensity gave entropy 0 and GLCM correlation 1 without a word."""
    us = make_phantom("us", seed=2, lesion=LesionSpec(diameter_mm=9))
    array = sitk.GetArrayFromImage(us.image)
    array[sitk.GetArrayViewFromImage(us.tumor) != 0] = 150
    result = extract({"US": (_like(array, us.image), {"tumor": us.tumor})}, "zhang2025-us", workers=1)
    assert result.features["tumor__US__original_glcm_Correlation"] == 1.0
    single = [w for w in result.warnings if "single intensity" in w]
    assert len(single) == 1 and single[0].startswith("View 'US': region 'tumor' has a single intensity (150)")
