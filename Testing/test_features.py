"""Extraction engine: parity with the pyradiomics reference path, feature counts, padding, bad inputs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from AxillaryPredictorLib.errors import ExtractionError
from AxillaryPredictorLib.extraction.engine import extract
from AxillaryPredictorLib.extraction.profiles import list_profiles, load_profile
from AxillaryPredictorLib.extraction.tables import write_features
from AxillaryPredictorLib.imaging.preprocessing import prepare_view
from AxillaryPredictorLib.imaging.regions import build_regions
from AxillaryPredictorLib.phantoms import LesionSpec, make_phantom
from AxillaryPredictorLib.pipeline import CaseInputs, RegionSettings, Scan, extract_case

#: Features per region as each profile's YAML states them (``feature_count``; docs/extraction.md;
#: Testing/test_profiles.py derives them from the papers and counts them on every profile).
EXPECTED_PER_REGION = {name: load_profile(name).feature_count for name in list_profiles()}
#: a genuinely 2D (force2D, shape2D) profile: 9 + 5 x 93 = 474 features per region
US_2D = str(Path(__file__).parent / "fixtures" / "profiles" / "us-2d.yaml")

logging.getLogger("radiomics").setLevel(logging.ERROR)


def _case(profile: str):
    if load_profile(profile).modality in ("US", "MG"):  # one-slice images
        phantom = make_phantom("us", seed=2, lesion=LesionSpec(diameter_mm=9))
    else:
        phantom = make_phantom("dce", seed=2, lesion=LesionSpec(diameter_mm=9))
    return phantom, build_regions(phantom.tumor, (3,))


def _compare(a: dict, b: dict) -> list[str]:
    assert a.keys() == b.keys()
    return [k for k in a if not np.isclose(a[k], b[k], rtol=1e-6, atol=1e-9, equal_nan=True)]


def test_every_shipped_profile_is_documented():
    assert set(list_profiles()) == set(EXPECTED_PER_REGION)
    hashes = {name: load_profile(name).hash for name in list_profiles()}
    assert all(len(h) == 64 for h in hashes.values())
    assert hashes["he2025-dbt"] != hashes["zeng2025-dce-delta"]


@pytest.mark.parametrize("profile", ["zeng2025-dce-delta", "zhang2025-us", "liu2025-mammography",
                                     pytest.param("lu2025-dce", marks=pytest.mark.slow),
                                     pytest.param("he2025-dbt", marks=pytest.mark.slow)])
def test_engine_equals_pyradiomics_reference_and_feature_count(profile):
    phantom, regions = _case(profile)
    views = {"V": (phantom.image, regions)}
    prepared = [prepare_view(phantom.image, regions, load_profile(profile), view="V")]
    shared = extract(views, profile, engine="shared", workers=2, prepared=prepared)
    reference = extract(views, profile, engine="pyradiomics", prepared=prepared)
    assert _compare(shared.features, reference.features) == []
    per_region = [c for c in shared.features if c.startswith("tumor__V__")]
    assert len(per_region) == EXPECTED_PER_REGION[profile]
    assert len(shared.features) == 3 * EXPECTED_PER_REGION[profile]


def test_zeng_profile_has_851_features_107_original():
    phantom, regions = _case("zeng2025-dce-delta")
    result = extract({"DCE3": (phantom.image, {"tumor": regions["tumor"]})}, "zeng2025-dce-delta", workers=1)
    names = [c.split("__")[2] for c in result.features]
    assert len(names) == 851
    assert sum(n.startswith("original_") for n in names) == 107
    assert {n.split("_")[0] for n in names if n.startswith("wavelet")} == {
        f"wavelet-{b}" for b in ("LLL", "LLH", "LHL", "LHH", "HLL", "HLH", "HHL", "HHH")}


def test_missing_image_type_fails_instead_of_vanishing(monkeypatch, tmp_path):
    """pyradiomics skips an image type it cannot build with only a log line; we must not."""
    import radiomics.imageoperations as operations

    def broken(image, mask, **kwargs):
        return iter(())

    monkeypatch.setattr(operations, "getWaveletImage", broken)
    phantom, regions = _case("zeng2025-dce-delta")
    with pytest.raises(ExtractionError, match="could not build the Wavelet image type"):
        extract({"V": (phantom.image, regions)}, "zeng2025-dce-delta", workers=1)


def test_small_and_empty_regions_give_nan_with_warnings():
    phantom, regions = _case("zeng2025-dce-delta")
    one = np.zeros(sitk.GetArrayViewFromImage(phantom.tumor).shape, np.uint8)
    k, j, i = np.argwhere(sitk.GetArrayViewFromImage(phantom.tumor))[0]
    one[k, j, i] = 1
    single = sitk.GetImageFromArray(one)
    single.CopyInformation(phantom.tumor)
    result = extract({"V": (phantom.image, {"tumor": regions["tumor"], "speck": single})}, "zeng2025-dce-delta",
                     workers=1)
    speck = [v for c, v in result.features.items() if c.startswith("speck__")]
    assert len(speck) == 851 and all(np.isnan(speck))
    assert any("speck" in w and "NaN" in w for w in result.warnings)
    assert not np.isnan(result.features["tumor__V__original_firstorder_Mean"])


def test_bad_inputs_are_refused_clearly():
    phantom, regions = _case("zeng2025-dce-delta")
    array = sitk.GetArrayFromImage(phantom.image)
    array[0, 0, 0] = np.nan
    with_nan = sitk.GetImageFromArray(array)
    with_nan.CopyInformation(phantom.image)
    with pytest.raises(ValueError, match="NaN"):
        extract({"V": (with_nan, regions)}, "zeng2025-dce-delta", workers=1)
    moved = sitk.Image(regions["tumor"])
    moved.SetOrigin([o + 5 for o in moved.GetOrigin()])
    with pytest.raises(ValueError, match="not on the image grid"):
        extract({"V": (phantom.image, {"tumor": moved})}, "zeng2025-dce-delta", workers=1)
    with pytest.raises(ValueError, match="letters, digits"):
        extract({"C C": (phantom.image, regions)}, "zeng2025-dce-delta", workers=1)
    with pytest.raises(ValueError, match="Unknown profile 'nope'"):
        extract({"V": (phantom.image, regions)}, "nope")
    with pytest.raises(ValueError, match="Unknown region"):
        extract_case(CaseInputs.single("case", {"V": Scan(phantom.image, phantom.tumor)}), "zeng2025-dce-delta",
                     RegionSettings((3.0,)), regions=["tumor", "margin7mm"])


def test_feature_table_and_sidecar_are_written_atomically(tmp_path):
    phantom, _ = _case("zeng2025-dce-delta")
    result = extract_case(CaseInputs.single("P001", {"DCE3": Scan(phantom.image, phantom.tumor)}), "zeng2025-dce-delta",
                          RegionSettings((3.0,)), regions=["tumor", "margin3mm"], workers=1).extraction_result()
    path = write_features([result], tmp_path / "features.csv")
    table = pd.read_csv(path)
    assert table.columns[0] == "case_id" and table["case_id"].tolist() == ["P001"]
    assert "margin3mm__DCE3__wavelet-HLH_glcm_Idn" in table.columns and table.shape[1] == 1 + 2 * 851
    sidecar = json.loads((tmp_path / "features.csv.json").read_text(encoding="utf-8"))
    assert sidecar["provenance"]["profile"]["sha256"] == load_profile("zeng2025-dce-delta").hash
    assert sidecar["provenance"]["versions"]["pyradiomics"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["zeng2025-dce-delta", "he2025-dbt", "lu2025-dce", "liu2025-mammography",
                                     "zhang2025-us"])
def test_shared_grid_matches_whole_image_features(profile):
    """Cropping to the shared grid (with the filters' padding) keeps >= 99% of features within 1e-3
    of the whole-image values (docs/extraction.md)."""
    phantom, regions = _case(profile)
    loaded = load_profile(profile)
    chosen = {"tumor": regions["tumor"]}
    shared = extract({"V": (phantom.image, chosen)}, loaded, workers=2)
    whole = extract({}, loaded, workers=2, prepared=[prepare_view(phantom.image, chosen, loaded, view="V",
                                                                  whole_image=True)])
    names = list(shared.features)
    close = [np.isclose(shared.features[c], whole.features[c], rtol=1e-3, atol=1e-9, equal_nan=True) for c in names]
    assert np.mean(close) >= 0.99, [c for c, ok in zip(names, close, strict=True) if not ok][:10]


def test_a_regions_features_do_not_depend_on_the_other_regions_extracted():
    """The max-scaled pointwise images (square, square root, logarithm, exponential) are computed on the
    whole image: a bright structure inside a wider region's box must not change the tumor's values."""
    phantom = make_phantom("dce", seed=2, lesion=LesionSpec(diameter_mm=9))
    image = sitk.Image(phantom.image)
    regions = build_regions(phantom.tumor, (10,))
    array = sitk.GetArrayFromImage(image)
    ring = sitk.GetArrayViewFromImage(regions["margin10mm"]).astype(bool)
    array[ring] = array.max() * 3  # the brightest voxels of the image lie in the 10 mm ring
    bright = sitk.GetImageFromArray(array)
    bright.CopyInformation(image)
    profile = load_profile("he2025-dbt")
    alone = extract({"V": (bright, {"tumor": regions["tumor"]})}, profile, workers=2).features
    together = extract({"V": (bright, {"tumor": regions["tumor"], "margin10mm": regions["margin10mm"]})},
                       profile, workers=2).features
    scaled = [c for c in alone if c.split("__")[2].startswith(("square_", "squareroot_", "logarithm_",
                                                               "exponential_"))]
    assert len(scaled) == 4 * 93
    assert all(np.isclose(alone[c], together[c], rtol=1e-9, atol=1e-12, equal_nan=True) for c in scaled)


def test_cli_extract_two_views_and_profiles_listing(tmp_path, capsys):
    from AxillaryPredictorLib.cli.main import main

    assert main(["profiles", "--names"]) == 0
    assert capsys.readouterr().out.split() == list_profiles()
    cc = make_phantom("dbt-cc", seed=3, lesion=LesionSpec(diameter_mm=8)).write(tmp_path, "cc")
    mlo = make_phantom("dbt-mlo", seed=3, lesion=LesionSpec(diameter_mm=8)).write(tmp_path, "mlo")
    out = tmp_path / "features.csv"
    code = main(["extract", "--image", str(cc["image"]), "--mask", str(cc["tumor"]), "--view", "CC",
                 "--image", str(mlo["image"]), "--mask", str(mlo["tumor"]), "--view", "MLO",
                 "--margins", "3", "--regions", "tumor,margin3mm", "--case-id", "P7", "--workers", "1",
                 "--out", str(out)])
    assert code == 0
    table = pd.read_csv(out)
    assert table["case_id"].tolist() == ["P7"] and table.shape[1] == 1 + 4 * 851
    assert {c.split("__")[1] for c in table.columns[1:]} == {"CC", "MLO"}
    assert json.loads((tmp_path / "features.csv.json").read_text(encoding="utf-8"))["cases"] == ["P7"]


def test_scene_extraction_gives_a_table_node(headless):
    from AxillaryPredictorLib.scene.features import extract_from_scene
    from AxillaryPredictorLib.scene.logic import AxillaryPredictorLogicBase
    from AxillaryPredictorLib.scene.results import frame_from_table_node

    phantom = make_phantom("dce", seed=1, lesion=LesionSpec(diameter_mm=8))
    volume, segmentation = AxillaryPredictorLogicBase(headless.scene).loadPhantomCase(phantom)
    table, result = extract_from_scene({"DCE3": (volume, segmentation)}, margins=(3,), regions=["tumor"], workers=1)
    frame = frame_from_table_node(table)
    assert len(frame) == 851 and set(frame["region"]) == {"tumor"}
    direct = extract({"DCE3": (phantom.image, {"tumor": phantom.tumor})}, "zeng2025-dce-delta", workers=1)
    assert _compare(result.features, direct.features) == []


def test_cli_views_file(tmp_path):
    from AxillaryPredictorLib.cli.main import main

    files = make_phantom("us", seed=3, lesion=LesionSpec(diameter_mm=9)).write(tmp_path, "u")
    pd.DataFrame([{"view": "US", "image": files["image"].name, "mask": files["tumor"].name}]).to_csv(
        tmp_path / "views.csv", index=False)
    out = tmp_path / "f.csv"
    assert main(["extract", "--views-file", str(tmp_path / "views.csv"), "--profile", "zhang2025-us", "--margins",
                 "3", "--regions", "tumor", "--workers", "1", "--out", str(out)]) == 0
    assert pd.read_csv(out).shape == (1, 1 + EXPECTED_PER_REGION["zhang2025-us"])


def test_a_plain_pyradiomics_file_keeps_its_preprocessing(tmp_path):
    """resampledPixelSpacing / normalize / interpolator in a pyradiomics 'setting' block become the
    profile's preprocessing (and change its hash) instead of being silently dropped."""
    body = "imageType: {Original: {}}\nfeatureClass: {firstorder: }\nsetting: {binWidth: 25%s}\n"
    (tmp_path / "plain.yaml").write_text(body % "", encoding="utf-8")
    (tmp_path / "resampled.yaml").write_text(body % ", resampledPixelSpacing: [2, 2, 2], normalize: true, "
                                             "normalizeScale: 100, interpolator: sitkLinear", encoding="utf-8")
    plain, resampled = load_profile(tmp_path / "plain.yaml"), load_profile(tmp_path / "resampled.yaml")
    assert resampled.preprocessing["resampledPixelSpacing"] == [2, 2, 2] and resampled.preprocessing["normalize"]
    assert resampled.preprocessing["interpolator"] == "sitkLinear" and plain.hash != resampled.hash
    phantom, regions = _case("zeng2025-dce-delta")
    prepared = prepare_view(phantom.image, {"tumor": regions["tumor"]}, resampled, view="V")
    assert prepared.image.GetSpacing() == (2.0, 2.0, 2.0)
    (tmp_path / "both.yaml").write_text(body % ", normalize: true" + "axillaryPredictor: {preprocessing: "
                                        "{normalize: false}}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="sets normalize both in 'setting' and in 'axillaryPredictor"):
        load_profile(tmp_path / "both.yaml")


def _us_case_with_speck(voxels: list[tuple[int, int]]):
    """The ultrasound phantom's tumor plus a tiny region ``speck`` of the given in-plane offsets
    from the tumor's first voxel (a few voxels: small enough for some classes to fail)."""
    phantom = make_phantom("us", seed=2, lesion=LesionSpec(diameter_mm=9))
    regions = build_regions(phantom.tumor, (3,))
    tumor = sitk.GetArrayViewFromImage(phantom.tumor)
    speck = np.zeros(tumor.shape, np.uint8)
    k, j, i = np.argwhere(tumor)[0]
    for dj, di in voxels:
        speck[k, j + dj, i + di] = 1
    image = sitk.GetImageFromArray(speck)
    image.CopyInformation(phantom.tumor)
    return phantom, {"tumor": regions["tumor"], "speck": image}


@pytest.mark.parametrize("path", ["numba", "pyradiomics"])
def test_a_failing_feature_class_gives_nan_for_that_class_image_type_and_region_only(monkeypatch, path):
    """An exception in one feature class for one (image type, region): NaN for exactly those
    features, a warning naming view/region/image type/class and the error; the run goes on and
    the columns are those of a normal run. Both texture paths: the numba kernels and the fallback
    to pyradiomics' own classes (numba unavailable)."""
    import radiomics.glszm

    from AxillaryPredictorLib.extraction import fast
    from AxillaryPredictorLib.extraction.fast import kernels

    phantom, regions = _us_case_with_speck([(dj, di) for dj in range(4) for di in range(4)])
    views = {"US": (phantom.image, regions)}
    if path == "pyradiomics":
        monkeypatch.setattr(fast, "unavailable", lambda: "numba switched off by the test")
    normal = extract(views, "zhang2025-us", workers=1)
    original = radiomics.glszm.RadiomicsGLSZM._initCalculation
    original_kernel = kernels.glszm_union
    failures = []

    def fail_once_for_small_regions(self, voxelCoordinates=None):  # noqa: N803 - pyradiomics' signature
        if self.maskArray.sum() < 100 and not failures:  # the first call for the speck: the original image
            failures.append(1)
            raise MemoryError("matrix too large\nfor this test")
        return original(self, voxelCoordinates)

    def kernel_failing_once_for_small_regions(padded, angles, ng):
        if (padded > 0).sum() < 100 and not failures:
            failures.append(1)
            raise MemoryError("matrix too large\nfor this test")
        return original_kernel(padded, angles, ng)

    monkeypatch.setattr(radiomics.glszm.RadiomicsGLSZM, "_initCalculation", fail_once_for_small_regions)
    monkeypatch.setattr(kernels, "glszm_union", kernel_failing_once_for_small_regions)
    result = extract(views, "zhang2025-us", workers=1)
    assert list(result.features) == list(normal.features)
    nan = sorted(c for c, v in result.features.items() if np.isnan(v))
    assert nan == sorted(c for c in normal.features if c.startswith("speck__US__original_glszm_"))
    assert len(nan) == 16
    # the other values are unchanged (to the last bits: the regions' formulas are evaluated as one batch)
    assert all(np.isclose(result.features[c], normal.features[c], rtol=1e-12, atol=0) for c in result.features
               if c not in nan)
    failed = [w for w in result.warnings if "failed" in w]
    assert failed == ["US/speck/original/glszm: pyradiomics failed (MemoryError: matrix too large for this test); "
                      "these 16 features are NaN"]
    speck = next(d for d in result.diagnostics if d["region"] == "speck")
    assert speck["extracted"] and speck["nan_features"] == 16 and speck["warnings"] == failed


def test_a_failing_shape_class_gives_nan_for_shape_features(monkeypatch):
    import radiomics.shape2D

    phantom, regions = _us_case_with_speck([(dj, di) for dj in range(4) for di in range(4)])

    def broken(self, *args, **kwargs):
        raise ValueError("no mesh")

    normal = extract({"US": (phantom.image, regions)}, US_2D, workers=1)
    monkeypatch.setattr(radiomics.shape2D.RadiomicsShape2D, "_initSegmentBasedCalculation", broken)
    result = extract({"US": (phantom.image, regions)}, US_2D, workers=1)
    assert list(result.features) == list(normal.features)
    nan = [c for c, v in result.features.items() if np.isnan(v)]
    assert len(nan) == 2 * 9 and all("_shape2D_" in c for c in nan)
    assert "US/tumor/original/shape2D: pyradiomics failed (ValueError: no mesh); these 9 features are NaN" in \
        result.warnings


def test_a_tiny_region_gives_nan_with_a_warning_for_the_classes_pyradiomics_cannot_compute():
    """Three isolated voxels: pyradiomics returns NaN for every GLCM feature (no neighbouring pairs),
    which must be reported, not passed on silently; the other classes and regions are unaffected,
    and both engines agree."""
    phantom, regions = _us_case_with_speck([(0, 0), (0, 2), (2, 0)])
    views = {"US": (phantom.image, regions)}
    prepared = [prepare_view(phantom.image, regions, load_profile(US_2D), view="US")]
    shared = extract(views, US_2D, workers=1, prepared=prepared)
    reference = extract(views, US_2D, engine="pyradiomics", prepared=prepared)
    assert _compare(shared.features, reference.features) == []
    nan = [c for c, v in shared.features.items() if np.isnan(v)]
    assert nan and all(c.startswith("speck__US__") and "_glcm_" in c for c in nan)
    assert len(nan) == 24 * 5  # 24 GLCM features x (original + 4 wavelet images)
    assert not np.isnan(shared.features["speck__US__original_firstorder_Mean"])
    for result in (shared, reference):
        assert [w for w in result.warnings if "NaN" in w] == [
            "US/speck/glcm: pyradiomics returned NaN for 120 feature value(s) (image type(s) original, wavelet-HH, "
            "wavelet-HL, ...; e.g. original_glcm_Autocorrelation)"]
    speck = next(d for d in shared.diagnostics if d["region"] == "speck")
    assert speck["voxels"] == 3 and speck["extracted"] and speck["nan_features"] == 120


def _us_result(case_id: str = "P1"):
    phantom, regions = _us_case_with_speck([(0, 0)])  # speck: one voxel, rejected by pyradiomics
    result = extract({"US": (phantom.image, regions)}, US_2D, case_id=case_id, workers=1)
    result.warnings = ["a case-level warning", *result.warnings]
    return result


def test_diagnostics_table_beside_features_and_sidecar(tmp_path):
    results = [_us_result("P1"), _us_result("P2")]
    path = write_features(results, tmp_path / "features.csv")
    diagnostics = pd.read_csv(tmp_path / "features.diagnostics.csv", keep_default_na=False)
    assert list(diagnostics.columns) == ["case_id", "view", "region", "voxels", "extracted", "nan_features",
                                         "warnings"]
    assert diagnostics[["case_id", "view", "region"]].values.tolist() == [
        ["P1", "US", "tumor"], ["P1", "US", "speck"], ["P1", "", ""],
        ["P2", "US", "tumor"], ["P2", "US", "speck"], ["P2", "", ""]]
    speck = diagnostics.iloc[1]
    assert speck[["voxels", "extracted", "nan_features"]].tolist() == ["1", "no", "474"]  # all read as text
    assert "US/speck: too small for pyradiomics" in speck["warnings"]
    assert diagnostics.iloc[0]["extracted"] == "yes" and diagnostics.iloc[0]["warnings"] == ""
    assert diagnostics.iloc[2]["warnings"] == "a case-level warning"
    import hashlib

    sidecar = json.loads((tmp_path / "features.csv.json").read_text(encoding="utf-8"))
    assert sidecar["files"] == {name: hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
                                for name in ("features.csv", "features.diagnostics.csv")}
    assert pd.read_csv(path)["case_id"].tolist() == ["P1", "P2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features.csv", "features.csv.json",
                                                          "features.diagnostics.csv"]


@pytest.mark.parametrize("failure", ["rendering", "second rename", "unwritable diagnostics"])
def test_a_failed_write_leaves_no_output_set_and_no_temporary_files(tmp_path, monkeypatch, failure):
    """Decided behaviour (docs/extraction.md): a failed write leaves none of features.csv, its sidecar
    and the diagnostics table — not a partial set, not the previous run's set — and no temporary file."""
    import os

    result = _us_result()
    write_features([result], tmp_path / "features.csv")  # a previous run's complete set
    assert len(list(tmp_path.iterdir())) == 3
    if failure == "rendering":
        real_to_csv, calls = pd.DataFrame.to_csv, []

        def to_csv(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 2:  # the diagnostics table, after the features table
                raise RuntimeError("cannot render")
            return real_to_csv(self, *args, **kwargs)

        monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
        error = RuntimeError
    elif failure == "second rename":
        real_replace, calls = os.replace, []

        def replace(source, target):
            calls.append(1)
            if len(calls) == 2:
                raise OSError("disk full")
            real_replace(source, target)

        monkeypatch.setattr(os, "replace", replace)
        error = OSError
    else:
        (tmp_path / "features.diagnostics.csv").unlink()
        (tmp_path / "features.diagnostics.csv").mkdir()  # the target cannot be replaced
        error = OSError
    with pytest.raises(error):
        write_features([result], tmp_path / "features.csv")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == (["features.diagnostics.csv"] if failure == "unwritable diagnostics" else [])  # only the folder


def test_cli_failed_run_removes_the_previous_output_set(tmp_path):
    from AxillaryPredictorLib.cli.main import main

    files = make_phantom("us", seed=3, lesion=LesionSpec(diameter_mm=9)).write(tmp_path, "u")
    out = tmp_path / "out" / "f.csv"
    common = ["--profile", "zhang2025-us", "--margins", "3", "--regions", "tumor", "--workers", "1", "--out", str(out)]
    assert main(["extract", "--image", str(files["image"]), "--mask", str(files["tumor"]), *common]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["f.csv", "f.csv.json", "f.diagnostics.csv"]
    assert main(["extract", "--image", str(files["image"]), "--mask", str(tmp_path / "missing.nrrd"), *common]) == 2
    assert list(out.parent.iterdir()) == []


def _write_dicom_phases(folder, volume: sitk.Image, series_uid: str, phases: int) -> None:
    """``phases`` volumes (volume + 100·p) in ONE DICOM series, told apart by TemporalPositionIdentifier."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for p in range(phases):
        for k in range(volume.GetDepth()):
            slice_image = (volume + 100 * p)[:, :, k]
            for tag, value in (("0020|000e", series_uid), ("0008|0018", f"{series_uid}.{p}.{k}"),
                               ("0020|0032", "\\".join(map(str, volume.TransformIndexToPhysicalPoint((0, 0, k))))),
                               ("0020|0037", "1\\0\\0\\0\\1\\0"), ("0020|0013", str(p * volume.GetDepth() + k + 1)),
                               ("0020|0100", str(p + 1))):
                slice_image.SetMetaData(tag, value)
            writer.SetFileName(str(folder / f"{series_uid[-2:]}_{k:03d}_{p}.dcm"))
            writer.Execute(slice_image)


def test_cli_series_phase_and_json_views_file(tmp_path, capsys):
    """--series picks a DICOM series in a folder with several, --phase a phase of a multi-phase series;
    a JSON views file gives the same per view."""
    from AxillaryPredictorLib.cli.main import main

    phantom = make_phantom("dce", seed=2, lesion=LesionSpec(diameter_mm=9))
    files = phantom.write(tmp_path, "c")
    volume = sitk.Cast(phantom.image, sitk.sitkInt16)
    dce, other = "1.2.826.0.1.3680043.2.1125.7.11", "1.2.826.0.1.3680043.2.1125.7.22"
    _write_dicom_phases(tmp_path / "dicom", volume, dce, 2)
    _write_dicom_phases(tmp_path / "dicom", volume, other, 1)
    (tmp_path / "first.yaml").write_text("imageType: {Original: {}}\nfeatureClass: {firstorder: [Mean]}\n"
                                         "setting: {binWidth: 25}\n", encoding="utf-8")
    common = ["--params", str(tmp_path / "first.yaml"), "--margins", "3", "--regions", "tumor", "--workers", "1"]
    arguments = ["extract", "--image", str(tmp_path / "dicom"), "--mask", str(files["tumor"]), "--view", "DCE"]
    assert main([*arguments, *common, "--out", str(tmp_path / "x.csv")]) == 2
    assert "holds 2 DICOM series" in capsys.readouterr().err
    assert main([*arguments, *common, "--series", dce, "--out", str(tmp_path / "x.csv")]) == 2
    assert "holds 2 phases" in capsys.readouterr().err
    assert main([*arguments, *common, "--series", dce, "--phase", "1", "--out", str(tmp_path / "p1.csv")]) == 0
    phase1 = pd.read_csv(tmp_path / "p1.csv")["tumor__DCE__original_firstorder_Mean"].item()
    mask = sitk.GetArrayViewFromImage(phantom.tumor).astype(bool)
    assert phase1 == pytest.approx(sitk.GetArrayViewFromImage(volume)[mask].mean() + 100, rel=1e-9)
    views = [{"view": "P0", "image": "dicom", "mask": files["tumor"].name, "series": dce, "phase": 0},
             {"view": "P1", "image": "dicom", "mask": files["tumor"].name, "series": dce, "phase": 1, "label": 1},
             {"view": "S", "image": "dicom", "mask": files["tumor"].name, "series": other}]
    (tmp_path / "views.json").write_text(json.dumps(views), encoding="utf-8")
    assert main(["extract", "--views-file", str(tmp_path / "views.json"), *common, "--case-id", "C1", "--out",
                 str(tmp_path / "v.csv")]) == 0
    row = pd.read_csv(tmp_path / "v.csv").iloc[0]
    means = {view: row[f"tumor__{view}__original_firstorder_Mean"] for view in ("P0", "P1", "S")}
    assert means["P1"] == pytest.approx(phase1, rel=1e-12)
    assert means["P1"] - means["P0"] == pytest.approx(100) and means["S"] == pytest.approx(means["P0"], rel=1e-12)
    (tmp_path / "bad.json").write_text(json.dumps([{"view": "P0", "image": "dicom", "mask": "m", "lable": 1}]),
                                       encoding="utf-8")
    assert main(["extract", "--views-file", str(tmp_path / "bad.json"), *common, "--out", str(tmp_path / "b.csv")]) == 2
    assert "unknown key(s) lable" in capsys.readouterr().err
