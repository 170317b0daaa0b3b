"""Extraction profiles: named, versioned pyradiomics parameter files shipped as YAML.

A profile is a pyradiomics parameter file (``imageType``, ``featureClass``, ``setting``)
plus our own ``axillaryPredictor`` block (name, version, modality, description and the
preprocessing we run before pyradiomics: N4, resampling, normalization). That block is
removed before pyradiomics sees the file, and the preprocessing settings pyradiomics
would otherwise apply itself (resampling, normalization, cropping) are switched off there,
because ``preprocessing`` has already done them once per view on the shared grid.

Profile hash: SHA-256 of the canonical JSON (sorted keys, no spaces) of the parsed
settings with pyradiomics' defaults filled in, the enabled image types and feature
classes and our preprocessing block — not of the file bytes, so formatting and comments
do not change it.

Feature counts (optional, not in the hash): ``feature_count`` is the number of features the
profile gives per region (and view, and timepoint) with pyradiomics 3.0.1; a ``paper`` block
states the study's own count (``doi``, ``feature_count``, ``views``: how many views the paper's
count spans, ``difference`` = feature_count x views - the paper's, ``note``: why). Shown by
``axillary-predictor profiles``; Testing/test_profiles.py extracts and counts them.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from AxillaryPredictorLib.errors import ExtractionError, InputFileNotFoundError

HEADER_KEY = "axillaryPredictor"
#: pyradiomics settings the engine owns: preprocessing happens before pyradiomics runs.
FORCED_SETTINGS = {"preCrop": False, "resampledPixelSpacing": None, "normalize": False, "additionalInfo": False}
DEFAULT_PREPROCESSING = {"n4": False, "n4ShrinkFactor": 4, "resampledPixelSpacing": None, "normalize": False,
                         "normalizeScale": 1, "interpolator": "sitkBSpline"}


def quiet_radiomics() -> None:
    """pyradiomics logs every filter and class (and a GLCM note per image) — keep errors only."""
    import logging

    import radiomics

    radiomics.setVerbosity(logging.ERROR)
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    logging.getLogger("pykwalify").setLevel(logging.WARNING)  # parameter-file validation chatter


def profiles_directory() -> Path:
    return Path(str(resources.files("AxillaryPredictorLib") / "resources" / "profiles"))


def list_profiles() -> list[str]:
    """Names of the shipped profiles."""
    return sorted(p.stem for p in profiles_directory().glob("*.yaml"))


@dataclass(frozen=True)
class Profile:
    """A parsed profile; ``params`` is the pyradiomics part (image types, classes, settings)."""

    name: str
    version: int
    modality: str
    description: str
    preprocessing: dict[str, Any]
    params: dict[str, Any] = field(repr=False)
    source: str = ""
    #: deep features (``extraction.deep.DeepSpec``): backbone (registry name or .onnx path, made
    #: absolute), output, region, context_mm, input_size; None: no deep features. In the hash (the
    #: file by name); the weights' SHA-256 is recorded and checked on its own (``inputs.deep``).
    deep: dict[str, Any] | None = None
    #: features per region (and view) this profile gives, as declared in its file (None: not stated)
    feature_count: int | None = None
    #: the study's own count: doi, feature_count, views, difference, note (see the module docstring)
    paper: dict[str, Any] | None = None

    def extractor(self) -> Any:
        """A configured ``RadiomicsFeatureExtractor`` (our forced settings applied)."""
        from radiomics import featureextractor

        quiet_radiomics()
        params = copy.deepcopy(self.params)
        params.setdefault("setting", {})
        params["setting"] = {**(params["setting"] or {}), **FORCED_SETTINGS}
        return featureextractor.RadiomicsFeatureExtractor(params)

    @cached_property
    def parsed(self) -> dict[str, Any]:
        """Settings with pyradiomics defaults filled in, enabled image types and classes."""
        extractor = self.extractor()
        parsed = {"setting": dict(extractor.settings), "imageType": dict(extractor.enabledImagetypes),
                  "featureClass": {k: v for k, v in extractor.enabledFeatures.items()},
                  "preprocessing": self.preprocessing}
        if self.deep:  # hashed with the file's name only; the weights' identity is their SHA-256 (inputs.deep)
            parsed["deep"] = {**self.deep, "backbone": Path(str(self.deep["backbone"])).name}
        return parsed

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.parsed["setting"])

    @property
    def image_types(self) -> dict[str, dict[str, Any]]:
        return dict(self.parsed["imageType"])

    @property
    def feature_classes(self) -> list[str]:
        return list(self.parsed["featureClass"])

    @property
    def is_2d(self) -> bool:
        return bool(self.parsed["setting"].get("force2D"))

    @cached_property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON of the parsed profile (see module docstring)."""
        canonical = json.dumps(self.parsed, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def provenance(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "sha256": self.hash, "source": self.source}


#: pyradiomics settings that are preprocessing here: a plain pyradiomics file's values move
#: to the ``axillaryPredictor.preprocessing`` block (and so into the profile hash).
PREPROCESSING_SETTINGS = ("resampledPixelSpacing", "normalize", "normalizeScale", "removeOutliers", "interpolator")
INTERPOLATORS = ("sitkNearestNeighbor", "sitkLinear", "sitkBSpline", "sitkGaussian", "sitkLabelGaussian",
                 "sitkHammingWindowedSinc", "sitkCosineWindowedSinc", "sitkWelchWindowedSinc",
                 "sitkLanczosWindowedSinc", "sitkBlackmanWindowedSinc")


def _moved_settings(document: dict, declared: dict, path: Path) -> dict[str, Any]:
    """Take the preprocessing settings out of a pyradiomics ``setting`` block (see above)."""
    settings = document.get("setting") or {}
    moved = {key: settings.pop(key) for key in PREPROCESSING_SETTINGS if key in settings}
    conflicts = [k for k, v in moved.items() if k in declared and declared[k] != v]
    if conflicts:
        raise ExtractionError(f"The profile {path} sets {', '.join(conflicts)} both in 'setting' and in "
                              f"'{HEADER_KEY}: preprocessing' with different values; keep one.")
    if isinstance(moved.get("interpolator"), int):  # pyradiomics also accepts SimpleITK's enum values
        import SimpleITK as sitk

        candidates = [*(f"sitkBSpline{order}" for order in range(1, 6)), *INTERPOLATORS]
        names = {getattr(sitk, n): n for n in candidates if isinstance(getattr(sitk, n, None), int)}
        if moved["interpolator"] not in names:
            raise ExtractionError(f"The profile {path}: unknown interpolator {moved['interpolator']}; use a name "
                                  "such as sitkBSpline.")
        moved["interpolator"] = names[moved["interpolator"]]
    if moved.get("resampledPixelSpacing") is not None and not any(moved["resampledPixelSpacing"]):
        moved["resampledPixelSpacing"] = None  # pyradiomics: [0, 0, 0] = keep the spacing
    return moved


#: the most gray levels a profile may ask for: pyradiomics' matrices grow with the square of the
#: number of gray levels; published radiomics uses 8 to 256 bins (binCount) or a bin width that
#: gives 30-130 bins, and a billion bins ran for minutes to give only NaN
MAX_BIN_COUNT = 10000


def _check_discretization(document: dict[str, Any], path: Path) -> None:
    """Refuse binCount/binWidth values that cannot give features (<= 0, not numbers) or absurd ones
    (binCount > MAX_BIN_COUNT), in ``setting`` and in each image type's own settings."""
    blocks = [("setting", document.get("setting"))]
    image_types = document.get("imageType")
    if isinstance(image_types, dict):
        blocks += [(f"imageType: {kind}", options) for kind, options in image_types.items()]
    for where, block in blocks:
        if not isinstance(block, dict):
            continue
        for key in ("binCount", "binWidth"):
            if key not in block or block[key] is None:
                continue
            value = block[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ExtractionError(f"The profile {path} sets {key}: {value!r} ({where}); it must be a number > 0 "
                                      "(e.g. binWidth: 25, or binCount: 32).")
            if key == "binCount" and value > MAX_BIN_COUNT:
                raise ExtractionError(f"The profile {path} sets binCount: {value:g} ({where}); at most "
                                      f"{MAX_BIN_COUNT} gray levels are allowed (usual values are 8 to 256; "
                                      "pyradiomics' texture matrices grow with the number of gray levels). Use e.g. "
                                      "binCount: 32.")
DEEP_KEYS = ("backbone", "output", "region", "context_mm", "context", "input_size")


def _deep_block(block: Any, path: Path) -> dict[str, Any] | None:
    """The profile's ``deep`` block (extraction.deep.DeepSpec), an .onnx path made absolute."""
    if block is None:
        return None
    unknown = [k for k in block if k not in DEEP_KEYS] if isinstance(block, dict) else []
    if not isinstance(block, dict) or not block.get("backbone") or unknown:
        raise ExtractionError(f"The profile {path}: 'deep' must be a mapping with 'backbone' (a registry name or an "
                              f".onnx path) and optionally {', '.join(DEEP_KEYS[1:])}"
                              f"{'; unknown: ' + ', '.join(unknown) if unknown else ''}.")
    from AxillaryPredictorLib.extraction.deep import DeepSpec

    return DeepSpec.from_value(block, base=path.parent).to_dict()


PAPER_KEYS = ("doi", "feature_count", "views", "difference", "note")


def _whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _declared_counts(header: dict[str, Any], path: Path) -> tuple[int | None, dict[str, Any] | None]:
    """``feature_count`` and the ``paper`` block of a profile's header, checked: whole numbers, and
    ``difference`` = feature_count x views - the paper's count."""
    count, paper = header.get("feature_count"), header.get("paper")
    if count is not None and not (_whole_number(count) and count > 0):
        raise ExtractionError(f"The profile {path}: 'feature_count' must be a whole number > 0, not {count!r}.")
    if paper is None:
        return count, None
    unknown = [k for k in paper if k not in PAPER_KEYS] if isinstance(paper, dict) else []
    if not isinstance(paper, dict) or unknown or count is None:
        raise ExtractionError(f"The profile {path}: 'paper' must be a mapping of {', '.join(PAPER_KEYS)}"
                              f"{'; unknown: ' + ', '.join(unknown) if unknown else ''}, beside 'feature_count'.")
    paper = {"doi": None, "views": 1, "difference": None, "note": "", **paper}
    if not all(_whole_number(paper[k]) for k in ("feature_count", "views")) or paper["views"] < 1:
        raise ExtractionError(f"The profile {path}: paper 'feature_count' and 'views' must be whole numbers.")
    difference = count * paper["views"] - paper["feature_count"]
    if paper["difference"] is not None and paper["difference"] != difference:
        raise ExtractionError(f"The profile {path}: paper 'difference' is {paper['difference']}, but "
                              f"{count} x {paper['views']} - {paper['feature_count']} = {difference}.")
    return count, {**paper, "difference": difference, "note": " ".join(str(paper["note"] or "").split())}


def load_profile(name_or_path: str | Path) -> Profile:
    """A shipped profile by name, or a user's YAML file (pyradiomics format, with an
    optional ``axillaryPredictor`` block)."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = profiles_directory() / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ExtractionError(f"Unknown profile '{name_or_path}'. Shipped profiles: {', '.join(list_profiles())}; "
                                  "or give the path of a pyradiomics parameter file (YAML).")
    if not path.is_file():
        raise InputFileNotFoundError(f"No profile file at {path}.")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ExtractionError(f"The profile {path} is not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise ExtractionError(f"The profile {path} must be a YAML mapping (pyradiomics parameter file).")
    header = document.pop(HEADER_KEY, None) or {}
    _check_discretization(document, path)
    preprocessing = {**DEFAULT_PREPROCESSING, **_moved_settings(document, header.get("preprocessing") or {}, path),
                     **(header.get("preprocessing") or {})}
    feature_count, paper = _declared_counts(header, path)
    profile = Profile(name=str(header.get("name", path.stem)), version=int(header.get("version", 1)),
                      modality=str(header.get("modality", "")), description=str(header.get("description", "")),
                      preprocessing=preprocessing, params=document, source=path.name,
                      deep=_deep_block(header.get("deep"), path), feature_count=feature_count, paper=paper)
    try:
        _ = profile.parsed  # validates with pyradiomics' own schema
    except Exception as error:
        raise ExtractionError(f"pyradiomics rejected the profile {path}: {error}") from None
    return profile
