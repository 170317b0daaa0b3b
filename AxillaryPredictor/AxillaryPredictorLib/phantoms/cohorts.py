"""Synthetic cohorts with a known truth: latent patient records and their outcome model.

Two generators, each with a documented logistic model (``LatentLogisticModel``):

(a) ``simulate_aln_cohort`` — ALN metastasis from lesion properties (size, heterogeneity,
    margin irregularity), node properties (short axis, cortical thickness) and clinical
    variables (Ki-67, age, blood counts through SII, US-reported ALN);
(b) ``simulate_pcr_cohort`` — ALN pCR after neoadjuvant therapy from the baseline ->
    on-treatment change (volume, heterogeneity, peritumoral enhancement), post-NAT
    axillary ultrasound and molecular subtype.

The outcome of every record is drawn from ``expit(intercept + Σ β·x)`` with the model's
design columns ``x`` (``model.design(frame)``), so model-building code can be checked
against the truth. Records become images with ``phantom_for_aln_record`` /
``phantoms_for_pcr_record``. The imaged terms (lesion size, heterogeneity and margin
irregularity; node short axis and cortex; the pCR changes in volume, heterogeneity and
peritumoral enhancement, which the phantoms render) carry most of the outcome's variance, so a
radiomics model trained on the phantoms' features can learn it: on a million records the AUC
of the true linear predictor is about 0.93 (ALN) and 0.83 (pCR), that of the lesion terms alone
0.86 (ALN; with the node terms but without irregularity, which one ultrasound slice hardly shows,
0.90) and of the delta terms 0.81 (pCR). Which pyradiomics features are proxies of
each latent property is listed in ``PROXY_FEATURES`` (and in docs/phantoms.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from AxillaryPredictorLib.phantoms.images import LesionSpec, NodeSpec, Phantom, make_pair, make_phantom

#: Latent property -> pyradiomics features that measure it (region tumor unless said).
PROXY_FEATURES: dict[str, list[str]] = {
    "tumor_diameter_mm": ["original_shape_MeshVolume", "original_shape_Maximum3DDiameter",
                          "original_shape_MajorAxisLength"],
    "heterogeneity": ["original_firstorder_Entropy", "original_firstorder_InterquartileRange",
                      "original_glcm_JointEntropy", "original_glszm_ZoneEntropy"],
    "margin_irregularity": ["original_shape_Sphericity (decreases)", "original_shape_SurfaceVolumeRatio",
                            "original_shape_Flatness"],
    "enhancement": ["original_firstorder_Mean", "original_firstorder_Median"],
    "necrosis": ["original_firstorder_10Percentile (decreases)", "original_firstorder_Skewness"],
    "peritumoral": ["margin3mm: original_firstorder_Mean", "margin3mm: original_firstorder_90Percentile"],
    "node_short_axis_mm": ["node: original_shape_MinorAxisLength", "node: original_shape_MeshVolume"],
    "node_cortex_mm": ["node: original_firstorder_Mean (cortex vs fatty hilum)",
                       "node: original_firstorder_Skewness"],
    "volume_factor": ["delta tumor original_shape_MeshVolume = volume_factor - 1"],
    "heterogeneity_change": ["delta tumor original_firstorder_Entropy", "delta tumor original_glcm_JointEntropy"],
    "peritumoral_change": ["delta margin3mm original_firstorder_Mean"],
}


@dataclass(frozen=True)
class LatentLogisticModel:
    """logit P(outcome = 1) = intercept + Σ coefficients[c] · design[c].

    ``transforms`` maps each design column to a function of the latent record frame
    and ``formulas`` says the same in words; ``prevalence`` is the expected outcome
    rate of the generator (computed on 2 million draws when the model was written).
    """

    outcome: str
    intercept: float
    coefficients: dict[str, float]
    formulas: dict[str, str]
    transforms: dict[str, Callable[[pd.DataFrame], pd.Series]] = field(repr=False)
    prevalence: float

    def design(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Design matrix (one column per coefficient) of latent records."""
        return pd.DataFrame({name: self.transforms[name](frame) for name in self.coefficients},
                            index=frame.index)

    def linear_predictor(self, frame: pd.DataFrame) -> np.ndarray:
        beta = np.array([self.coefficients[c] for c in self.coefficients])
        return self.intercept + self.design(frame).to_numpy() @ beta

    def probability(self, frame: pd.DataFrame) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.linear_predictor(frame)))

    def describe(self) -> str:
        """The model as a formula, e.g. for docs and reports."""
        terms = [f"{self.intercept:+.3f}"] + [
            f"{beta:+.3f}·[{self.formulas[name]}]" for name, beta in self.coefficients.items()]
        return f"logit P({self.outcome}) = " + " ".join(terms)


ALN_MODEL = LatentLogisticModel(
    outcome="aln_metastasis",
    intercept=-7.78,
    coefficients={
        "size": 2.00, "heterogeneity": 10.00, "irregularity": 4.00, "node_short_axis": 1.20,
        "node_cortex": 0.80, "ki67": 0.20, "age": -0.20, "log_sii": 0.40, "us_reported_aln": 0.80,
    },
    formulas={
        "size": "(tumor_diameter_mm - 20) / 10", "heterogeneity": "heterogeneity",
        "irregularity": "margin_irregularity", "node_short_axis": "(node_short_axis_mm - 6) / 2",
        "node_cortex": "node_cortex_mm - 2", "ki67": "ki67 / 10", "age": "(age - 50) / 10",
        "log_sii": "log(sii / 500)", "us_reported_aln": "us_reported_aln (0/1)",
    },
    transforms={
        "size": lambda f: (f["tumor_diameter_mm"] - 20.0) / 10.0,
        "heterogeneity": lambda f: f["heterogeneity"],
        "irregularity": lambda f: f["margin_irregularity"],
        "node_short_axis": lambda f: (f["node_short_axis_mm"] - 6.0) / 2.0,
        "node_cortex": lambda f: f["node_cortex_mm"] - 2.0,
        "ki67": lambda f: f["ki67"] / 10.0,
        "age": lambda f: (f["age"] - 50.0) / 10.0,
        "log_sii": lambda f: np.log(f["sii"] / 500.0),
        "us_reported_aln": lambda f: f["us_reported_aln"].astype(float),
    },
    prevalence=0.3506,
)

PCR_MODEL = LatentLogisticModel(
    outcome="aln_pcr",
    intercept=-5.09,
    coefficients={
        "volume_change": -5.00, "heterogeneity_change": -8.00, "peritumoral_change": -3.00,
        "us_pcr": 0.90, "her2_enriched": 0.80, "triple_negative": 0.50,
    },
    formulas={
        "volume_change": "volume_factor - 1 (relative tumor volume change)",
        "heterogeneity_change": "heterogeneity_change (on - base)",
        "peritumoral_change": "peritumoral_change (relative change of peritumoral enhancement)",
        "us_pcr": "us_pcr (post-NAT axillary ultrasound normal, 0/1)",
        "her2_enriched": "subtype == 'HER2-enriched'", "triple_negative": "subtype == 'triple-negative'",
    },
    transforms={
        "volume_change": lambda f: f["volume_factor"] - 1.0,
        "heterogeneity_change": lambda f: f["heterogeneity_change"],
        "peritumoral_change": lambda f: f["peritumoral_change"],
        "us_pcr": lambda f: f["us_pcr"].astype(float),
        "her2_enriched": lambda f: (f["subtype"] == "HER2-enriched").astype(float),
        "triple_negative": lambda f: (f["subtype"] == "triple-negative").astype(float),
    },
    prevalence=0.3996,
)


def _lognormal(rng: np.random.Generator, median: float, sd_log: float, n: int) -> np.ndarray:
    return median * np.exp(rng.normal(0.0, sd_log, n))


def _case_ids(prefix: str, n: int) -> list[str]:
    width = max(4, len(str(n)))
    return [f"{prefix}{i + 1:0{width}d}" for i in range(n)]


def simulate_aln_cohort(n: int, seed: int = 0, *, model: LatentLogisticModel = ALN_MODEL) -> pd.DataFrame:
    """``n`` latent records for ALN metastasis (units: mm, %, years, 10⁹ cells/L).

    Columns: case_id, tumor_diameter_mm, heterogeneity, margin_irregularity,
    node_short_axis_mm, node_cortex_mm, ki67, age, neutrophils, lymphocytes, monocytes,
    platelets, wbc, sii, us_reported_aln, true_probability, aln_metastasis.
    """
    if n < 1:
        raise ValueError("n must be at least 1.")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 101]))
    frame = pd.DataFrame({"case_id": _case_ids("ALN", n)})
    frame["tumor_diameter_mm"] = np.clip(_lognormal(rng, 20.0, 0.35, n), 6.0, 60.0)
    frame["heterogeneity"] = rng.beta(2.0, 3.0, n)
    frame["margin_irregularity"] = rng.beta(2.0, 4.0, n)
    frame["node_short_axis_mm"] = np.clip(_lognormal(rng, 6.0, 0.30, n), 2.5, 25.0)
    frame["node_cortex_mm"] = np.clip(_lognormal(rng, 1.8, 0.35, n), 0.5, 8.0)
    frame["ki67"] = 100.0 * rng.beta(2.0, 4.0, n)
    frame["age"] = np.clip(rng.normal(52.0, 11.0, n), 25.0, 90.0)
    frame["neutrophils"] = _lognormal(rng, 3.8, 0.30, n)
    frame["lymphocytes"] = _lognormal(rng, 1.9, 0.30, n)
    frame["monocytes"] = _lognormal(rng, 0.45, 0.30, n)
    frame["platelets"] = _lognormal(rng, 250.0, 0.25, n)
    frame["wbc"] = frame["neutrophils"] + frame["lymphocytes"] + frame["monocytes"] + 0.25
    frame["sii"] = frame["neutrophils"] * frame["platelets"] / frame["lymphocytes"]
    # The radiologist reports a suspicious node more often when it is large.
    us_logit = -1.2 + 0.9 * (frame["node_short_axis_mm"] - 6.0) / 2.0
    frame["us_reported_aln"] = (rng.random(n) < 1 / (1 + np.exp(-us_logit))).astype(int)
    frame["true_probability"] = model.probability(frame)
    frame[model.outcome] = (rng.random(n) < frame["true_probability"]).astype(int)
    return frame


SUBTYPES = ("luminal", "HER2-enriched", "triple-negative")


def simulate_pcr_cohort(n: int, seed: int = 0, *, model: LatentLogisticModel = PCR_MODEL) -> pd.DataFrame:
    """``n`` latent records of node-positive patients on NAT, for ALN pCR.

    Columns: case_id, baseline_diameter_mm, volume_factor (on/base volume),
    heterogeneity_baseline, heterogeneity_change, peritumoral_change, us_pcr, subtype,
    true_probability, aln_pcr.
    """
    if n < 1:
        raise ValueError("n must be at least 1.")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 202]))
    frame = pd.DataFrame({"case_id": _case_ids("PCR", n)})
    frame["baseline_diameter_mm"] = np.clip(_lognormal(rng, 28.0, 0.30, n), 12.0, 70.0)
    frame["subtype"] = rng.choice(SUBTYPES, size=n, p=[0.5, 0.3, 0.2])
    frame["volume_factor"] = rng.beta(2.0, 2.5, n)
    frame["heterogeneity_baseline"] = rng.beta(2.0, 3.0, n) * 0.8 + 0.1
    frame["heterogeneity_change"] = np.clip(rng.normal(-0.05, 0.10, n), -frame["heterogeneity_baseline"], 0.5)
    frame["peritumoral_change"] = rng.normal(-0.20, 0.25, n)
    us_logit = -0.4 - 1.5 * (frame["volume_factor"] - 0.45)
    frame["us_pcr"] = (rng.random(n) < 1 / (1 + np.exp(-us_logit))).astype(int)
    frame["true_probability"] = model.probability(frame)
    frame[model.outcome] = (rng.random(n) < frame["true_probability"]).astype(int)
    return frame


def aln_lesion_spec(record: pd.Series | dict) -> LesionSpec:
    """Lesion appearance for an ALN record: size, heterogeneity and irregularity map to
    diameter, texture SD, lobulation and spiculation."""
    irregularity = float(record["margin_irregularity"])
    return LesionSpec(
        diameter_mm=float(record["tumor_diameter_mm"]),
        heterogeneity=0.1 + 0.5 * float(record["heterogeneity"]),
        lobulation=0.05 + 0.35 * irregularity,
        spiculation=0.6 * irregularity,
    )


def phantom_for_aln_record(record: pd.Series | dict, preset: str = "dce", seed: int = 0) -> Phantom:
    """Scan of one ALN record (with its lymph node) on a preset."""
    node = NodeSpec(short_axis_mm=float(record["node_short_axis_mm"]),
                    long_axis_mm=1.8 * float(record["node_short_axis_mm"]),
                    cortex_mm=min(float(record["node_cortex_mm"]), float(record["node_short_axis_mm"]) / 2 - 0.3))
    return make_phantom(preset, seed, aln_lesion_spec(record), node)


def phantoms_for_pcr_record(record: pd.Series | dict, preset: str = "dce", seed: int = 0) -> tuple[Phantom, Phantom]:
    """Baseline and on-treatment scans of one pCR record."""
    lesion = LesionSpec(diameter_mm=float(record["baseline_diameter_mm"]),
                        heterogeneity=float(record["heterogeneity_baseline"]), peritumoral=0.3)
    return make_pair(seed, float(record["volume_factor"]), preset, lesion,
                     peritumoral_factor=1.0 + float(record["peritumoral_change"]),
                     heterogeneity_change=float(record["heterogeneity_change"]))
