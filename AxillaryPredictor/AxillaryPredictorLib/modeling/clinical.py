"""Clinical variables: blood-count indices and typed variables with declared encodings.

Indices (Lu et al. 2025): SII = neutrophils × platelets / lymphocytes, NLR = neutrophils /
lymphocytes, PLR = platelets / lymphocytes, MLR = monocytes / lymphocytes, WLR = white
cells / lymphocytes (counts in 10⁹/L).

``ClinicalVariable`` declares a variable's kind (continuous with unit and range, binary,
ordinal such as BI-RADS 3/4a/4b/4c/5, categorical such as molecular subtype) and its
encoding; ``validate_clinical`` checks user input and says which values are allowed. A
continuous variable may be a blood index (``blood_index: sii``): computed from the case's counts
(``counts`` names their columns) whenever its value is not given — in training tables
(``add_derived_clinical``) and at prediction time (``validate_clinical``).
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
#: the blood counts the indices are computed from (10⁹/L)
BLOOD_COUNTS = ("neutrophils", "lymphocytes", "platelets", "monocytes", "wbc")


def blood_index(index: str, counts: Mapping[str, Any]) -> Any:
    """One index (``BLOOD_INDICES``) from ``counts`` (numbers or arrays keyed by count name): the
    product of its numerator counts over the lymphocyte count."""
    numerators, denominator = BLOOD_INDICES[index]
    return np.prod([np.asarray(counts[n], float) for n in numerators], axis=0) / np.asarray(counts[denominator], float)


def add_blood_indices(frame: pd.DataFrame, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A copy of ``frame`` with SII, NLR, PLR, MLR and WLR added (those whose counts exist).

    ``columns`` maps neutrophils/lymphocytes/platelets/monocytes/wbc to the frame's names.
    """
    names = {k: k for k in BLOOD_COUNTS}
    names.update(columns or {})
    out = frame.copy()
    if names["lymphocytes"] not in out.columns:
        raise InputError(f"Blood indices need a lymphocyte count column ('{names['lymphocytes']}').")
    lymphocytes = out[names["lymphocytes"]].astype(float)
    if (lymphocytes <= 0).any():
        bad = out.index[lymphocytes <= 0].tolist()[:5]
        raise InputError(f"Lymphocyte counts must be positive (rows {bad}); the indices divide by them.")
    for index, (numerators, denominator) in BLOOD_INDICES.items():
        if all(names[n] in out.columns for n in numerators):
            out[index] = blood_index(index, {n: out[names[n]].astype(float) for n in (*numerators, denominator)})
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
    #: a blood index (sii, nlr, plr, mlr, wlr) computed from the counts when the value is not given
    blood_index: str | None = None
    #: count name (neutrophils, lymphocytes, platelets, monocytes, wbc) -> input column (default: the count's name)
    counts: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in ("continuous", "binary", "ordinal", "categorical"):
            raise InputError(f"{self.name}: kind must be continuous, binary, ordinal or categorical.")
        if self.kind != "continuous" and len(self.levels) < 2:
            raise InputError(f"{self.name}: a {self.kind} variable needs at least two levels.")
        if self.blood_index is not None:
            if self.blood_index not in BLOOD_INDICES:
                raise InputError(f"{self.name}: blood_index must be one of {', '.join(BLOOD_INDICES)}, not "
                                 f"'{self.blood_index}'.")
            if self.kind != "continuous":
                raise InputError(f"{self.name}: a blood index is continuous, not {self.kind}.")
        unknown = sorted(set(self.counts) - set(BLOOD_COUNTS))
        if unknown:
            raise InputError(f"{self.name}: unknown blood count(s) {', '.join(unknown)} in counts; known: "
                             f"{', '.join(BLOOD_COUNTS)}.")

    def count_columns(self) -> dict[str, str]:
        """A blood index's counts -> their input columns (empty for other variables)."""
        if self.blood_index is None:
            return {}
        numerators, denominator = BLOOD_INDICES[self.blood_index]
        return {count: str(self.counts.get(count, count)) for count in (*numerators, denominator)}

    def inputs(self) -> list[str]:
        """Names a case may give for this variable: its own, and a blood index's counts."""
        return [self.name, *self.count_columns().values()]

    def derive(self, values: Mapping[str, Any]) -> float | None:
        """A blood index from the case's counts in ``values`` (None when a count is absent); InputError
        for a count that is not a number or not positive."""
        counts = {}
        for count, column in self.count_columns().items():
            value = values.get(column)
            if _absent(value):
                return None
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise InputError(f"{column} ({count} count for {self.name}) must be a number, got {value!r}.") from None
            if not np.isfinite(number) or number <= 0:
                raise InputError(f"{column} ({count} count for {self.name}) must be a positive number, got "
                                 f"{value!r}.")
            counts[count] = number
        return float(blood_index(self.blood_index, counts)) if counts else None

    def columns(self) -> list[str]:
        if self.kind == "categorical":
            return [f"{self.name}={level}" for level in self.levels[1:]]
        return [self.name]

    def encode(self, value: Any) -> dict[str, float]:
        """Design columns for one value; ValueError naming the variable and allowed values."""
        if _absent(value):
            counts = self.count_columns()
            alternative = f" or its counts {', '.join(dict.fromkeys(counts.values()))}" if counts else ""
            raise InputError(f"{self.name} is required" + (f" ({self.unit})" if self.unit else "") +
                             (f" (give it{alternative})" if alternative else "") + ".")
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
        """The package/spec dict; ``blood_index`` and ``counts`` only when set."""
        data = asdict(self)
        data["levels"] = list(self.levels)
        data["range"] = list(self.range) if self.range else None
        data["counts"] = dict(self.counts)
        for key in ("blood_index", "counts"):
            if not data[key]:
                del data[key]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClinicalVariable:
        counts = data.get("counts") or {}
        if not isinstance(counts, Mapping):
            raise InputError(f"{data.get('name')}: counts must map count names to columns, e.g. "
                             "{neutrophils: neut, lymphocytes: lymph}.")
        return cls(name=data["name"], kind=data.get("kind", "continuous"), unit=data.get("unit"),
                   levels=tuple(data.get("levels") or ()), range=tuple(data["range"]) if data.get("range") else None,
                   label=data.get("label"), description=data.get("description", ""),
                   blood_index=data.get("blood_index"), counts={str(k): str(v) for k, v in counts.items()})


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or (isinstance(value, str)
                                                                               and not value.strip())


def with_blood_indices(values: Mapping[str, Any], variables: Sequence[ClinicalVariable]) -> dict[str, Any]:
    """One case's clinical values with every blood index that was not given computed from its counts."""
    out = dict(values)
    for variable in variables:
        if variable.blood_index and _absent(out.get(variable.name)):
            derived = variable.derive(out)
            if derived is not None:
                out[variable.name] = derived
    return out


def add_derived_clinical(frame: pd.DataFrame, variables: Sequence[ClinicalVariable]) -> pd.DataFrame:
    """A copy of a clinical table with each declared blood index computed from its count columns where
    its value is absent (the column is added when missing); InputError naming a missing count column
    or a case whose counts are not positive numbers."""
    out = frame.copy()
    for variable in variables:
        if not variable.blood_index:
            continue
        columns = variable.count_columns()
        given = out[variable.name] if variable.name in out.columns else pd.Series(np.nan, index=out.index)
        todo = given.isna() | (given.astype(str).str.strip() == "")
        if not todo.any():
            continue
        absent = [c for c in columns.values() if c not in out.columns]
        if absent:
            raise InputError(f"{variable.name} ({variable.blood_index.upper()}) is computed from "
                             f"{', '.join(columns.values())}, but the clinical table has no column "
                             f"{', '.join(absent)}; name the count columns in the clinical spec (counts: "
                             "{neutrophils: ..., lymphocytes: ...}).")
        derived = [variable.derive(record) for record in out.loc[todo, list(columns.values())].to_dict("records")]
        out[variable.name] = given.where(~todo, pd.Series(derived, index=out.index[todo], dtype=float))
    return out


def read_clinical_spec(path: str | Any) -> dict[str, ClinicalVariable]:
    """Declared clinical variables by name, from a spec YAML: a list of declarations, or
    ``{variables: [...], counts: {...}}`` whose ``counts`` are every blood index's default count columns."""
    from pathlib import Path

    import yaml

    entries = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
    shared: Mapping[str, str] = {}
    if isinstance(entries, dict):
        shared = entries.get("counts") or {}
        entries = entries.get("variables") or []
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) and "name" in e for e in entries):
        raise InputError(f"The clinical spec {path} must be a list of variable declarations, each with a name "
                         "(e.g. '- {name: sii, blood_index: sii}').")
    declared = {}
    for entry in entries:
        if entry.get("blood_index") in BLOOD_INDICES and shared:  # the shared names of this index's counts
            numerators, denominator = BLOOD_INDICES[entry["blood_index"]]
            own = {k: v for k, v in shared.items() if k in (*numerators, denominator)}
            entry = {**entry, "counts": {**own, **(entry.get("counts") or {})}}
        declared[str(entry["name"])] = ClinicalVariable.from_dict(entry)
    return declared


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
    known = {name for v in variables for name in v.inputs()} | {c for v in variables for c in v.columns()}
    unknown = [str(name) for name in values if name not in known]
    if unknown:
        expected = ", ".join(v.name for v in variables) or "none"
        raise InputError(f"Unknown clinical variable(s) for {model}: {', '.join(unknown)}. Its clinical variables: "
                         f"{expected}.")


def validate_clinical(values: Mapping[str, Any], variables: Sequence[ClinicalVariable]) -> dict[str, float]:
    """Encoded design columns of one case's clinical inputs (blood indices computed from their counts
    when not given); every problem in one error."""
    encoded: dict[str, float] = {}
    problems = []
    try:
        values = with_blood_indices(values, variables)
    except InputError as error:
        problems.append(str(error))
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
