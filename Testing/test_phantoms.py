"""Synthetic phantoms and cohorts: determinism, geometry against analytic truth, model recovery."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from AxillaryPredictorLib.phantoms import (
    ALN_MODEL,
    PCR_MODEL,
    PRESETS,
    TISSUE_LABELS,
    LesionSpec,
    NodeSpec,
    make_pair,
    make_phantom,
    phantom_for_aln_record,
    phantoms_for_pcr_record,
    simulate_aln_cohort,
    simulate_pcr_cohort,
)


def _array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_same_seed_gives_bit_identical_phantoms(preset):
    a = make_phantom(preset, seed=11, node=True)
    b = make_phantom(preset, seed=11, node=True)
    c = make_phantom(preset, seed=12, node=True)
    for field in ("image", "tumor", "node", "labels"):
        assert _array(getattr(a, field)).tobytes() == _array(getattr(b, field)).tobytes()
    assert a.image.GetOrigin() == b.image.GetOrigin() and a.image.GetDirection() == b.image.GetDirection()
    assert not np.array_equal(_array(a.image), _array(c.image))


def test_dce_phantom_has_every_tissue_and_anisotropic_grid():
    phantom = make_phantom("dce", seed=0, node=True)
    assert phantom.image.GetSpacing() == pytest.approx((0.7, 0.7, 1.5))
    present = set(np.unique(_array(phantom.labels)))
    assert set(TISSUE_LABELS.values()) <= present
    image, labels = _array(phantom.image), _array(phantom.labels)
    # the lesion enhances: brighter than fat, glandular tissue and air on average
    assert image[labels == TISSUE_LABELS["tumor"]].mean() > image[labels == TISSUE_LABELS["glandular"]].mean()
    assert image[labels == TISSUE_LABELS["air"]].mean() < image[labels == TISSUE_LABELS["fat"]].mean()


@pytest.mark.parametrize("diameter", [10.0, 20.0, 30.0])
def test_tumor_voxel_volume_matches_the_analytic_lesion_volume(diameter):
    phantom = make_phantom("dce", seed=4, lesion=LesionSpec(diameter_mm=diameter, lobulation=0.2, spiculation=0.3))
    truth = phantom.truth
    voxel = np.prod(phantom.image.GetSpacing())
    assert truth["tumor_voxels"] * voxel == pytest.approx(truth["lesion_volume_mm3"], rel=0.04)
    # a smooth ellipsoid without lobes has the volume of its diameter's sphere
    smooth = make_phantom("dce", seed=4, lesion=LesionSpec(diameter_mm=diameter, lobulation=0.0))
    assert smooth.truth["lesion_volume_mm3"] == pytest.approx(np.pi / 6 * diameter**3, rel=1e-3)


def test_cc_and_mlo_show_the_same_lesion_on_different_grids():
    cc = make_phantom("dbt-cc", seed=5)
    mlo = make_phantom("dbt-mlo", seed=5)
    assert cc.image.GetDirection() == pytest.approx(np.eye(3).ravel())
    mlo_direction = np.array(mlo.image.GetDirection()).reshape(3, 3)
    assert not np.allclose(mlo_direction, np.eye(3))  # oblique view
    assert np.allclose(mlo_direction @ mlo_direction.T, np.eye(3))
    assert cc.truth["lesion_volume_mm3"] == mlo.truth["lesion_volume_mm3"]
    assert cc.truth["tumor_voxel_volume_mm3"] == pytest.approx(mlo.truth["tumor_voxel_volume_mm3"], rel=0.02)


def test_ultrasound_is_a_single_slice_with_speckle():
    phantom = make_phantom("us", seed=2, node=True)
    assert phantom.image.GetSize()[2] == 1
    image, tumor = _array(phantom.image), _array(phantom.tumor).astype(bool)
    assert tumor.sum() > 100 and _array(phantom.node).sum() > 50
    assert image[tumor].mean() < image[_array(phantom.labels) == TISSUE_LABELS["glandular"]].mean()  # hypoechoic
    assert "tumor_area_mm2" in phantom.truth


def test_node_size_and_cortex_follow_the_spec():
    spec = NodeSpec(short_axis_mm=8.0, long_axis_mm=14.0, cortex_mm=2.0)
    phantom = make_phantom("dce", seed=1, node=spec)
    voxels = _array(phantom.node).sum() * np.prod(phantom.image.GetSpacing())
    assert voxels == pytest.approx(np.pi / 6 * 14.0 * 8.0 * 8.0, rel=0.1)
    image, node = _array(phantom.image), _array(phantom.node).astype(bool)
    assert image[node].std() > 30  # cortex and hilum differ


@pytest.mark.parametrize("volume_factor", [0.3, 0.6, 1.0])
def test_pair_has_known_relative_volume_change(volume_factor):
    baseline, ontreatment = make_pair(seed=8, volume_factor=volume_factor,
                                      lesion=LesionSpec(diameter_mm=24.0, lobulation=0.25))
    analytic = ontreatment.truth["lesion_volume_mm3"] / baseline.truth["lesion_volume_mm3"] - 1
    assert analytic == pytest.approx(volume_factor - 1, abs=1e-9)
    measured = ontreatment.truth["tumor_voxels"] / baseline.truth["tumor_voxels"] - 1
    assert measured == pytest.approx(volume_factor - 1, abs=0.02)
    # same breast: tissue outside the lesion is identical, the acquisition noise is not
    outside = (_array(baseline.labels) != TISSUE_LABELS["tumor"]) & (_array(ontreatment.labels) != 5)
    assert np.array_equal(_array(baseline.labels)[outside], _array(ontreatment.labels)[outside])
    assert not np.array_equal(_array(baseline.image), _array(ontreatment.image))


def test_complete_response_gives_an_empty_tumor():
    baseline, ontreatment = make_pair(seed=3, volume_factor=0.0)
    assert _array(baseline.tumor).sum() > 0 and _array(ontreatment.tumor).sum() == 0
    assert ontreatment.truth["lesion_volume_mm3"] == 0.0
    with pytest.raises(ValueError, match="volume_factor"):
        make_pair(seed=3, volume_factor=-0.5)


def test_unknown_preset_error_lists_presets():
    with pytest.raises(ValueError, match="dbt-cc"):
        make_phantom("ct")


@pytest.mark.parametrize(("generator", "model"), [(simulate_aln_cohort, ALN_MODEL),
                                                  (simulate_pcr_cohort, PCR_MODEL)])
def test_documented_logistic_model_is_recovered(generator, model):
    import statsmodels.api as sm

    cohort = generator(20_000, seed=0)
    design = sm.add_constant(model.design(cohort))
    fit = sm.Logit(cohort[model.outcome], design).fit(disp=0)
    truth = pd.Series({"const": model.intercept, **model.coefficients})
    z = (fit.params - truth[fit.params.index]) / fit.bse
    assert (z.abs() < 3).all(), z.to_dict()
    assert cohort[model.outcome].mean() == pytest.approx(model.prevalence, abs=0.01)
    # the test can fail: a wrong coefficient is far outside 3 standard errors
    wrong = truth.copy()
    wrong[next(iter(model.coefficients))] += 0.5
    assert ((fit.params - wrong[fit.params.index]) / fit.bse).abs().max() > 3


def test_cohorts_are_deterministic_and_documented():
    a, b = simulate_aln_cohort(500, seed=3), simulate_aln_cohort(500, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(simulate_aln_cohort(500, seed=4))
    assert a["case_id"].is_unique and a["case_id"].iloc[0] == "ALN0001"
    assert np.allclose(a["sii"], a["neutrophils"] * a["platelets"] / a["lymphocytes"])
    assert "logit P(aln_metastasis)" in ALN_MODEL.describe()
    pcr = simulate_pcr_cohort(300, seed=1)
    assert set(pcr["subtype"]) <= {"luminal", "HER2-enriched", "triple-negative"}
    assert pcr["volume_factor"].between(0, 1).all()


def test_records_become_phantoms_with_their_properties():
    cohort = simulate_aln_cohort(40, seed=0)
    small = cohort.loc[cohort["tumor_diameter_mm"].idxmin()]
    large = cohort.loc[cohort["tumor_diameter_mm"].idxmax()]
    v_small = phantom_for_aln_record(small, "dce").truth["lesion_volume_mm3"]
    v_large = phantom_for_aln_record(large, "dce").truth["lesion_volume_mm3"]
    assert v_large > v_small
    record = simulate_pcr_cohort(5, seed=2).iloc[0]
    baseline, ontreatment = phantoms_for_pcr_record(record)
    change = ontreatment.truth["lesion_volume_mm3"] / baseline.truth["lesion_volume_mm3"] - 1
    assert change == pytest.approx(record["volume_factor"] - 1, abs=1e-9)


@pytest.mark.slow
def test_pyradiomics_shape_features_measure_the_latent_size():
    """The documented proxy (size -> original_shape_MeshVolume) holds on real pyradiomics output."""
    from radiomics import shape

    volumes, truths = [], []
    for diameter in (8.0, 14.0, 22.0, 32.0):
        phantom = make_phantom("dce", seed=6, lesion=LesionSpec(diameter_mm=diameter))
        features = shape.RadiomicsShape(phantom.image, phantom.tumor, label=1)
        volumes.append(float(features.getMeshVolumeFeatureValue()))
        truths.append(phantom.truth["lesion_volume_mm3"])
    assert np.all(np.diff(volumes) > 0)
    assert np.allclose(volumes, truths, rtol=0.08)
