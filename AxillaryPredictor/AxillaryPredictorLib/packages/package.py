"""Model packages: JSON documents that hold everything needed to score a case and draw its
nomogram — and nothing that can execute code.

A package is validated against ``resources/schemas/model-package.schema.json`` and carries
a SHA-256 over its canonical JSON (sorted keys, no whitespace, UTF-8) without the
``sha256`` field; ``load_package`` refuses a package whose hash does not match, whose
estimator type is unknown, or that breaks the schema (the error names the JSON path), and
one whose numbers do not fit together (``packages.semantics``). A package file is read only
when it is at most ``MAX_PACKAGE_BYTES`` (20 MB) and nested at most ``MAX_NESTING`` (64) levels
deep (checked on the raw text, before parsing), and NaN/Infinity are refused.

The SHA-256 proves integrity, not origin: anyone can recompute it. A package's ``origin`` is
``bundled`` only when its id and SHA-256 are those the bundled registry (``Models.json``) lists;
every other package is ``user``: shown as "user-supplied, unverified", its status as claimed by the
file (``origin_text``, ``status_text``).

Scoring (``ModelPackage.predict_proba``) is our own numpy code for every estimator type:
derived linear scores (RadScores: the linear predictor, or its probability with ``link: logistic``,
as the package's ``radscore_scale`` says) first, then standardization, then the estimator's scorer
from the estimator registry (``modeling.estimators.ESTIMATORS``: ``logistic``,
``linear-svm``/``rbf-svm`` with Platt scaling, ``xgboost`` from its native JSON, ``stacked``
sub-models under a meta model).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from AxillaryPredictorLib.errors import InputFileNotFoundError, ModelError
from AxillaryPredictorLib.modeling.estimators import (
    ESTIMATORS,
    estimator_probability,
    fill_missing,
    model_inputs,
    sigmoid,
)

#: estimator types a package may hold: the registry's (``modeling.estimators.ESTIMATORS``)
ESTIMATOR_TYPES = tuple(ESTIMATORS)

#: a package's ``status`` (the schema's enum; a test checks they agree)
DEMONSTRATION = "demonstration"
NEEDS_RECALIBRATION = "published-needs-recalibration"
LOCALLY_RECALIBRATED = "locally-recalibrated"
LOCALLY_VALIDATED = "locally-validated"
STATUSES = (DEMONSTRATION, NEEDS_RECALIBRATION, LOCALLY_RECALIBRATED, LOCALLY_VALIDATED)
#: a package's ``task`` (the schema's enum; ``train --task`` choices)
TASKS = ("ALN metastasis", "ALN pCR after NAT")
#: largest package file read (bytes) and deepest JSON nesting accepted (bundled packages: 5 levels)
MAX_PACKAGE_BYTES = 20 * 1024 * 1024
MAX_NESTING = 64
#: a package's origin (``ModelPackage.origin``)
BUNDLED, USER = "bundled", "user"
#: ``radscore_scale`` values (``modeling.combined.RADSCORE_SCALES``) and the derived scores' link of each
RADSCORE_LINEAR_PREDICTOR, RADSCORE_PROBABILITY = "linear-predictor", "probability"
RADSCORE_LINKS = {RADSCORE_LINEAR_PREDICTOR: "identity", RADSCORE_PROBABILITY: "logistic"}
USER_SUPPLIED = "user-supplied, unverified"


class PackageError(ModelError):
    """A model package that cannot be used, with the reason and where in the JSON."""


def canonical_json(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def package_hash(document: dict) -> str:
    """SHA-256 of the canonical JSON without the ``sha256`` field."""
    body = {k: v for k, v in document.items() if k != "sha256"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def nesting_depth(text: str, limit: int = MAX_NESTING) -> int:
    """Deepest ``[``/``{`` nesting of JSON text outside strings; stops counting past ``limit``
    (so a hostile document costs no recursion and little time)."""
    depth = deepest = 0
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                break
        elif token in ("]", "}"):
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> None:
    raise PackageError(f"The package holds {name}, which is not a JSON number; numbers must be finite.")


def _finite_number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise PackageError(f"The package holds {text}, which is not a finite number.")
    return value


def read_package_file(path: Path) -> object:
    """The parsed JSON of a package file: size, encoding and nesting checked before parsing."""
    try:
        size = path.stat().st_size
        if size > MAX_PACKAGE_BYTES:
            raise PackageError(f"{path} is {size / 2**20:.1f} MB; model packages are at most "
                               f"{MAX_PACKAGE_BYTES // 2**20} MB.")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise PackageError(f"{path} is not UTF-8 text; a model package is a JSON file.") from None
    except OSError as error:
        raise PackageError(f"Cannot read the model package {path}: {error.strerror or error}.") from None
    if nesting_depth(text) > MAX_NESTING:
        raise PackageError(f"{path} is nested more than {MAX_NESTING} levels deep; model packages are not. "
                           "Refusing to parse it.")
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_number)
    except json.JSONDecodeError as error:
        raise PackageError(f"{path} is not valid JSON: {error}") from None
    except RecursionError:
        raise PackageError(f"{path} is nested too deeply to be a model package.") from None


def origin_text(origin: str, path: Path | str | None = None) -> str:
    """How the origin reads in listings, model cards and reports."""
    if origin == BUNDLED:
        return "bundled with AxillaryPredictor (id and SHA-256 listed in its registry)"
    return USER_SUPPLIED + (f" ({path})" if path else "") + ": not in the bundled registry; anyone can seal a " \
        "package, so its content and claims are not vouched for"


def status_text(status: str, origin: str) -> str:
    """A package's status; for user packages, labelled as claimed by the file."""
    return status if origin == BUNDLED else f"{status} (claimed by the file, not verified)"


def schema() -> dict:
    path = resources.files("AxillaryPredictorLib") / "resources" / "schemas" / "model-package.schema.json"
    return json.loads(path.read_text(encoding="utf-8"))


def validate_document(document: dict) -> None:
    """Schema check; PackageError naming the JSON path of the first problem."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        raise PackageError(f"Invalid model package at {path}: {error.message}")


def seal(document: dict) -> dict:
    """A copy with its ``sha256`` set (call after every edit)."""
    sealed = copy.deepcopy(document)
    sealed["sha256"] = package_hash(sealed)
    return sealed


def build_date() -> str:
    """ISO date of the build: from ``SOURCE_DATE_EPOCH`` when set (reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch else datetime.now(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def save_package(document: dict, path: str | Path) -> Path:
    """Seal, validate and write a package (pretty, sorted keys: byte-reproducible)."""
    from AxillaryPredictorLib.files import write_text_atomic

    sealed = seal(document)
    validate_document(sealed)
    return write_text_atomic(Path(path), json.dumps(sealed, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------- scoring


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    return frame[name].to_numpy(dtype=float)


def _linear_score(frame: pd.DataFrame, spec: dict) -> np.ndarray:
    """intercept + Σ coef·(x − mean)/scale over ``spec['features']`` (missing values filled by ``impute``);
    its probability when ``link`` is ``logistic``."""
    x = fill_missing(np.column_stack([_column(frame, f) for f in spec["features"]]), spec.get("impute"))
    mean = np.asarray(spec.get("mean", np.zeros(x.shape[1])), float)
    scale = np.asarray(spec.get("scale", np.ones(x.shape[1])), float)
    score = float(spec.get("intercept", 0.0)) + ((x - mean) / scale) @ np.asarray(spec["coefficients"], float)
    return sigmoid(score) if spec.get("link") == "logistic" else score


@dataclass
class ModelPackage:
    """A loaded, verified package (``document`` is the JSON)."""

    document: dict
    path: Path | None = None

    origin: str = USER  # BUNDLED only when the bundled registry lists this id and SHA-256 (set by load_package)
    notes: list[str] | None = None  # what the loader said (e.g. a user file with this id was ignored)

    @property
    def id(self) -> str:
        return self.document["id"]

    @property
    def verified(self) -> bool:
        """True for a package bundled with this installation (its registry lists this id and hash)."""
        return self.origin == BUNDLED

    def origin_text(self) -> str:
        return origin_text(self.origin, None if self.verified else self.path)

    def status_text(self) -> str:
        return status_text(self.status, self.origin)

    @property
    def column_scheme(self) -> str:
        """``radiomics`` (columns extracted from images) or ``plain`` (trained on another tool's table)."""
        from AxillaryPredictorLib.packages.semantics import column_scheme_of

        return column_scheme_of(self.document)

    def check_scores_images(self) -> None:
        """ModelError when the package cannot score features extracted from images (plain columns)."""
        if self.column_scheme == "plain":
            from AxillaryPredictorLib.packages.semantics import raw_columns

            example = ", ".join(raw_columns(self.document)[:3])
            raise ModelError(f"Model '{self.id}' was trained on a feature table with plain column names ({example}), "
                             "not on features this tool extracts from images (<region>__<view>__<feature>): it cannot "
                             "score images. Score a table with those columns instead ('axillary-predictor evaluate "
                             "--model PKG --cohort NAME=CSV').")

    @property
    def radscore_scale(self) -> str:
        """What the derived scores (RadScores) are: ``linear-predictor`` (default) or ``probability``."""
        return self.document.get("radscore_scale", RADSCORE_LINEAR_PREDICTOR)

    def clinical_inputs(self) -> list[str]:
        """Clinical names a case may give: the variables and, for blood indices, their counts."""
        return list(dict.fromkeys(name for v in self.clinical_variables() for name in v.inputs()))

    def check_clinical(self, values: Mapping[str, Any]) -> None:
        """InputError for a clinical input the model does not use (e.g. a misspelt name)."""
        from AxillaryPredictorLib.modeling.clinical import check_clinical_names

        check_clinical_names(values, self.clinical_variables(), model=f"model '{self.id}'")

    @property
    def status(self) -> str:
        return self.document["status"]

    @property
    def features(self) -> list[str]:
        return list(self.document["features"])

    def required_columns(self) -> list[str]:
        """Input columns a case must provide (radiomics columns and clinical variables)."""
        derived = {d["name"] for d in self.document.get("derived", [])}
        needed = [f for d in self.document.get("derived", []) for f in d["features"]]
        needed += [f for f in self.features if f not in derived]
        estimator = self.document["estimator"]
        if estimator["type"] == "stacked":
            needed += [f for m in estimator["members"] for f in m["features"]]
        clinical_columns = {c for v in self.clinical_variables() for c in v.columns()}
        return list(dict.fromkeys(c for c in needed if c not in clinical_columns and c not in derived))

    def clinical_variables(self) -> list:
        from AxillaryPredictorLib.modeling.clinical import ClinicalVariable

        return [ClinicalVariable.from_dict(v) for v in self.document.get("clinical_variables", [])]

    def check_inputs(self, frame: pd.DataFrame) -> None:
        """ValueError listing every required feature or clinical variable that is missing."""
        missing = [c for c in self.required_columns() if c not in frame.columns]
        clinical = [v.name + (f" (or its counts {', '.join(v.count_columns().values())})" if v.blood_index else "")
                    for v in self.clinical_variables() if not set(v.columns()) <= set(frame.columns)
                    and v.name not in frame.columns]
        if missing and self.column_scheme == "plain" and any("__" in str(c) for c in frame.columns):
            self.check_scores_images()  # features from images given to a model of a plain table
        if missing or clinical:
            parts = []
            if missing:
                parts.append(f"{len(missing)} feature(s) missing, e.g. {', '.join(missing[:5])}")
            if clinical:
                parts.append(f"clinical variable(s) missing: {', '.join(clinical)}")
            raise ModelError(f"The case does not provide what model '{self.id}' needs: " + "; ".join(parts) + ".")

    def encode_clinical(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Add the clinical design columns (validated; raw clinical values may be text)."""
        from AxillaryPredictorLib.modeling.clinical import validate_clinical

        variables = self.clinical_variables()
        if not variables:
            return frame
        rows = [validate_clinical(record, variables) for record in frame.to_dict(orient="records")]
        encoded = pd.DataFrame(rows, index=frame.index)
        return pd.concat([frame.drop(columns=[c for c in encoded.columns if c in frame.columns]), encoded], axis=1)

    def with_derived(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Frame with the derived linear scores (e.g. RadScores) added as columns."""
        out = frame.copy()
        for derived in self.document.get("derived", []):
            out[derived["name"]] = _linear_score(out, derived)
        return out

    def design(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's design of each case: clinical values validated and encoded, derived scores (e.g.
        RadScores) added. Computed once per case and passed along (scoring, nomogram, report)."""
        encoded = self.encode_clinical(frame)
        self.check_inputs(encoded)
        return self.with_derived(encoded)

    def linear_predictor(self, frame: pd.DataFrame) -> np.ndarray:
        """Logistic packages: intercept + Σ β·x on the (standardized) model inputs."""
        estimator = self.document["estimator"]
        if estimator["type"] != "logistic":
            raise ModelError("The linear predictor is defined for logistic models only.")
        x = model_inputs(self.design(frame), self.features, self.document.get("standardization"),
                         self.document.get("imputation"))
        return float(estimator["intercept"]) + x @ np.asarray(estimator["coefficients"], float)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """P(outcome) per row of ``frame`` (radiomics columns + clinical values)."""
        self._check_usable()
        return self.predict_proba_design(self.design(frame))

    def predict_proba_design(self, design: pd.DataFrame) -> np.ndarray:
        """P(outcome) per row of a design made by ``design`` (no second encoding)."""
        self._check_usable()
        x = model_inputs(design, self.features, self.document.get("standardization"), self.document.get("imputation"))
        if not np.isfinite(x).all():
            bad = [f for i, f in enumerate(self.features) if not np.isfinite(x[:, i]).all()]
            raise ModelError(f"Model inputs are undefined (NaN) for: {', '.join(bad[:5])}.")
        return estimator_probability(self.document["estimator"], x, design)

    def _check_usable(self) -> None:
        if self.status == NEEDS_RECALIBRATION:
            raise ModelError(f"Model '{self.id}' is a published signature that must be recalibrated on local cases "
                             "before use (its intercept/standardization were not published). Run "
                             "'axillary-predictor recalibrate --model PKG --features ... --outcome ...'.")

    def imputed(self, frame: pd.DataFrame) -> list[str]:
        """Inputs missing (NaN) in ``frame`` that the package fills with its training values."""
        filled = []
        if self.document.get("imputation"):
            filled += [f for f in self.features if f in frame.columns and frame[f].isna().any()]
        for derived in self.document.get("derived", []):
            if derived.get("impute"):
                filled += [f for f in derived["features"] if f in frame.columns and frame[f].isna().any()]
        return filled

    def risk_group(self, probability: float) -> str:
        for group in self.document.get("risk_groups", []):
            if group.get("upper") is None or probability < float(group["upper"]):
                return group["name"]
        return "high" if probability >= self.document.get("threshold", 0.5) else "low"

    def out_of_range_cases(self, frame: pd.DataFrame, cases: Sequence[str] | None = None) -> list[str]:
        """Per input, how many rows of ``frame`` (a cohort's design) lie outside the training range, with
        example case ids (``cases``): the cohort-level out-of-distribution warnings of ``evaluate``."""
        warnings = []
        for name, (low, high) in self.document.get("training_ranges", {}).items():
            if name not in frame.columns:
                continue
            values = pd.to_numeric(frame[name], errors="coerce").to_numpy(float)
            outside = np.isfinite(values) & ((values < low) | (values > high))
            if outside.any():
                examples = [str(c) for c, o in zip(cases if cases is not None else frame.index, outside, strict=True)
                            if o][:3]
                warnings.append(f"{name}: {int(outside.sum())} of {len(values)} case(s) outside the training range "
                                f"[{low:.4g}, {high:.4g}] (e.g. {', '.join(examples)}; out of distribution).")
        return warnings

    def out_of_range(self, frame: pd.DataFrame) -> list[str]:
        """Inputs outside the training range (out-of-distribution warnings)."""
        warnings = []
        for name, (low, high) in self.document.get("training_ranges", {}).items():
            if name in frame.columns:
                value = float(frame[name].iloc[0])
                if math.isfinite(value) and not low <= value <= high:
                    warnings.append(f"{name} = {value:.4g} lies outside the training range [{low:.4g}, {high:.4g}] "
                                    "(out of distribution): interpret the prediction with caution.")
        return warnings


def load_package(source: str | Path | dict) -> ModelPackage:
    """Read and verify a package: size and nesting, schema, estimator type, SHA-256, meaning
    (``packages.semantics``); its origin from the bundled registry. Never executes code."""
    path = None
    if isinstance(source, dict):
        document = copy.deepcopy(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise InputFileNotFoundError(f"No model package at {path}.")
        document = read_package_file(path)
    if not isinstance(document, dict):
        raise PackageError(f"A model package must be a JSON object, not a {type(document).__name__}"
                           + (f" ({path})" if path else "") + ".")
    kind = document.get("estimator", {}).get("type") if isinstance(document.get("estimator"), dict) else None
    if kind not in ESTIMATOR_TYPES:
        raise PackageError(f"Unknown estimator type {kind!r} at $.estimator.type; supported: "
                           f"{', '.join(ESTIMATOR_TYPES)}. Packages never contain code.")
    validate_document(document)
    try:
        expected = package_hash(document)
    except ValueError:  # NaN or infinity in a document given as a dict
        raise PackageError("The package holds a number that is not finite (NaN or infinity).") from None
    if document.get("sha256") != expected:
        raise PackageError(f"SHA-256 mismatch: the package was modified after it was sealed (stored "
                           f"{str(document.get('sha256'))[:12]}…, computed {expected[:12]}…). Refusing to use it.")
    check_meaning(document)
    from AxillaryPredictorLib.packages.registry import document_origin

    return ModelPackage(document, path, origin=document_origin(document))


def check_meaning(document: dict) -> None:
    """PackageError listing every meaning problem (``packages.semantics``): nothing is scored with
    mismatched coefficients, zero scales or non-finite numbers."""
    from AxillaryPredictorLib.packages.semantics import semantic_problems

    problems = semantic_problems(document) + radscore_scale_problems(document)
    if problems:
        raise PackageError(f"Model package '{document.get('id')}' is not usable: " + " ".join(problems[:8])
                           + (f" (and {len(problems) - 8} more)" if len(problems) > 8 else ""))


def radscore_scale_problems(document: dict) -> list[str]:
    """The derived scores' links against ``radscore_scale``: a probability package whose scores are linear
    predictors (or the reverse) would put cases on the wrong nomogram axis and score them wrongly."""
    scale = document.get("radscore_scale")
    if scale is None:
        return []
    expected = RADSCORE_LINKS[scale]
    wrong = [d["name"] for d in document.get("derived", []) if d.get("link", "identity") != expected]
    if not wrong:
        return []
    return [f"$.radscore_scale is {scale}, so every derived score's link must be {expected}; "
            f"{', '.join(wrong)} disagree."]
