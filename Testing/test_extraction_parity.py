"""The fast engine (numba matrices, batched formulas) equals pyradiomics' ``execute``, feature by feature.

On pyradiomics' own real case ``breast1`` (Testing/fixtures/pyradiomics_breast1, from its source
distribution) for every shipped profile, on settings the shipped profiles do not use (binCount,
weighting, distances, asymmetric GLCM, GLDM alpha, explicit feature lists), on regions whose angle
sets differ (a one-slice region), and with numba switched off (the fallback to pyradiomics' classes).
Tolerance: 1e-6 relative (atol 1e-9 for values that are 0 in pyradiomics).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from AxillaryPredictorLib.extraction import fast
from AxillaryPredictorLib.extraction.engine import extract
from AxillaryPredictorLib.extraction.profiles import list_profiles, load_profile
from AxillaryPredictorLib.imaging.preprocessing import prepare_view
from AxillaryPredictorLib.imaging.regions import build_regions

BREAST1 = Path(__file__).parent / "fixtures" / "pyradiomics_breast1"
logging.getLogger("radiomics").setLevel(logging.ERROR)


def _breast1(planar: bool) -> tuple[sitk.Image, sitk.Image]:
    """The case; ``planar``: its largest tumor slice as a one-slice volume (what a 2D profile is given)."""
    image = sitk.ReadImage(str(BREAST1 / "breast1_image.nrrd"))
    label = sitk.ReadImage(str(BREAST1 / "breast1_label.nrrd"))
    label = sitk.Cast(label == 1, sitk.sitkUInt8)
    if planar:
        z = int(np.argmax(sitk.GetArrayViewFromImage(label).sum(axis=(1, 2))))
        image, label = image[:, :, z:z + 1], label[:, :, z:z + 1]
    return image, label


def _assert_equal(engine: dict[str, float], reference: dict[str, float]) -> None:
    assert set(engine) == set(reference)  # the reference adds the whole-image filters last
    differ = [k for k in reference if not np.isclose(engine[k], reference[k], rtol=1e-6, atol=1e-9,
                                                     equal_nan=True)]
    assert differ == [], [(k, engine[k], reference[k]) for k in differ[:5]]


def _both(profile, regions, image, view="V", workers=1):
    prepared = [prepare_view(image, regions, profile, view=view)]
    engine = extract({}, profile, engine="shared", workers=workers, prepared=prepared)
    reference = extract({}, profile, engine="pyradiomics", prepared=prepared)
    return engine, reference


def test_the_fast_path_is_the_one_measured():
    """numba is a dependency: the kernels compile here and provenance names them."""
    assert fast.unavailable() == ""
    image, label = _breast1(planar=False)
    result = extract({"MR": (image, {"tumor": label})}, "zeng2025-dce-delta", workers=1)
    assert result.provenance["kernels"].startswith("numba ")


@pytest.mark.parametrize("name", list_profiles())
def test_every_shipped_profile_equals_pyradiomics_on_breast1(name):
    profile = load_profile(name)
    image, label = _breast1(planar=profile.is_2d)
    engine, reference = _both(profile, build_regions(label, (3,)), image)
    assert engine.provenance["kernels"].startswith("numba ")
    assert len(engine.features) > 3 * 400 and not all(np.isnan(v) for v in engine.features.values())
    _assert_equal(engine.features, reference.features)


UNUSUAL = """
imageType:
  Original: {}
  LoG: {sigma: [1.5]}
featureClass:
  firstorder:
  glcm: [Idmn, Idn, MCC, JointAverage, ClusterShade, Correlation, SumAverage]
  glrlm:
  glszm:
  gldm: [DependenceEntropy, LargeDependenceHighGrayLevelEmphasis, GrayLevelNonUniformityNormalized]
  ngtdm:
setting:
  binCount: 16
  distances: [1, 2]
  weightingNorm: euclidean
  symmetricalGLCM: false
  gldm_a: 1
  voxelArrayShift: 300
  label: 1
"""


def test_settings_the_shipped_profiles_do_not_use(tmp_path):
    """binCount (per-region edges), weighting over angles, two distances, asymmetric GLCM, GLDM alpha, a
    first-order shift, explicit feature lists with a deprecated feature (left out, as pyradiomics does)."""
    (tmp_path / "unusual.yaml").write_text(UNUSUAL)
    profile = load_profile(tmp_path / "unusual.yaml")
    image, label = _breast1(planar=False)
    engine, reference = _both(profile, build_regions(label, (3, 5)), image)
    assert "tumor__V__original_glcm_MCC" in engine.features
    assert not any("gldm_GrayLevelNonUniformityNormalized" in k for k in engine.features)
    _assert_equal(engine.features, reference.features)


def test_regions_with_other_angles_or_empty_angles_are_evaluated_alone():
    """A one-slice region (its bounding box is 1 voxel thick: fewer angles) beside 3D ones, and the same slice
    twice with a slice between (through-plane angles exist but hold no pair: empty, deleted per region)."""
    image, label = _breast1(planar=False)
    regions = build_regions(label, (3,))
    array = sitk.GetArrayFromImage(label)
    z = int(np.argmax(array.sum(axis=(1, 2))))
    flat, gapped = np.zeros_like(array), np.zeros_like(array)
    flat[z] = array[z]
    gapped[z - 1] = gapped[z + 1] = array[z]
    for name, mask in (("slice", flat), ("gapped", gapped)):
        regions[name] = sitk.GetImageFromArray(mask)
        regions[name].CopyInformation(label)
    engine, reference = _both(load_profile("zeng2025-dce-delta"), regions, image)
    for name in ("slice", "gapped"):
        assert not np.isnan(engine.features[f"{name}__V__original_glcm_JointAverage"])
    _assert_equal(engine.features, reference.features)


def test_without_numba_the_engine_falls_back_to_pyradiomics_and_says_so(monkeypatch):
    image, label = _breast1(planar=True)
    profile = load_profile("zhang2025-us")
    monkeypatch.setattr(fast, "unavailable", lambda: "numba is not importable (test)")
    engine, reference = _both(profile, build_regions(label, (3,)), image)
    assert engine.provenance["kernels"] == "pyradiomics C matrices (numba is not importable (test))"
    _assert_equal(engine.features, reference.features)


def test_two_worker_processes_give_the_values_of_one(monkeypatch):
    """The process pool (views inherited by forked workers), forced on for this small case."""
    from AxillaryPredictorLib.extraction import engine

    image, label = _breast1(planar=False)
    profile = load_profile("lu2025-dce")
    prepared = [prepare_view(image, build_regions(label, (3, 5)), profile, view="V")]
    one = extract({}, profile, workers=1, prepared=prepared).features
    calls = []
    run_parallel = engine._run_parallel
    monkeypatch.setattr(engine, "PARALLEL_MIN_VOXELS", 0)
    monkeypatch.setattr(engine, "_run_parallel", lambda *args: calls.append(1) or run_parallel(*args))
    two = extract({}, profile, workers=2, prepared=prepared).features
    assert calls == [1] and engine._INHERITED == {}
    _assert_equal(two, one)
