"""Clinical variables: blood-count indices and typed variables with declared encodings.

Indices (Lu et al. 2025): SII = neutrophils × platelets / lymphocytes, NLR = neutrophils /
lymphocytes, PLR = platelets / lymphocytes, MLR = monocytes / lymphocytes, WLR = white
cells / lymphocytes (counts in 10⁹/L).

``ClinicalVariable`` declares a variable's kind (continuous with unit and range, binary,
ordinal such as BI-RADS 3/4a/4b/4c/5, categorical such as molecular subtype) and its
encoding; ``validate_clinical`` checks user input and says which values are allowed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from AxillaryPredictorLib.errors import InputError

BLOOD_INDICES = {
    "sii": (("neutrophils", "platelets"), "lymphocytes"),
    "nlr": (("neutrophils",), "lymphocytes"),
    "plr": (("platelets",), "lymphocytes"),
    "mlr": (("monocytes",), "lymphocytes"),
    "wlr": (("wbc",), "lymphocytes"),
}


def add_blood_indices(frame: pd.DataFrame, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A copy of ``frame`` with SII, NLR, PLR, MLR and WLR added (those whose counts exist).

    ``columns`` maps neutrophils/lymphocytes/platelets/monocytes/wbc to the frame's names.
    """
    names = {k: k for k in ("neutrophils", "lymphocytes", "platelets", "monocytes", "wbc")}
    names.update(columns or {})
    out = frame.copy()
    if names["lymphocytes"] not in out.columns:
        raise InputError(f"Blood indices need a lymphocyte count column ('{names['lymphocytes']}').")
    lymphocytes = out[names["lymphocytes"]].astype(float)
    if (lymphocytes <= 0).any():
        bad = out.index[lymphocytes <= 0].tolist()[:5]
        raise InputError(f"Lymphocyte counts must be positive (rows {bad}); the indices divide by them.")
    for index, (numerators, _) in BLOOD_INDICES.items():
        if all(names[n] in out.columns for n in numerators):
            out[index] = np.prod([out[names[n]].astype(float) for n in numerators], axis=0) / lymphocytes
    return out


@dataclass(frozen=True)
class ClinicalVariable:
    """A clinical predictor: kind, unit, allowed range or levels, and its encoding.

    Encodings: continuous -> the value; binary -> 0/1 for ``levels`` (first = 0);
    ordinal -> the index of the level (0, 1, ...); categorical -> one indicator column
    ``<name>=<level>`` per non-reference level (the first level is the reference).
    """

    name: str
    kind: str = "continuous"
    unit: str | None = None
    levels: tuple[str, ...] = ()
    range: tuple[float, float] | None = None
    label: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("continuous", "binary", "ordinal", "categorical"):
            raise InputError(f"{self.name}: kind must be continuous, binary, ordinal or categorical.")
        if self.kind != "continuous" and len(self.levels) < 2:
            raise InputError(f"{self.name}: a {self.kind} variable needs at least two levels.")

    def columns(self) -> list[str]:
        if self.kind == "categorical":
            return [f"{self.name}={level}" for level in self.levels[1:]]
        return [self.name]

    def encode(self, value: Any) -> dict[str, float]:
        """Design columns for one value; ValueError naming the variable and allowed values."""
        if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
            raise InputError(f"{self.name} is required" + (f" ({self.unit})" if self.unit else "") + ".")
        if self.kind == "continuous":
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise InputError(f"{self.name} must be a number{f' in {self.unit}' if self.unit else ''}, "
                                 f"got {value!r}.") from None
            if not np.isfinite(number):
                raise InputError(f"{self.name} must be a finite number, got {value!r}.")
            if self.range and not self.range[0] <= number <= self.range[1]:
                raise InputError(f"{self.name} = {number:g} is outside the allowed range {self.range[0]:g} to "
                                 f"{self.range[1]:g}{f' {self.unit}' if self.unit else ''}.")
            return {self.name: number}
        text = str(value).strip()
        matches = [level for level in self.levels if level.lower() == text.lower()]
        if not matches:
            try:  # binary/ordinal also accept their code (0, 1, ...)
                code = float(text)
                if self.kind in ("binary", "ordinal") and code == int(code) and 0 <= code < len(self.levels):
                    matches = [self.levels[int(code)]]
            except ValueError:
                pass
        if not matches:
            raise InputError(f"'{value}' is not an allowed value of {self.name}; allowed: {', '.join(self.levels)}.")
        level = matches[0]
        if self.kind in ("binary", "ordinal"):
            return {self.name: float(self.levels.index(level))}
        return {f"{self.name}={other}": float(level == other) for other in self.levels[1:]}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["levels"] = list(self.levels)
        data["range"] = list(self.range) if self.range else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClinicalVariable:
        return cls(name=data["name"], kind=data.get("kind", "continuous"), unit=data.get("unit"),
                   levels=tuple(data.get("levels") or ()), range=tuple(data["range"]) if data.get("range") else None,
                   label=data.get("label"), description=data.get("description", ""))


def parse_clinical_items(items: Sequence[str]) -> dict[str, str]:
    """``NAME=VALUE`` items (e.g. ``--clinical ki67=35``) as a dict; InputError for a malformed item or
    a name given twice (which value was meant is unknown, so none is picked)."""
    values: dict[str, str] = {}
    for item in items:
        name, sep, value = str(item).partition("=")
        name = name.strip()
        if not sep or not name:
            raise InputError(f"--clinical takes NAME=VALUE, got '{item}'.")
        if name in values:
            raise InputError(f"Clinical variable {name} is given twice ({name}={values[name]} and {name}="
                             f"{value.strip()}); give it once.")
        values[name] = value.strip()
    return values


def check_clinical_names(values: Mapping[str, Any], variables: Sequence[ClinicalVariable],
                         model: str = "the model") -> None:
    """InputError naming every clinical input that is not one of ``variables`` (a misspelt or
    unused variable would otherwise be ignored silently), with the variables the model uses."""
    known = {v.name for v in variables} | {c for v in variables for c in v.columns()}
    unknown = [str(name) for name in values if name not in known]
    if unknown:
        expected = ", ".join(v.name for v in variables) or "none"
        raise InputError(f"Unknown clinical variable(s) for {model}: {', '.join(unknown)}. Its clinical variables: "
                         f"{expected}.")


def validate_clinical(values: Mapping[str, Any], variables: Sequence[ClinicalVariable]) -> dict[str, float]:
    """Encoded design columns of one case's clinical inputs; every problem in one error."""
    encoded: dict[str, float] = {}
    problems = []
    for variable in variables:
        try:
            encoded.update(variable.encode(values.get(variable.name)))
        except ValueError as error:
            problems.append(str(error))
    if problems:
        raise InputError("Clinical inputs: " + " ".join(problems))
    return encoded


@dataclass
class ClinicalEncoder:
    """Encode a clinical table into design columns (sklearn-style fit/transform; stateless)."""

    variables: Sequence[ClinicalVariable] = field(default_factory=list)

    def fit(self, frame: pd.DataFrame, y=None) -> ClinicalEncoder:
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        rows = [validate_clinical(record, self.variables) for record in frame.to_dict(orient="records")]
        return pd.DataFrame(rows, index=frame.index)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.array([c for v in self.variables for c in v.columns()], dtype=object)
