"""Synthetic study cohorts at the table level, for the replication examples (``axillary-predictor replicate``).

A study spec (``resources/studies/<paper>.yaml``) names the paper's cohorts and their sizes, the outcome
and its prevalence, the clinical variables with their distributions and effects, and the feature layout
(regions, views, delta, deep columns). ``simulate_study`` draws one synthetic cohort from it:

- every case has independent standard-normal latent scores, one per ``latents`` entry (e.g. the tumor
  and the peritumoral ring), and clinical values drawn from their distributions;
- the outcome is Bernoulli with logit ``intercept + Σ β_latent · z + Σ β_clinical · x`` (continuous
  variables enter per standard deviation); the intercept is solved so that the sample's expected
  prevalence equals the spec's;
- *planted* signal features are ``loading · z + √(1 − loading²) · ε`` of their latent (the paper's own
  feature names where it publishes them), plus near-duplicates of the first ones (r ≈ 0.97, for the
  redundancy filters); every other feature column is noise, in correlated blocks of five (r ≈ 0.6);
- a second reader's table (and the first reader's repeated reading) repeats every feature with
  measurement error: small for the planted features and for most noise features (ICC ≈ 0.9), large for
  a fifth of the noise features (ICC ≈ 0.4), so the ICC filter has something to remove.

The feature columns follow the product's scheme (``<region>__<view>__<pyradiomics name>``, ``delta__``
prefix for delta features, ``deep-<backbone>_<k>`` deep columns), so the tables go through the same
commands as real ones. No image is made: the examples replicate the statistics and model building of
each paper, not its extraction (phantom scans and ``axillary-predictor cohort`` cover that).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: pyradiomics 3.0.1 feature names per class (class -> names), for the noise columns
_CLASS_FEATURES: dict[str, tuple[str, ...]] = {
    "firstorder": ("10Percentile", "90Percentile", "Energy", "Entropy", "InterquartileRange", "Kurtosis",
                   "Maximum", "MeanAbsoluteDeviation", "Mean", "Median", "Minimum", "Range",
                   "RobustMeanAbsoluteDeviation", "RootMeanSquared", "Skewness", "TotalEnergy", "Uniformity",
                   "Variance"),
    "glcm": ("Autocorrelation", "ClusterProminence", "ClusterShade", "ClusterTendency", "Contrast", "Correlation",
             "DifferenceAverage", "DifferenceEntropy", "DifferenceVariance", "Id", "Idm", "Idmn", "Idn", "Imc1",
             "Imc2", "InverseVariance", "JointAverage", "JointEnergy", "JointEntropy", "MCC", "MaximumProbability",
             "SumAverage", "SumEntropy", "SumSquares"),
    "glrlm": ("GrayLevelNonUniformity", "GrayLevelNonUniformityNormalized", "GrayLevelVariance",
              "HighGrayLevelRunEmphasis", "LongRunEmphasis", "LongRunHighGrayLevelEmphasis",
              "LongRunLowGrayLevelEmphasis", "LowGrayLevelRunEmphasis", "RunEntropy", "RunLengthNonUniformity",
              "RunLengthNonUniformityNormalized", "RunPercentage", "RunVariance", "ShortRunEmphasis",
              "ShortRunHighGrayLevelEmphasis", "ShortRunLowGrayLevelEmphasis"),
    "glszm": ("GrayLevelNonUniformity", "GrayLevelNonUniformityNormalized", "GrayLevelVariance",
              "HighGrayLevelZoneEmphasis", "LargeAreaEmphasis", "LargeAreaHighGrayLevelEmphasis",
              "LargeAreaLowGrayLevelEmphasis", "LowGrayLevelZoneEmphasis", "SizeZoneNonUniformity",
              "SizeZoneNonUniformityNormalized", "SmallAreaEmphasis", "SmallAreaHighGrayLevelEmphasis",
              "SmallAreaLowGrayLevelEmphasis", "ZoneEntropy", "ZonePercentage", "ZoneVariance"),
    "gldm": ("DependenceEntropy", "DependenceNonUniformity", "DependenceNonUniformityNormalized",
             "DependenceVariance", "GrayLevelNonUniformity", "GrayLevelVariance", "HighGrayLevelEmphasis",
             "LargeDependenceEmphasis", "LargeDependenceHighGrayLevelEmphasis", "LargeDependenceLowGrayLevelEmphasis",
             "LowGrayLevelEmphasis", "SmallDependenceEmphasis", "SmallDependenceHighGrayLevelEmphasis",
             "SmallDependenceLowGrayLevelEmphasis"),
    "ngtdm": ("Busyness", "Coarseness", "Complexity", "Contrast", "Strength"),
}
_SHAPE = ("Elongation", "Flatness", "LeastAxisLength", "MajorAxisLength", "Maximum2DDiameterSlice",
          "Maximum3DDiameter", "MeshVolume", "MinorAxisLength", "Sphericity", "SurfaceArea", "SurfaceVolumeRatio",
          "VoxelVolume")
_IMAGE_TYPES = ("original", "log-sigma-1-0-mm-3D", "log-sigma-3-0-mm-3D", "wavelet-LLH", "wavelet-LHL",
                "wavelet-HLL", "wavelet-HHH", "wavelet-LLL", "square", "squareroot", "logarithm", "exponential")
DUPLICATE_R = 0.97
BLOCK_R = 0.6


@dataclass
class StudyCohort:
    """One synthetic study: the tables the commands read and the truth they should recover."""

    clinical: pd.DataFrame  # case_id, split, the outcome and the clinical variables
    features: pd.DataFrame  # case_id and the feature columns
    reader2: pd.DataFrame  # case_id and the same columns as read by a second reader
    reader1_repeat: pd.DataFrame | None = None  # the first reader's repeated reading (intra-observer)
    signal: dict[str, list[str]] = field(default_factory=dict)  # latent -> planted columns (with duplicates)
    intercept: float = 0.0

    @property
    def planted(self) -> set[str]:
        return {column for columns in self.signal.values() for column in columns}


def cohort_sizes(cohorts: Mapping[str, int], cases: int | None) -> dict[str, int]:
    """The spec's cohort sizes, or ``cases`` in all split in the same proportions (≥ 30 per cohort)."""
    if not cases:
        return {name: int(size) for name, size in cohorts.items()}
    total = sum(cohorts.values())
    return {name: max(30, round(cases * size / total)) for name, size in cohorts.items()}


def _clinical_column(variable: Mapping[str, Any], n: int, rng: np.random.Generator) -> tuple[pd.Series, np.ndarray]:
    """(values, contribution to the logit) of one clinical variable."""
    kind = variable["kind"]
    if kind == "binary":
        x = (rng.random(n) < float(variable["p"])).astype(int)
        return pd.Series(x), float(variable.get("beta", 0.0)) * x
    if kind == "categorical":
        levels = list(map(str, variable["levels"]))
        codes = rng.choice(len(levels), size=n, p=np.asarray(variable["probs"], float) / sum(variable["probs"]))
        betas = np.asarray(variable.get("betas", [0.0] * len(levels)), float)
        return pd.Series(np.array(levels, dtype=object)[codes]), betas[codes]
    mean, sd = float(variable["mean"]), float(variable["sd"])
    if variable.get("lognormal"):
        sigma = np.sqrt(np.log1p((sd / mean) ** 2))
        z = rng.standard_normal(n)
        x = np.exp(np.log(mean) - sigma ** 2 / 2 + sigma * z)
    else:
        z = rng.standard_normal(n)
        x = mean + sd * z
    digits = int(variable.get("digits", 1))
    return pd.Series(np.round(x, digits)), float(variable.get("beta", 0.0)) * z


def _intercept(linear: np.ndarray, prevalence: float) -> float:
    """The intercept whose mean expit(intercept + linear) equals ``prevalence`` (bisection)."""
    low, high = -20.0, 20.0
    for _ in range(100):
        middle = (low + high) / 2
        if np.mean(1 / (1 + np.exp(-(middle + linear)))) < prevalence:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _candidate_names(layout: Mapping[str, Any]) -> list[str]:
    """Every feature name the layout can have (shape of the original image only)."""
    image_types = layout.get("image_types", _IMAGE_TYPES)
    names = [f"original_shape_{f}" for f in _SHAPE] if "original" in image_types else []
    names += [f"{t}_{c}_{f}" for t in image_types for c, features in _CLASS_FEATURES.items() for f in features]
    return names


def _columns(layout: Mapping[str, Any], prefix: str) -> list[tuple[str, str, str]]:
    """(region, view, group key) of every region × view block of the layout."""
    return [(region, view, f"{prefix}{region}__{view}__") for region in layout["regions"] for view in layout["views"]]


def _noise_names(layout: Mapping[str, Any], prefix: str, planted: set[str], rng: np.random.Generator) -> list[str]:
    names = _candidate_names(layout)
    chosen = []
    per_block = int(layout.get("noise_per_block", 60))
    for _, _, head in _columns(layout, prefix):
        pool = [head + name for name in names if head + name not in planted]
        chosen += [pool[i] for i in sorted(rng.choice(len(pool), size=min(per_block, len(pool)), replace=False))]
    return chosen


def _deep_names(deep: Mapping[str, Any], prefix: str) -> list[str]:
    head = f"{prefix}{deep['region']}__{deep['view']}__deep-{deep['backbone']}_"
    return [f"{head}{k}" for k in range(int(deep["count"]))]


def _signal_columns(spec: Mapping[str, Any], prefix: str) -> list[dict[str, Any]]:
    """The planted features: the spec's named ones and the deep ones, each with its latent and loading."""
    planted = [{**entry, "column": prefix + entry["column"]} for entry in spec.get("signal", [])]
    for deep in spec.get("deep", []):
        names = _deep_names(deep, prefix)
        planted += [{"column": names[int(entry["index"])], "latent": entry["latent"],
                     "loading": entry.get("loading", 0.6), "sign": entry.get("sign", 1)}
                    for entry in deep.get("signal", [])]
    return planted


def _duplicate_name(column: str) -> str:
    """A near-duplicate's name: the same feature of the logarithm image (or of the original one)."""
    head, _, feature = column.rpartition("__")
    image_type, _, rest = feature.partition("_")
    other = "logarithm" if image_type != "logarithm" else "original"
    return f"{head}__{other}_{rest}"


def _feature_matrix(spec: Mapping[str, Any], latents: dict[str, np.ndarray], rng: np.random.Generator,
                    prefix: str) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The feature columns (planted, duplicates, noise blocks) in standard units, and the planted names."""
    n = len(next(iter(latents.values())))
    columns: dict[str, np.ndarray] = {}
    signal: dict[str, list[str]] = {name: [] for name in latents}
    planted = _signal_columns(spec, prefix)
    for entry in planted:
        loading = float(entry.get("loading", 0.6))
        z = latents[entry["latent"]] * float(entry.get("sign", 1))
        columns[entry["column"]] = loading * z + np.sqrt(1 - loading ** 2) * rng.standard_normal(n)
        signal[entry["latent"]].append(entry["column"])
    for entry in planted[: int(spec.get("duplicates", 0))]:
        name = _duplicate_name(entry["column"])
        if name not in columns:
            error = np.sqrt(1 - DUPLICATE_R ** 2) * rng.standard_normal(n)
            columns[name] = DUPLICATE_R * columns[entry["column"]] + error
            signal[entry["latent"]].append(name)
    noise = _noise_names(spec["layout"], prefix, set(columns), rng)
    for deep in spec.get("deep", []):
        noise += [c for c in _deep_names(deep, prefix) if c not in columns]
    for start in range(0, len(noise), 5):
        factor = rng.standard_normal(n)
        for name in noise[start:start + 5]:
            columns[name] = np.sqrt(BLOCK_R) * factor + np.sqrt(1 - BLOCK_R) * rng.standard_normal(n)
    return pd.DataFrame(columns), signal


def _in_units(frame: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Each column moved to a plausible scale (positive location, varied spread), with its (location, scale)."""
    location = np.round(10 ** rng.uniform(-1, 3, frame.shape[1]), 3)
    scale = location * rng.uniform(0.1, 0.4, frame.shape[1])
    return frame * scale + location, location, scale


def _reader2(features: pd.DataFrame, planted: set[str], scale: np.ndarray, rng: np.random.Generator,
             base: float = 0.3) -> pd.DataFrame:
    """Another reading: error SD ``base`` × the feature's SD (0.3: ICC ≈ 0.9), 1.2 × for a fifth of the noise
    columns."""
    error = np.full(features.shape[1], base)
    unreliable = [i for i, c in enumerate(features.columns) if c not in planted and rng.random() < 0.2]
    error[unreliable] = 1.2
    return features + rng.standard_normal(features.shape) * (error * scale)


def simulate_study(spec: Mapping[str, Any], cases: int | None = None, seed: int = 0) -> StudyCohort:
    """One synthetic cohort of the study ``spec`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    sizes = cohort_sizes(spec["cohorts"], cases)
    n = sum(sizes.values())
    split = np.repeat(list(sizes), list(sizes.values()))
    latents = {name: rng.standard_normal(n) for name in spec["latents"]}
    linear = sum(float(beta) * latents[name] for name, beta in spec["latents"].items())
    clinical = pd.DataFrame({"case_id": [f"{spec['name']}-{i + 1:04d}" for i in range(n)], "split": split})
    for variable in spec.get("clinical", []):
        values, contribution = _clinical_column(variable, n, rng)
        clinical[variable["name"]] = values
        linear = linear + contribution
    intercept = _intercept(linear, float(spec["prevalence"]))
    outcome = (rng.random(n) < 1 / (1 + np.exp(-(intercept + linear)))).astype(int)
    clinical.insert(2, spec["outcome"], outcome)
    prefix = "delta__" if spec["layout"].get("delta") else ""
    standard, signal = _feature_matrix(spec, latents, rng, prefix)
    features, _, scale = _in_units(standard, rng)
    planted = {c for cs in signal.values() for c in cs}
    reader2 = _reader2(features, planted, scale, rng)
    repeat = _reader2(features, planted, scale, rng, base=0.2)
    ids = clinical["case_id"]
    return StudyCohort(clinical, _with_ids(features, ids), _with_ids(reader2, ids), _with_ids(repeat, ids), signal,
                       intercept)


def _with_ids(frame: pd.DataFrame, ids: Sequence[str]) -> pd.DataFrame:
    frame = frame.round(6)
    frame.insert(0, "case_id", list(ids))
    return frame
