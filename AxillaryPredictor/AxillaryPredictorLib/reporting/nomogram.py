"""Nomograms of logistic models, computed exactly as R's ``rms::nomogram`` (maxscale 100).

For predictor j with effect e_j(x) on the linear predictor (β_j·(x − m_j)/s_j for a
continuous predictor — m_j = 0, s_j = 1 unless the model standardizes its inputs — and
for a categorical one the level's effect, 0 for its reference level without standardization):

- its axis spans the values in ``axis`` (continuous) or its levels (categorical);
  lo_j and hi_j are the smallest and largest effect over that axis;
- sc = 100 / max_j (hi_j − lo_j)   (points per unit of linear predictor; the predictor
  with the widest contribution spans 100 points);
- points_j(x) = sc · (e_j(x) − lo_j);  total points TP = Σ_j points_j;
- LP = offset + TP / sc with offset = β₀ + Σ_j lo_j;  probability = 1 / (1 + e^(−LP)).

Which axis a continuous predictor gets changes sc, so it is stored with the model:
rms's default is ``pretty(range(x), 10)`` (see ``packages.nomogram_spec``); min/max axes are the
other common convention. Drawing (``draw``) is separate from the computation.

``Nomogram.from_package`` reads a package's ``nomogram`` section when it has one (combined
models); any other logistic package gets one axis per model input, built from its
``training_ranges`` (clinical variables: their levels, or their declared range). The
package's ``standardization`` is always applied, so LP from the nomogram equals the
package's own linear predictor.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from AxillaryPredictorLib.errors import InputError, ModelError

MAX_POINTS = 100.0


@dataclass(frozen=True)
class NomogramPredictor:
    """One predictor axis. Continuous: ``coefficient`` and ``axis`` tick values (units of
    the predictor); when the model standardizes its inputs, ``mean`` and ``scale`` so the
    effect is coefficient·(x − mean)/scale. Categorical: ``levels`` and their
    ``level_effects`` on the linear predictor (standardization already included)."""

    name: str
    kind: str = "continuous"
    coefficient: float = 0.0
    axis: tuple[float, ...] = ()
    levels: tuple[str, ...] = ()
    level_effects: tuple[float, ...] = ()
    label: str | None = None
    unit: str | None = None
    mean: float = 0.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("continuous", "categorical"):
            raise ModelError(f"Predictor '{self.name}': kind must be continuous or categorical, not {self.kind!r}.")
        if not (math.isfinite(self.scale) and self.scale > 0 and math.isfinite(self.mean)):
            raise ModelError(f"Predictor '{self.name}': standardization needs a finite mean and a positive scale, "
                             f"got mean {self.mean!r}, scale {self.scale!r}.")
        if self.kind == "continuous" and len(self.axis) < 2:
            raise ModelError(f"Predictor '{self.name}': a continuous axis needs at least two values.")
        if self.kind == "categorical" and (len(self.levels) < 2 or len(self.levels) != len(self.level_effects)):
            raise ModelError(f"Predictor '{self.name}': give at least two levels, each with its effect.")

    def effect(self, value: Any) -> float:
        """Contribution of ``value`` to the linear predictor; clear error for bad values."""
        if self.kind == "categorical":
            key = str(value)
            if key not in self.levels:
                raise InputError(f"'{value}' is not a level of {self.name}; allowed: {', '.join(self.levels)}.")
            return float(self.level_effects[self.levels.index(key)])
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{self.name} must be a number, got {value!r}.") from None
        if not math.isfinite(number):
            raise InputError(f"{self.name} must be a finite number, got {value!r}.")
        return self._continuous_effect(number)

    def _continuous_effect(self, number: float) -> float:
        if self.mean == 0.0 and self.scale == 1.0:
            return self.coefficient * number  # exactly rms's β·x
        return self.coefficient * (number - self.mean) / self.scale

    def effect_range(self) -> tuple[float, float]:
        if self.kind == "categorical":
            return min(self.level_effects), max(self.level_effects)
        ends = (self._continuous_effect(min(self.axis)), self._continuous_effect(max(self.axis)))
        return min(ends), max(ends)

    def ticks(self) -> list[Any]:
        return list(self.levels) if self.kind == "categorical" else list(self.axis)


@dataclass(frozen=True)
class Nomogram:
    """Points, total points and probability of a logistic model (rms conventions)."""

    intercept: float
    predictors: tuple[NomogramPredictor, ...]
    max_points: float = MAX_POINTS
    outcome_label: str = "Probability"
    _scale: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.predictors:
            raise ModelError("A nomogram needs at least one predictor.")
        widths = [hi - lo for lo, hi in (p.effect_range() for p in self.predictors)]
        if max(widths) <= 0:
            raise ModelError("Every predictor has zero effect over its axis: nothing to draw.")
        object.__setattr__(self, "_scale", self.max_points / max(widths))

    # ------------------------------------------------------------------ computation

    @property
    def points_per_lp_unit(self) -> float:
        """sc: points per unit of linear predictor."""
        return self._scale

    @property
    def lp_at_zero_points(self) -> float:
        """offset = β₀ + Σ_j lo_j: the linear predictor at 0 total points."""
        return self.intercept + sum(p.effect_range()[0] for p in self.predictors)

    def _check_values(self, values: Mapping[str, Any]) -> None:
        missing = [p.name for p in self.predictors if p.name not in values]
        if missing:
            raise InputError(f"Missing value for {', '.join(missing)}.")

    def points(self, values: Mapping[str, Any]) -> dict[str, float]:
        """Points of each predictor for one case."""
        self._check_values(values)
        return {p.name: self._scale * (p.effect(values[p.name]) - p.effect_range()[0]) for p in self.predictors}

    def total_points(self, values: Mapping[str, Any]) -> float:
        """Total points (the Nomo-score) of one case."""
        return float(sum(self.points(values).values()))

    def linear_predictor_from_points(self, total: float) -> float:
        return self.lp_at_zero_points + float(total) / self._scale

    def probability_from_points(self, total: float) -> float:
        """Probability at ``total`` points: plogis(offset + TP / sc)."""
        return float(1.0 / (1.0 + math.exp(-self.linear_predictor_from_points(total))))

    def points_for_probability(self, probability: float) -> float:
        """Total points at which the model predicts ``probability`` (0 < p < 1)."""
        if not 0.0 < probability < 1.0:
            raise InputError("probability must be strictly between 0 and 1.")
        return (math.log(probability / (1 - probability)) - self.lp_at_zero_points) * self._scale

    def probability(self, values: Mapping[str, Any]) -> float:
        return self.probability_from_points(self.total_points(values))

    def max_total_points(self) -> float:
        return float(sum(self._scale * (hi - lo) for lo, hi in (p.effect_range() for p in self.predictors)))

    def axes(self, probability_ticks: Sequence[float] = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95),
             ) -> list[dict[str, Any]]:
        """What to draw, top to bottom: each axis with tick labels and their positions in
        points (Points, predictors, Total Points, Linear Predictor, probability)."""
        rows: list[dict[str, Any]] = [{"name": "Points", "ticks": list(range(0, int(self.max_points) + 1, 10)),
                                       "positions": [float(t) for t in range(0, int(self.max_points) + 1, 10)],
                                       "scale": "points"}]
        for p in self.predictors:
            lo = p.effect_range()[0]
            positions = [self._scale * (p.effect(t) - lo) for t in p.ticks()]
            label = p.label or p.name
            rows.append({"name": label + (f" ({p.unit})" if p.unit else ""), "ticks": p.ticks(),
                         "positions": positions, "scale": "points", "predictor": p.name})
        top = self.max_total_points()
        step = _nice_step(top / 10)
        total_ticks = list(np.arange(0.0, top + step / 2, step))
        rows.append({"name": "Total Points", "ticks": [round(t, 6) for t in total_ticks],
                     "positions": [float(t) for t in total_ticks], "scale": "total"})
        lp_lo, lp_hi = self.linear_predictor_from_points(0), self.linear_predictor_from_points(top)
        lp_step = 1.0 if lp_hi - lp_lo <= 12 else _nice_step((lp_hi - lp_lo) / 10)
        lp_ticks = [float(v) for v in np.arange(math.ceil(lp_lo / lp_step) * lp_step, lp_hi + 1e-9, lp_step)]
        rows.append({"name": "Linear Predictor", "ticks": lp_ticks,
                     "positions": [(v - self.lp_at_zero_points) * self._scale for v in lp_ticks], "scale": "total"})
        shown = [q for q in probability_ticks if 0 <= self.points_for_probability(q) <= top]
        rows.append({"name": self.outcome_label, "ticks": shown,
                     "positions": [self.points_for_probability(q) for q in shown], "scale": "total"})
        return rows

    # ---------------------------------------------------------------------- drawing

    def draw(self, values: Mapping[str, Any] | None = None, *, title: str | None = None):
        """rms-style nomogram as a matplotlib Figure; marks a case's values when given."""
        # a bare Figure draws with the Agg canvas on savefig: no process-wide backend change
        # (inside Slicer, matplotlib.use would switch the backend of every other module too)
        from matplotlib.figure import Figure

        rows = self.axes()
        total_span = max(self.max_total_points(), self.max_points)
        figure = Figure(figsize=(9, 0.62 * len(rows) + 1.2), dpi=110)
        ax = figure.add_axes((0.24, 0.06, 0.72, 0.86 if title else 0.9))
        ax.set_xlim(-0.03 * self.max_points, 1.03 * self.max_points)
        ax.set_ylim(len(rows) - 0.5, -0.7)
        ax.axis("off")
        patient_points = self.points(values) if values is not None else {}
        patient_total = sum(patient_points.values()) if values is not None else None
        for row_index, row in enumerate(rows):
            factor = self.max_points / total_span if row["scale"] == "total" else 1.0
            xs = [x * factor for x in row["positions"]]
            if xs:
                ax.plot([min(xs), max(xs)], [row_index, row_index], color="black", lw=1)
            order = np.argsort(xs)
            last_label = -np.inf
            for rank, index in enumerate(order):
                x, tick = xs[index], row["ticks"][index]
                ax.plot([x, x], [row_index, row_index - 0.12], color="black", lw=0.8)
                if not isinstance(tick, str) and x - last_label < 3.5 and rank != len(order) - 1:
                    continue  # too close to the previous label: keep the tick, skip its number
                last_label = x
                # categorical labels alternate above/below the axis so close levels stay readable
                below = isinstance(tick, str) and rank % 2 == 1
                ax.text(x, row_index + (0.12 if below else -0.18), _tick_label(tick), ha="center",
                        va="top" if below else "bottom", fontsize=7)
            name = row["name"]
            short = len(name) <= 30
            ax.text(-0.05 * self.max_points, row_index, name if short else "\n".join(_wrap_label(name, 32)),
                    ha="right", va="center", fontsize=9 if short else 7)
            marker = None
            if values is not None and row.get("predictor") in patient_points:
                marker = patient_points[row["predictor"]]
            elif values is not None and row["scale"] == "total" and row["name"] != "Linear Predictor":
                marker = patient_total * factor
            if marker is not None:
                ax.plot([marker], [row_index], "o", color="#d62728", ms=7, zorder=3)
                if row.get("predictor"):
                    ax.plot([marker, marker], [0, row_index], color="#d62728", lw=0.8, ls=":")
        if patient_total is not None:
            probability = self.probability_from_points(patient_total)
            ax.text(1.03 * self.max_points, len(rows) - 0.35,
                    f"Total points {patient_total:.1f}  ->  {self.outcome_label} {probability:.1%}",
                    ha="right", va="center", fontsize=9, color="#d62728")
        if title:
            figure.suptitle(title, fontsize=11)
        return figure

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_package(cls, package: Any, *, axes: str = "pretty") -> Nomogram:
        """Nomogram of a logistic model package (``ModelPackage`` or its JSON dict).

        Reads ``estimator`` (type ``logistic``: ``intercept`` and ``coefficients`` aligned
        with the package's ``features``), the optional top-level ``standardization``
        (``mean``/``scale`` aligned with ``features``: always applied) and the predictors:

        - from the ``nomogram.predictors`` section when present: per predictor its ``name``,
          ``kind``, ``axis`` (continuous, optional ``column``) or ``levels`` with the design
          column of each non-reference level (``level_columns``), ``label`` and ``unit``;
        - otherwise one axis per model input (see ``packages.nomogram_spec.package_predictors``): continuous inputs
          over their ``training_ranges`` — ``axes="pretty"`` (rms default, ``pretty(range, 10)``)
          or ``axes="minmax"`` — and clinical variables over their levels.

        The predictors must account for every model input, so that the nomogram's linear
        predictor equals the package's; ValueError otherwise, and for non-logistic models.
        """
        from AxillaryPredictorLib.packages.nomogram_spec import package_predictors

        document = package.document if hasattr(package, "document") else package
        estimator = document.get("estimator", {})
        if estimator.get("type") != "logistic":
            raise ModelError("A nomogram needs a logistic model (points are shares of its linear predictor); this "
                             f"package's estimator is {estimator.get('type')!r}.")
        if document.get("status") == "published-needs-recalibration":
            raise ModelError(f"Model '{document.get('id')}' must be recalibrated on local cases before its nomogram "
                             "can be drawn (its intercept/standardization were not published).")
        features = [str(f) for f in document.get("features", [])]
        coefficients = _coefficients(estimator["coefficients"], features)
        means, scales = _standardization(document, features if document.get("standardization") else list(coefficients))
        spec = package_predictors(document, axes=axes)
        _check_coverage(spec, coefficients)
        predictors = [_predictor(item, coefficients, means, scales) for item in spec]
        outcome = (document.get("nomogram") or {}).get("outcome_label") or (
            f"Probability of {document['task']}" if document.get("task") else "Probability")
        return cls(float(estimator["intercept"]), tuple(predictors), outcome_label=outcome)


def _coefficients(raw: Sequence[float] | Mapping[str, float], features: list[str]) -> dict[str, float]:
    """The estimator's coefficient of each model input (a dict, or a list aligned with ``features``)."""
    if isinstance(raw, dict):
        return {str(k): float(v) for k, v in raw.items()}
    if len(raw) != len(features):
        raise ModelError(f"The package has {len(features)} features but {len(raw)} coefficients.")
    return {f: float(c) for f, c in zip(features, raw, strict=True)}


def _check_coverage(spec: list[dict[str, Any]], coefficients: Mapping[str, float]) -> None:
    """ValueError unless the predictors use every model input (with a nonzero coefficient) exactly
    once and nothing else: otherwise the points would not add up to the linear predictor."""
    from AxillaryPredictorLib.packages.nomogram_spec import spec_columns

    used = [c for item in spec for c in spec_columns(item)]
    unknown = [c for c in used if c not in coefficients]
    if unknown:
        raise ModelError(f"The nomogram refers to column(s) {', '.join(unknown)} that are not model inputs "
                         f"({', '.join(coefficients)}).")
    twice = sorted({c for c in used if used.count(c) > 1})
    uncovered = [c for c in coefficients if c not in used and coefficients[c] != 0.0]
    if twice or uncovered:
        raise ModelError("The nomogram's predictors must use every model input exactly once, or its points would "
                         "not add up to the model's linear predictor: "
                         + "; ".join(part for part in (f"used twice: {', '.join(twice)}" if twice else "",
                                                       f"not on any axis: {', '.join(uncovered)}" if uncovered
                                                       else "") if part) + ".")


def _predictor(item: Mapping[str, Any], coefficients: Mapping[str, float], means: Mapping[str, float],
               scales: Mapping[str, float]) -> NomogramPredictor:
    """The axis of one predictor spec, with its effects on the linear predictor."""
    label, unit = item.get("label"), item.get("unit")
    if item.get("kind", "continuous") != "categorical":
        column = item.get("column", item["name"])
        return NomogramPredictor(item["name"], "continuous", coefficients[column],
                                 tuple(float(v) for v in item["axis"]), label=label, unit=unit, mean=means[column],
                                 scale=scales[column])
    columns = item.get("level_columns", {})
    design = sorted(set(columns.values()))

    def effect(level: str) -> float:
        # Σ over the predictor's design columns of β·(indicator − mean)/scale
        return float(sum(coefficients[c] * ((1.0 if columns.get(level) == c else 0.0) - means[c]) / scales[c]
                         for c in design))

    return NomogramPredictor(item["name"], "categorical", levels=tuple(item["levels"]),
                             level_effects=tuple(effect(lv) for lv in item["levels"]), label=label, unit=unit)


def _standardization(document: Mapping[str, Any], features: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """Per model input its standardization mean and scale (0 and 1 when the package has none)."""
    spec = document.get("standardization")
    if not spec:
        return dict.fromkeys(features, 0.0), dict.fromkeys(features, 1.0)
    mean, scale = list(spec.get("mean", [])), list(spec.get("scale", []))
    if len(mean) != len(features) or len(scale) != len(features):
        raise ModelError(f"The package's standardization has {len(mean)} means and {len(scale)} scales for "
                         f"{len(features)} model inputs: the nomogram cannot apply it.")
    bad = [f for f, m, s in zip(features, mean, scale, strict=True)
           if not (math.isfinite(float(m)) and math.isfinite(float(s)) and float(s) > 0)]
    if bad:
        raise ModelError(f"The package's standardization is unusable (scale must be positive) for: {', '.join(bad)}.")
    return ({f: float(m) for f, m in zip(features, mean, strict=True)},
            {f: float(s) for f, s in zip(features, scale, strict=True)})


def case_values(package: Any, design: Any) -> dict[str, Any]:
    """The value of each nomogram predictor for the first case of ``design`` (the package's design of the
    case, ``ModelPackage.design``: clinical values encoded, derived scores computed): numbers for
    continuous axes (missing inputs filled as the package fills them), levels for categorical ones."""
    import pandas as pd

    from AxillaryPredictorLib.modeling.clinical import ClinicalVariable
    from AxillaryPredictorLib.packages.nomogram_spec import package_predictors
    from AxillaryPredictorLib.packages.package import ModelPackage

    package = package if hasattr(package, "document") else ModelPackage(package)
    document = package.document
    design = pd.DataFrame([dict(design)]) if isinstance(design, Mapping) else design
    fills = dict(zip(package.features, (document.get("imputation") or {}).get("values", []), strict=False))
    variables = {v["name"]: ClinicalVariable.from_dict(v) for v in document.get("clinical_variables") or []}
    values: dict[str, Any] = {}
    for item in package_predictors(document):
        name = item["name"]
        if item.get("kind", "continuous") == "categorical":
            values[name] = _case_level(item, variables.get(name), design)
        else:
            column = item.get("column", name)
            value = float(design[column].iloc[0])
            if math.isnan(value) and column in fills:
                value = float(fills[column])
            values[name] = value
    return values


def _case_level(item: Mapping[str, Any], variable: Any, design: Any) -> str:
    """The level of a categorical nomogram predictor in the design (binary/ordinal: its code column;
    several levels: the indicator column that is 1, else the reference level)."""
    name = item["name"]
    if variable is not None and variable.kind in ("binary", "ordinal") and name in design.columns:
        return variable.levels[int(design[name].iloc[0])]
    if variable is not None:
        columns = {lv: f"{name}={lv}" for lv in variable.levels[1:] if f"{name}={lv}" in design.columns}
    else:
        columns = item.get("level_columns", {})
    active = [lv for lv, column in columns.items() if float(design[column].iloc[0]) == 1.0]
    if active:
        return active[0]
    levels = list(variable.levels) if variable is not None else list(item["levels"])
    return next((lv for lv in levels if lv not in columns), levels[0])


def _nice_step(raw: float) -> float:
    if raw <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude


def _wrap_label(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` characters, broken after ``_``, ``-`` or spaces when possible
    (radiomics feature names have no spaces)."""
    tokens = [t for t in re.split(r"(?<=[_\-\s])", text) if t]
    lines: list[str] = []
    current = ""
    for token in tokens:
        while len(token) > width:  # a single token longer than a line: hard break
            if current:
                lines.append(current)
                current = ""
            lines.append(token[:width])
            token = token[width:]
        if len(current) + len(token) > width and current:
            lines.append(current)
            current = ""
        current += token
    if current:
        lines.append(current)
    return [line.strip() for line in lines] or [text]


def _tick_label(tick: Any) -> str:
    if isinstance(tick, str):
        return tick
    value = float(tick)
    return f"{value:g}" if abs(value) >= 1e-9 else "0"
