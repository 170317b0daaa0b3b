"""Nomogram predictor specs of a model package: the one place that decides each predictor's
axis, levels and label.

A spec is the JSON form of one nomogram axis, as stored in a package's
``nomogram.predictors`` section: ``name``, ``kind`` (``continuous`` with its ``axis`` tick
values and optional design ``column``; ``categorical`` with its ``levels`` and the design
column of each non-reference level, ``level_columns``), ``label`` and ``unit``.

- ``export_predictors``: the specs written into a combined model's package at export time,
  with rms's default axes (``nomogram_axis``) over the training design.
- ``package_predictors``: the specs of any logistic package, read from its ``nomogram``
  section or derived from its ``features``, ``training_ranges``, ``clinical_variables`` and
  ``standardization``.

Both give binary, categorical and ordinal clinical variables the same spec
(``_level_predictor``). Continuous axes follow rms: ``pretty(range(x), 10)`` in R
(``r_pretty``), or the distinct values when there are at most 10.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from AxillaryPredictorLib.errors import ModelError

FALLBACK_SDS = 3.0  # axis mean ± 3 SD for a standardized input without a training range
AXES = ("pretty", "minmax")

# --------------------------------------------------------------------------- R pretty()

_H, _H5 = 1.5, 0.5 + 1.5 * 1.5  # R's high.u.bias and u5.bias
_EPS = 1e-10


def r_pretty(low: float, high: float, n: int = 5) -> list[float]:
    """R's ``pretty(c(low, high), n)`` (base R algorithm: high.u.bias 1.5, u5.bias 2.75)."""
    min_n = n // 3
    unit = _pretty_unit(_pretty_cell(low, high, n, min_n))
    ns = math.floor(low / unit + _EPS)
    nu = math.ceil(high / unit - _EPS)
    while ns * unit > low + _EPS * unit:
        ns -= 1
    while nu * unit < high - _EPS * unit:
        nu += 1
    k = int(0.5 + nu - ns)
    if k < min_n:
        k = min_n - k
        if ns >= 0:
            nu += k // 2
            ns -= k // 2 + k % 2
        else:
            ns -= k // 2
            nu += k // 2 + k % 2
        k = min_n
    values = np.linspace(ns * unit, nu * unit, k + 1) if k > 0 else np.array([ns * unit])
    delta = (nu - ns) * unit / k if k else 0.0
    values[np.abs(values) < 1e-14 * delta] = 0.0
    return [float(v) for v in values]


def _pretty_cell(low: float, high: float, n: int, min_n: int) -> float:
    """R pretty()'s cell: the raw step before rounding to 1, 2, 5 or 10 × a power of ten."""
    shrink = 0.75
    dx = high - low
    if dx == 0 and high == 0:
        cell, small = 1.0, True
    else:
        cell = max(abs(low), abs(high))
        unit_limit = 1 + (1 / (1 + _H) if _H5 >= 1.5 * _H + 0.5 else 1.5 / (1 + _H5))
        unit_limit *= max(1, n) * np.finfo(float).eps
        small = dx < cell * unit_limit * 3
    if small:
        if cell > 10:
            cell = 9 + cell / 10
        cell *= shrink
        if min_n > 1:
            cell /= min_n
    else:
        cell = dx
        if n > 1:
            cell /= n
    return max(cell, 20 * np.finfo(float).tiny)


def _pretty_unit(cell: float) -> float:
    """The step: 1, 2, 5 or 10 × the power of ten below ``cell``, biased as R's pretty()."""
    base = 10.0 ** math.floor(math.log10(cell))
    unit = base
    if 2 * base - cell < _H * (cell - unit):
        unit = 2 * base
        if 5 * base - cell < _H5 * (cell - unit):
            unit = 5 * base
            if 10 * base - cell < _H * (cell - unit):
                unit = 10 * base
    return unit


def nomogram_axis(values: np.ndarray) -> list[float]:
    """rms default axis of a predictor: its distinct values when ≤ 10, else pretty(range, 10)."""
    distinct = np.unique(np.asarray(values, float))
    if distinct.size <= 10:
        return [float(v) for v in distinct]
    return r_pretty(float(distinct.min()), float(distinct.max()), 10)


# ------------------------------------------------------------------------------ specs


def spec_columns(item: Mapping[str, Any]) -> list[str]:
    """The model's design columns a predictor spec stands for."""
    if item.get("kind", "continuous") == "categorical":
        return list(dict.fromkeys(item.get("level_columns", {}).values()))
    return [item.get("column", item["name"])]


def _variables_by_column(clinical_variables: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Clinical variables (their package dicts) by design column (``name=level`` for categorical)."""
    variables = {}
    for variable in clinical_variables:
        kind = variable.get("kind", "continuous")
        levels = list(variable.get("levels") or [])
        columns = [f"{variable['name']}={lv}" for lv in levels[1:]] if kind == "categorical" else [variable["name"]]
        for column in columns:
            variables[column] = variable
    return variables


def _level_predictor(variable: Mapping[str, Any], column: str, columns: Sequence[str]) -> dict[str, Any] | None:
    """Spec of a binary, categorical or ordinal clinical variable (its levels; ordinal: codes
    0…k−1), given one of its design ``column`` s and all model ``columns``; None if continuous."""
    name, kind = variable["name"], variable.get("kind", "continuous")
    label, unit = variable.get("label") or name, variable.get("unit")
    levels = list(variable.get("levels") or [])
    if kind == "binary":
        return {"name": name, "kind": "categorical", "levels": levels, "level_columns": {levels[1]: column},
                "label": label, "unit": unit}
    if kind == "categorical":
        return {"name": name, "kind": "categorical", "levels": levels,
                "level_columns": {lv: f"{name}={lv}" for lv in levels[1:] if f"{name}={lv}" in columns},
                "label": label, "unit": unit}
    if kind == "ordinal":
        return {"name": name, "kind": "continuous", "column": column, "axis": [float(i) for i in range(len(levels))],
                "label": f"{label} ({'/'.join(levels)})"}
    return None


def score_label(name: str, radscore_scale: str | None = None) -> str:
    """Axis label of a derived score: ``RadScore`` for the single one, else its name; ``(probability)``
    appended when the scores are predicted probabilities (``radscore_scale``), so a reader does not
    take a 0–1 axis for a linear predictor."""
    label = "RadScore" if name == "radscore" else name.replace("_", " ")
    return f"{label} (probability)" if radscore_scale == "probability" else label


def export_predictors(terms: Sequence[str], clinical_variables: Iterable[Mapping[str, Any]],
                      design: Any, *, radscore_scale: str | None = None) -> list[dict[str, Any]]:
    """Specs of a combined model's ``terms`` (its design columns) for the package's ``nomogram``
    section: one per derived score (rms default axis over its training values in ``design``,
    a DataFrame; labelled by ``score_label``) and one per clinical variable (``clinical_variables``:
    package dicts)."""
    variables = _variables_by_column(clinical_variables)
    predictors: list[dict[str, Any]] = []
    done: set[str] = set()
    for term in terms:
        variable = variables.get(term)
        if variable is None:
            predictors.append({"name": term, "kind": "continuous", "axis": nomogram_axis(design[term]),
                               "label": score_label(term, radscore_scale)})
            continue
        if variable["name"] in done:  # a categorical variable's other level columns
            continue
        done.add(variable["name"])
        spec = _level_predictor(variable, term, terms)
        if spec is None:
            spec = {"name": term, "kind": "continuous", "axis": nomogram_axis(design[term]),
                    "label": variable.get("label") or term, "unit": variable.get("unit")}
        predictors.append(spec)
    return predictors


def package_predictors(document: Mapping[str, Any], *, axes: str = "pretty") -> list[dict[str, Any]]:
    """The nomogram predictors of a package, in the format of its ``nomogram.predictors``
    section: that section when present, else one per model input (in ``features`` order).

    Continuous inputs span their ``training_ranges`` (pretty or min/max, ``axes``); without
    one, a clinical variable's declared range, or — for a standardized input, such as a
    locally recalibrated published signature — its mean ± 3 SD; derived scores are labelled by
    ``score_label`` (with the package's ``radscore_scale``). Binary and categorical
    clinical variables get their levels; ordinal ones their codes 0…k−1.
    """
    if axes not in AXES:
        raise ModelError(f"axes must be 'pretty' (rms default) or 'minmax', not {axes!r}.")
    section = document.get("nomogram")
    if section and section.get("predictors"):
        return [dict(item) for item in section["predictors"]]
    features = [str(f) for f in document.get("features", [])]
    variables = _variables_by_column(document.get("clinical_variables") or [])
    derived = {d["name"] for d in document.get("derived") or []}
    predictors: list[dict[str, Any]] = []
    done: set[str] = set()
    missing = []
    for index, column in enumerate(features):
        variable = variables.get(column)
        if variable is not None:
            if variable["name"] in done:
                continue
            done.add(variable["name"])
            spec = _level_predictor(variable, column, features)
            if spec is not None:
                predictors.append(spec)
                continue
        span = _continuous_span(document, features, index, variable)
        if not span:
            missing.append(column)
            continue
        spec = _continuous_predictor(column, variable)
        if column in derived:
            spec["label"] = score_label(column, document.get("radscore_scale"))
        predictors.append({**spec, "axis": _span_axis(float(min(span)), float(max(span)), axes)})
    if missing:
        raise ModelError(f"Cannot draw a nomogram axis for {', '.join(missing)}: the package has no training range "
                         "(training_ranges), no declared clinical range and no standardization for it.")
    return predictors


def _continuous_predictor(column: str, variable: Mapping[str, Any] | None) -> dict[str, Any]:
    """Spec (without its axis) of a continuous model input: a radiomics feature or a clinical variable."""
    if variable is None:
        return {"name": column, "kind": "continuous", "label": column}
    name = variable["name"]
    return {"name": name, "kind": "continuous", "column": column, "label": variable.get("label") or name,
            "unit": variable.get("unit")}


def _continuous_span(document: Mapping[str, Any], features: list[str], index: int,
                     variable: Mapping[str, Any] | None) -> list[float] | None:
    """Range of the ``index``-th model input: training range, else declared clinical range, else
    standardization mean ± 3 SD; None when the package has none of them."""
    column = features[index]
    span = (document.get("training_ranges") or {}).get(column)
    if not span and variable is not None:
        span = variable.get("range")
    standardization = document.get("standardization") or {}
    if not span and standardization.get("mean") and len(standardization["mean"]) == len(features):
        mean, sd = float(standardization["mean"][index]), float(standardization["scale"][index])
        span = [mean - FALLBACK_SDS * sd, mean + FALLBACK_SDS * sd]
    return span


def _span_axis(low: float, high: float, axes: str) -> list[float]:
    if axes == "minmax" and low != high:
        return [low, high]
    return r_pretty(low, high, 10)
