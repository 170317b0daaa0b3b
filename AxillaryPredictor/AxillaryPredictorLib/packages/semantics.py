"""What a model package means, checked beyond its schema and hash.

Anyone can recompute a package's SHA-256, so ``load_package`` (and ``models verify``) also check
that the numbers fit together before anything is scored: as many coefficients as inputs (for the
estimator, every derived score and every stacked member), standardization scales finite and > 0,
means, intercepts and fill values finite, training ranges finite with low <= high, and input names
valid for the package's column scheme (``inputs.column_scheme``, else inferred):

- ``radiomics``: every radiomics input is ``<region>__<view>__<imageType>_<class>_<feature>``
  (pyradiomics' names), ``delta__…`` / ``baseline__…`` / ``ontreatment__…`` or
  ``<region>__<view>__deep-<name>_<k>``, with a region and view the package declares (a delta
  package may also use ``complete_response``);
- ``plain``: a package trained on a table with other column names (e.g. pyradiomics' batch CSV);
  it scores tables with those columns, never images.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from AxillaryPredictorLib.modeling.cohort_tables import (
    CASE_COLUMNS,
    COLUMN_SCHEMES,
    PLAIN,
    RADIOMICS,
    parse_feature_column,
)


def _finite(values: Any) -> bool:
    try:
        return all(math.isfinite(float(v)) for v in values)
    except (TypeError, ValueError):
        return False


def _count(where: str, values: Sequence, expected: int, what: str) -> list[str]:
    if len(values) != expected:
        return [f"{where} has {len(values)} {what} for {expected} input(s)."]
    return []


def _numbers(where: str, values: Any) -> list[str]:
    return [] if _finite(values) else [f"{where} holds a value that is not a finite number."]


def standardization_problems(where: str, spec: Mapping[str, Any] | None, n: int) -> list[str]:
    """Lengths and values of a ``{"mean", "scale"}`` block for ``n`` inputs."""
    if not spec:
        return []
    problems = _count(f"{where}.mean", spec.get("mean", []), n, "means")
    problems += _count(f"{where}.scale", spec.get("scale", []), n, "scales")
    problems += _numbers(f"{where}.mean", spec.get("mean", []))
    scale = spec.get("scale", [])
    if not _finite(scale) or any(float(s) <= 0 for s in scale):
        problems.append(f"{where}.scale must hold finite numbers > 0 (a scale of 0 divides by zero).")
    return problems


def estimator_problems(where: str, estimator: Mapping[str, Any], n: int) -> list[str]:
    """Coefficient counts and finite numbers of an estimator scoring ``n`` inputs (stacked: recursively)."""
    kind = estimator.get("type")
    problems: list[str] = []
    if kind in ("logistic", "linear-svm"):
        problems += _count(f"{where}.coefficients", estimator["coefficients"], n, "coefficients")
        problems += _numbers(f"{where}.coefficients", estimator["coefficients"])
        problems += _numbers(f"{where}.intercept", [estimator["intercept"]])
    elif kind == "rbf-svm":
        vectors = estimator["support_vectors"]
        problems += _count(f"{where}.dual_coef", estimator["dual_coef"], len(vectors), "dual coefficients")
        problems += [f"{where}.support_vectors[{i}] has {len(v)} values for {n} input(s)."
                     for i, v in enumerate(vectors) if len(v) != n][:3]
        problems += _numbers(f"{where}.dual_coef", estimator["dual_coef"])
        if not _finite([estimator["gamma"]]) or float(estimator["gamma"]) <= 0:
            problems.append(f"{where}.gamma must be a finite number > 0.")
    elif kind == "xgboost":
        declared = estimator["booster"].get("learner", {}).get("learner_model_param", {}).get("num_feature")
        if declared is not None and str(declared).isdigit() and int(declared) != n:
            problems.append(f"{where}.booster was trained on {declared} inputs, the package gives {n}.")
    elif kind == "stacked":
        for i, member in enumerate(estimator["members"]):
            here = f"{where}.members[{i}]"
            problems += standardization_problems(f"{here}.standardization", member.get("standardization"),
                                                 len(member["features"]))
            problems += estimator_problems(f"{here}.estimator", member["estimator"], len(member["features"]))
        problems += standardization_problems(f"{where}.meta_standardization", estimator.get("meta_standardization"),
                                             len(estimator["members"]))
        problems += estimator_problems(f"{where}.meta", estimator["meta"], len(estimator["members"]))
    if "platt" in estimator:
        problems += _numbers(f"{where}.platt", [estimator["platt"].get("a"), estimator["platt"].get("b")])
    return problems


def derived_problems(document: Mapping[str, Any]) -> list[str]:
    """Each derived linear score: coefficients, means, scales and fill values per member feature."""
    problems = []
    for i, derived in enumerate(document.get("derived", [])):
        where, n = f"$.derived[{i}] ({derived['name']})", len(derived["features"])
        problems += _count(f"{where}.coefficients", derived["coefficients"], n, "coefficients")
        problems += _numbers(f"{where}.coefficients", [*derived["coefficients"], derived.get("intercept", 0.0)])
        if "mean" in derived or "scale" in derived:
            problems += standardization_problems(where, {"mean": derived.get("mean", [0.0] * n),
                                                         "scale": derived.get("scale", [1.0] * n)}, n)
        if "impute" in derived:
            problems += _count(f"{where}.impute", derived["impute"], n, "fill values")
            problems += _numbers(f"{where}.impute", derived["impute"])
    return problems


def range_problems(document: Mapping[str, Any]) -> list[str]:
    """Training ranges: finite, low <= high."""
    problems = []
    for name, bounds in document.get("training_ranges", {}).items():
        if not _finite(bounds) or float(bounds[0]) > float(bounds[1]):
            problems.append(f"$.training_ranges[{name}] must be two finite numbers, low <= high (got {bounds}).")
    return problems


def raw_columns(document: Mapping[str, Any]) -> list[str]:
    """Input columns that come from a feature table (not derived scores, not clinical design columns)."""
    from AxillaryPredictorLib.modeling.clinical import ClinicalVariable

    derived = {d["name"] for d in document.get("derived", [])}
    clinical = {c for v in document.get("clinical_variables", []) for c in ClinicalVariable.from_dict(v).columns()}
    clinical |= {v["name"] for v in document.get("clinical_variables", [])}
    names = [f for d in document.get("derived", []) for f in d["features"]] + list(document["features"])
    if document["estimator"].get("type") == "stacked":
        names += [f for m in document["estimator"]["members"] for f in m["features"]]
    return list(dict.fromkeys(n for n in names if n not in derived and n not in clinical))


def column_scheme_of(document: Mapping[str, Any]) -> str:
    """The declared ``inputs.column_scheme``; else ``radiomics`` unless no input is a radiomics column."""
    declared = document.get("inputs", {}).get("column_scheme")
    if declared:
        return declared
    columns = raw_columns(document)
    return PLAIN if columns and not any(parse_feature_column(c) for c in columns) else RADIOMICS


def name_problems(document: Mapping[str, Any]) -> list[str]:
    """Input names valid for the column scheme, declared regions and views; no duplicate inputs."""
    problems = []
    duplicated = sorted({f for f in document["features"] if list(document["features"]).count(f) > 1})
    if duplicated:
        problems.append(f"$.features lists {', '.join(duplicated)} more than once.")
    scheme = column_scheme_of(document)
    if scheme not in COLUMN_SCHEMES:
        return [*problems, f"$.inputs.column_scheme must be one of {', '.join(COLUMN_SCHEMES)}."]
    if scheme == PLAIN:
        return problems + [f"input name {n!r} is empty or has control characters." for n in raw_columns(document)
                           if not n.strip() or any(ord(ch) < 32 for ch in n)][:3]
    regions, views = set(document["inputs"]["regions"]), set(document["inputs"]["views"])
    bad = []
    delta = bool(document["inputs"].get("timepoints"))
    for name in raw_columns(document):
        parsed = parse_feature_column(name)
        if delta and name in CASE_COLUMNS:
            continue  # complete_response: the delta pipeline's flag of the whole case
        if parsed is None or parsed.region not in regions or parsed.view not in views:
            bad.append(name)
    if bad:
        problems.append(f"{len(bad)} input name(s) are not radiomics columns of the package's regions "
                        f"({', '.join(sorted(regions))}) and views ({', '.join(sorted(views))}), nor a derived score "
                        f"or clinical variable: {', '.join(bad[:5])} (expected <region>__<view>__<imageType>_<class>"
                        "_<feature>, delta__…, or <region>__<view>__deep-<name>_<k>; a package trained on a plain "
                        "table declares inputs.column_scheme 'plain').")
    return problems


def semantic_problems(document: Mapping[str, Any]) -> list[str]:
    """Every meaning problem of a schema-valid package (empty when it can be scored)."""
    n = len(document["features"])
    problems = estimator_problems("$.estimator", document["estimator"], n)
    problems += standardization_problems("$.standardization", document.get("standardization"), n)
    if document.get("imputation"):
        problems += _count("$.imputation.values", document["imputation"]["values"], n, "fill values")
        problems += _numbers("$.imputation.values", document["imputation"]["values"])
    problems += derived_problems(document)
    problems += range_problems(document)
    try:
        problems += name_problems(document)
    except ValueError as error:  # a clinical variable declaration that cannot be built
        problems.append(f"$.clinical_variables: {error}")
    return problems
