"""Extraction engine: parity with the pyradiomics reference path, feature counts, padding, bad inputs."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from AxillaryPredictorLib.features import extract, extract_case, write_features
from AxillaryPredictorLib.phantoms import LesionSpec, make_phantom
from AxillaryPredictorLib.preprocessing import prepare_view
from AxillaryPredictorLib.profiles import list_profiles, load_profile
from AxillaryPredictorLib.regions import build_regions

#: Documented features per region (docs/extraction.md); 93 = 18 first order + 24 GLCM + 16 GLRLM
#: + 16 GLSZM + 14 GLDM + 5 NGTDM per image; 3D shape 14, 2D shape 9 (SphericalDisproportion is deprecated).
EXPECTED_PER_REGION = {
    "he2025-dbt": 14 + 93 * (1 + 8 + 5 + 5 + 3),  # original, wavelet, LoG x5, 5 pointwise/gradient, LBP-3D x3
    "zeng2025-dce-delta": 851,  # 107 original + 8 x 93 wavelet, as in the study
    "lu2025-dce": 14 + 93 * (1 + 8 + 2),
    "liu2025-mammography": 9 + 93 * (1 + 4),
    "zhang2025-us": 9 + 93 * (1 + 4),
}

logging.getLogger("radiomics").setLevel(logging.ERROR)


def _case(profile: str):
    if load_profile(profile).is_2d:
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
    with pytest.raises(RuntimeError, match="could not build the Wavelet image type"):
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
        extract_case(phantom.image, phantom.tumor, regions=["tumor", "margin7mm"], margins=(3,))


def test_feature_table_and_sidecar_are_written_atomically(tmp_path):
    phantom, _ = _case("zeng2025-dce-delta")
    result = extract_case(phantom.image, phantom.tumor, view="DCE3", margins=(3,), regions=["tumor", "margin3mm"],
                          case_id="P001", workers=1)
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
    from AxillaryPredictorLib.cli import main

    assert main(["profiles"]) == 0
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
    from AxillaryPredictorLib.logic import AxillaryPredictorLogicBase
    from AxillaryPredictorLib.scene_features import extract_from_scene
    from AxillaryPredictorLib.scene_results import frame_from_table_node

    phantom = make_phantom("dce", seed=1, lesion=LesionSpec(diameter_mm=8))
    volume, segmentation = AxillaryPredictorLogicBase(headless.scene).loadPhantomCase(phantom)
    table, result = extract_from_scene({"DCE3": (volume, segmentation)}, margins=(3,), regions=["tumor"], workers=1)
    frame = frame_from_table_node(table)
    assert len(frame) == 851 and set(frame["region"]) == {"tumor"}
    direct = extract({"DCE3": (phantom.image, {"tumor": phantom.tumor})}, "zeng2025-dce-delta", workers=1)
    assert _compare(result.features, direct.features) == []


def test_cli_views_file(tmp_path):
    from AxillaryPredictorLib.cli import main

    files = make_phantom("us", seed=3, lesion=LesionSpec(diameter_mm=9)).write(tmp_path, "u")
    pd.DataFrame([{"view": "US", "image": files["image"].name, "mask": files["tumor"].name}]).to_csv(
        tmp_path / "views.csv", index=False)
    out = tmp_path / "f.csv"
    assert main(["extract", "--views-file", str(tmp_path / "views.csv"), "--profile", "zhang2025-us", "--margins",
                 "3", "--regions", "tumor", "--workers", "1", "--out", str(out)]) == 0
    assert pd.read_csv(out).shape == (1, 1 + 474)


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
