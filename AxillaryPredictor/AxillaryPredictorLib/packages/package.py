"""Model packages: JSON documents that hold everything needed to score a case and draw its
nomogram — and nothing that can execute code.

A package is validated against ``resources/schemas/model-package.schema.json`` and carries
a SHA-256 over its canonical JSON (sorted keys, no whitespace, UTF-8) without the
``sha256`` field; ``load_package`` refuses a package whose hash does not match, whose
estimator type is unknown, or that breaks the schema (the error names the JSON path).

Scoring (``ModelPackage.predict_proba``) is our own numpy code for every estimator type:
derived linear scores (RadScores) first, then standardization, then the estimator's scorer
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
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

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


class PackageError(ModelError):
    """A model package that cannot be used, with the reason and where in the JSON."""


def canonical_json(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def package_hash(document: dict) -> str:
    """SHA-256 of the canonical JSON without the ``sha256`` field."""
    body = {k: v for k, v in document.items() if k != "sha256"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


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

    @property
    def id(self) -> str:
        return self.document["id"]

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
        clinical = [v.name for v in self.clinical_variables() if not set(v.columns()) <= set(frame.columns)
                    and v.name not in frame.columns]
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

    def linear_predictor(self, frame: pd.DataFrame) -> np.ndarray:
        """Logistic packages: intercept + Σ β·x on the (standardized) model inputs."""
        estimator = self.document["estimator"]
        if estimator["type"] != "logistic":
            raise ModelError("The linear predictor is defined for logistic models only.")
        x = model_inputs(self.with_derived(self.encode_clinical(frame)), self.features, self.document.get(
            "standardization"), self.document.get("imputation"))
        return float(estimator["intercept"]) + x @ np.asarray(estimator["coefficients"], float)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """P(outcome) per row of ``frame`` (radiomics columns + clinical values)."""
        if self.status == NEEDS_RECALIBRATION:
            raise ModelError(f"Model '{self.id}' is a published signature that must be recalibrated on local cases "
                             "before use (its intercept/standardization were not published). Run "
                             "'axillary-predictor recalibrate --model PKG --features ... --outcome ...'.")
        frame = self.encode_clinical(frame)
        self.check_inputs(frame)
        frame = self.with_derived(frame)
        x = model_inputs(frame, self.features, self.document.get("standardization"), self.document.get("imputation"))
        if not np.isfinite(x).all():
            bad = [f for i, f in enumerate(self.features) if not np.isfinite(x[:, i]).all()]
            raise ModelError(f"Model inputs are undefined (NaN) for: {', '.join(bad[:5])}.")
        return estimator_probability(self.document["estimator"], x, frame)

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
    """Read and verify a package: schema, estimator type, SHA-256. Never executes code."""
    path = None
    if isinstance(source, dict):
        document = copy.deepcopy(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise InputFileNotFoundError(f"No model package at {path}.")
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise PackageError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise PackageError("A model package must be a JSON object.")
    kind = document.get("estimator", {}).get("type") if isinstance(document.get("estimator"), dict) else None
    if kind not in ESTIMATOR_TYPES:
        raise PackageError(f"Unknown estimator type {kind!r} at $.estimator.type; supported: "
                           f"{', '.join(ESTIMATOR_TYPES)}. Packages never contain code.")
    validate_document(document)
    expected = package_hash(document)
    if document.get("sha256") != expected:
        raise PackageError(f"SHA-256 mismatch: the package was modified after it was sealed (stored "
                           f"{str(document.get('sha256'))[:12]}…, computed {expected[:12]}…). Refusing to use it.")
    return ModelPackage(document, path)
