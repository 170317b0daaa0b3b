"""Cohort tables for model building: features + clinical + outcome, keyed by ``case_id``.

``load_cohort`` joins one or more feature tables and an optional clinical table and checks
them, with messages that say what to fix: duplicate IDs, IDs present in one table only,
a non-binary outcome, missing values (reported per column), constant columns. Optional
``split`` (train / validation / test) and ``center`` columns are kept aside.

Feature tables from elsewhere are accepted: pyradiomics' own batch CSV (``Image``, ``Mask``,
``diagnostics_*``, ``original_*`` columns) and other tools' tables. ``diagnostics_*`` columns,
pyradiomics' batch input columns (``Image``, ``Mask``, ``Label``, ``Label_channel``) and any
non-numeric column are ignored and listed in a warning. Column names follow one of two schemes
(``column_scheme``): ``radiomics`` (this library's ``<region>__<view>__<imageType>_<class>_<feature>``,
``delta__…``/``baseline__…``/``ontreatment__…`` and ``<region>__<view>__deep-<name>_<k>``) or ``plain``
(anything else, e.g. ``original_firstorder_Mean``); plain columns form one group. ``complete_response``,
the case-level flag the delta pipeline writes beside the ``delta__…`` columns, belongs to the radiomics
scheme but to no region or view (``CASE_COLUMNS``).

``table_inputs`` says what images a set of radiomics columns needs (views, regions, timepoints and
margins): a model package records it for the columns its model uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from AxillaryPredictorLib.errors import InputError

META_COLUMNS = ("split", "center")
#: pyradiomics batch input columns carried into its output table (paths and label settings, not features)
PYRADIOMICS_INPUT_COLUMNS = ("Image", "Mask", "Label", "Label_channel")
#: column schemes of a feature table (and of a model package's inputs)
RADIOMICS, PLAIN = "radiomics", "plain"
COLUMN_SCHEMES = (RADIOMICS, PLAIN)
#: the group of plain columns (``feature_groups``)
PLAIN_GROUP = "features"

_FEATURE = re.compile(r"^[A-Za-z0-9-]+_(?:firstorder|shape|shape2D|glcm|glrlm|glszm|gldm|ngtdm)_[A-Za-z0-9]+$")
_DEEP = re.compile(r"^deep-[A-Za-z0-9.-]+_[0-9]+$")
_REGION = re.compile(r"^[A-Za-z0-9_.-]+$")
_VIEW = re.compile(r"^[A-Za-z0-9-]+$")
_PREFIXES = ("delta", "baseline", "ontreatment")
#: radiomics-scheme columns of the whole case, not of a region or view: the delta pipeline's flag
#: (1 when the on-treatment tumor is empty, ``extraction.delta``)
CASE_COLUMNS = ("complete_response",)
#: the timepoints of a delta case (``pipeline.TIMEPOINTS``)
DELTA_TIMEPOINTS = ["baseline", "ontreatment"]
_MARGIN_REGION = re.compile(r"^(?:tumor_)?margin([0-9]+(?:p[0-9]+)?)mm$")


@dataclass(frozen=True)
class FeatureColumn:
    """The parts of a radiomics-scheme column name (``prefix`` is '' or delta/baseline/ontreatment)."""

    region: str
    view: str
    feature: str
    prefix: str = ""


def parse_feature_column(name: str) -> FeatureColumn | None:
    """The parts of ``<region>__<view>__<imageType>_<class>_<feature>`` (pyradiomics' names),
    ``delta__<region>__<view>__…`` (also baseline/ontreatment) or ``<region>__<view>__deep-<name>_<k>``;
    None for any other (plain) name."""
    parts = str(name).split("__")
    prefix = parts.pop(0) if len(parts) == 4 and parts[0] in _PREFIXES else ""
    if len(parts) != 3:
        return None
    region, view, feature = parts
    if not (_REGION.match(region) and _VIEW.match(view) and (_FEATURE.match(feature) or _DEEP.match(feature))):
        return None
    return FeatureColumn(region, view, feature, prefix)


def column_scheme(columns: Iterable[str]) -> str:
    """``radiomics`` when every column follows this library's naming (``CASE_COLUMNS`` included, but
    not alone), else ``plain``."""
    columns = [str(c) for c in columns]
    parsed = [parse_feature_column(c) for c in columns]
    if any(parsed) and all(p is not None or c in CASE_COLUMNS for c, p in zip(columns, parsed, strict=True)):
        return RADIOMICS
    return PLAIN


def feature_groups(columns: Iterable[str], by: str) -> dict[str, list[str]]:
    """Columns grouped by ``view`` or ``region`` (whatever their prefix: ``delta__tumor__…`` is in group
    ``tumor``); plain columns form one group (``PLAIN_GROUP``). ``CASE_COLUMNS`` belong to no region or
    view and are in no group (when every other column is a radiomics column)."""
    if by not in ("view", "region"):
        raise InputError(f"Groups are by 'view' or 'region', not '{by}'.")
    columns = [str(c) for c in columns]
    radiomics = column_scheme(columns) == RADIOMICS
    groups: dict[str, list[str]] = {}
    for column in columns:
        parsed = parse_feature_column(column)
        if parsed is None and radiomics:
            continue  # a case-level column (complete_response)
        key = PLAIN_GROUP if parsed is None else getattr(parsed, by)
        groups.setdefault(key, []).append(column)
    return groups


def margin_of_region(region: str) -> float | None:
    """The margin (mm) of ``marginNmm`` / ``tumor_marginNmm`` (``2p5mm`` -> 2.5), else None."""
    match = _MARGIN_REGION.match(region)
    return float(match.group(1).replace("p", ".")) if match else None


def _region_order(region: str) -> tuple:
    """tumor, then each margin's tumor_margin / margin region by size, then node, then any other."""
    margin = margin_of_region(region)
    if region == "tumor":
        return (0, 0.0, 0, "")
    if margin is not None:
        return (1, margin, 0 if region.startswith("tumor_") else 1, "")
    return (2, 0.0, 0, "") if region == "node" else (3, 0.0, 0, region)


def table_inputs(columns: Iterable[str]) -> dict[str, list]:
    """What the images of a case must give for these columns (radiomics scheme; plain columns are
    ignored): ``views`` (in column order), ``regions`` (tumor, margins by size, node), ``timepoints``
    (baseline and on-treatment when any column is ``delta__``/``baseline__``/``ontreatment__`` or
    ``complete_response``; else none) and ``margins_mm`` (of the margin regions). InputError when
    single-timepoint and delta columns are mixed: one package scores one scan per view or a pair."""
    columns = [str(c) for c in columns]
    parsed = [(c, p) for c, p in ((c, parse_feature_column(c)) for c in columns) if p is not None]
    single = [c for c, p in parsed if not p.prefix]
    paired = [c for c, p in parsed if p.prefix] + [c for c in columns if c in CASE_COLUMNS]
    if single and paired:
        raise InputError(f"The model uses single-timepoint columns (e.g. {single[0]}) and delta columns (e.g. "
                         f"{paired[0]}): a package scores either one scan per view or a baseline / on-treatment "
                         "pair. Train on one kind of column.")
    regions = sorted({p.region for _, p in parsed}, key=_region_order)
    margins = sorted({m for m in map(margin_of_region, regions) if m is not None})
    return {"views": list(dict.fromkeys(p.view for _, p in parsed)), "regions": regions,
            "timepoints": list(DELTA_TIMEPOINTS) if paired else [], "margins_mm": margins}


@dataclass
class Cohort:
    features: pd.DataFrame  # index case_id, numeric feature columns
    y: pd.Series  # index case_id, 0/1
    clinical: pd.DataFrame | None = None
    split: pd.Series | None = None
    center: pd.Series | None = None
    warnings: list[str] = field(default_factory=list)

    def design(self) -> pd.DataFrame:
        """Features and clinical columns side by side (index case_id)."""
        return self.features if self.clinical is None else self.features.join(self.clinical)

    def subset(self, split: str) -> Cohort:
        if self.split is None:
            raise InputError("This cohort has no 'split' column.")
        keep = self.split == split
        return Cohort(self.features[keep], self.y[keep], None if self.clinical is None else self.clinical[keep],
                      self.split[keep], None if self.center is None else self.center[keep], list(self.warnings))


def _read(table: str | Path | pd.DataFrame, role: str, id_column: str) -> pd.DataFrame:
    frame = table if isinstance(table, pd.DataFrame) else pd.read_csv(table)
    if id_column not in frame.columns:
        raise InputError(f"The {role} table has no '{id_column}' column: name its case id column with --id-column "
                         f"(Python: id_column=...); its columns: {', '.join(map(str, frame.columns[:8]))}.")
    frame = frame.copy()
    frame[id_column] = frame[id_column].astype(str)
    duplicated = frame[id_column][frame[id_column].duplicated()].unique().tolist()
    if duplicated:
        raise InputError(f"The {role} table has duplicate {id_column}s: {', '.join(duplicated[:10])}.")
    return frame.set_index(id_column)


def load_cohort(features: str | Path | pd.DataFrame | Sequence, clinical: str | Path | pd.DataFrame | None = None,
                outcome: str = "outcome", *, id_column: str = "case_id", allow_missing: bool = False) -> Cohort:
    """Join and validate the tables (see module docstring)."""
    tables = list(features) if isinstance(features, list | tuple) else [features]
    frames = [_read(t, f"features #{i + 1}", id_column) for i, t in enumerate(tables)]
    clinical_frame = _read(clinical, "clinical", id_column) if clinical is not None else None
    _check_same_cases([*frames, *([clinical_frame] if clinical_frame is not None else [])])
    merged = pd.concat(frames, axis=1, join="inner")
    overlap = merged.columns[merged.columns.duplicated()].tolist()
    if overlap:
        raise InputError(f"Feature tables share column names: {', '.join(overlap[:5])}.")
    source = clinical_frame if clinical_frame is not None and outcome in clinical_frame.columns else merged
    y = _outcome(source, outcome)
    meta = {c: source[c] if c in source.columns else merged[c] if c in merged.columns else None for c in META_COLUMNS}
    drop = [outcome, *META_COLUMNS]
    feature_frame, warnings = _feature_columns(merged.drop(columns=[c for c in drop if c in merged.columns]))
    clinical_out = None
    if clinical_frame is not None:
        clinical_out = clinical_frame.drop(columns=[c for c in drop if c in clinical_frame.columns])
    warnings += _feature_warnings(feature_frame, allow_missing)
    if clinical_out is not None:
        warnings += _clinical_warnings(clinical_out)
    order = feature_frame.index
    return Cohort(feature_frame, y.loc[order].astype(int), None if clinical_out is None else clinical_out.loc[order],
                  None if meta["split"] is None else meta["split"].loc[order].astype(str),
                  None if meta["center"] is None else meta["center"].loc[order].astype(str), warnings)


def _feature_columns(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The feature columns of a joined table without pyradiomics' diagnostics and input columns and
    without non-numeric columns (listed in a warning); InputError when none is left."""
    diagnostics = [c for c in frame.columns if str(c).startswith("diagnostics_")]
    inputs = [c for c in frame.columns if c in PYRADIOMICS_INPUT_COLUMNS]
    kept = frame.drop(columns=diagnostics + inputs)
    non_numeric = [c for c in kept.columns if not pd.api.types.is_numeric_dtype(kept[c])]
    kept = kept.drop(columns=non_numeric)
    warnings = []
    if diagnostics:
        warnings.append(f"{len(diagnostics)} pyradiomics diagnostics column(s) ignored (e.g. {diagnostics[0]}).")
    if inputs or non_numeric:
        warnings.append(f"Non-feature column(s) ignored: {', '.join(map(str, [*inputs, *non_numeric][:10]))}.")
    if not len(kept.columns):
        raise InputError("The feature table(s) have no numeric feature column (diagnostics_*, Image, Mask and text "
                         "columns are not features); columns seen: " + ", ".join(map(str, frame.columns[:8])) + ".")
    return kept, warnings


def _check_same_cases(frames: list[pd.DataFrame]) -> None:
    """ValueError naming the cases that are not in every table."""
    ids = [set(f.index) for f in frames]
    common = set.intersection(*ids)
    for i, present in enumerate(ids):
        only = sorted(present - common)
        if only:
            raise InputError(f"{len(only)} case(s) appear in table #{i + 1} but not in all tables: "
                             f"{', '.join(only[:10])}.")


def _outcome(source: pd.DataFrame, outcome: str) -> pd.Series:
    """The outcome column, checked: present, complete, binary 0/1 with both classes."""
    if outcome not in source.columns:
        raise InputError(f"No outcome column '{outcome}' in the clinical or feature tables.")
    y = source[outcome]
    if y.isna().any():
        raise InputError(f"The outcome '{outcome}' is missing for {int(y.isna().sum())} case(s).")
    if not set(pd.unique(y)) <= {0, 1}:
        raise InputError(f"The outcome '{outcome}' must be binary 0/1; found values "
                         f"{sorted(map(str, pd.unique(y)))[:6]}.")
    if y.nunique() < 2:
        raise InputError(f"The outcome '{outcome}' has a single class; model building needs events and non-events.")
    return y


def _feature_warnings(feature_frame: pd.DataFrame, allow_missing: bool) -> list[str]:
    """Warnings on missing values (an error unless ``allow_missing``) and constant feature columns."""
    warnings = []
    missing = feature_frame.isna().sum()
    missing = missing[missing > 0]
    if len(missing):
        message = "Missing values: " + ", ".join(f"{c} ({n})" for c, n in missing.items())
        if not allow_missing:
            raise InputError(message + ". Remove those features/cases, or impute them: add '- impute: {strategy: "
                             "median}' as the recipe's first step (fitted inside each CV fold; Python: "
                             "allow_missing=True).")
        warnings.append(message)
    constant = [c for c in feature_frame.columns if feature_frame[c].nunique(dropna=True) <= 1]
    if constant:
        warnings.append(f"{len(constant)} constant feature column(s) (e.g. {constant[0]}); "
                        "the variance filter drops them.")
    return warnings


def _clinical_warnings(clinical: pd.DataFrame) -> list[str]:
    """Warnings on blank and constant clinical columns."""
    warnings = []
    blank = clinical.isna() | clinical.astype(str).apply(lambda c: c.str.strip() == "")
    incomplete = blank.sum()
    incomplete = incomplete[incomplete > 0]
    if len(incomplete):
        warnings.append("Clinical values missing: " + ", ".join(f"{c} ({n})" for c, n in incomplete.items())
                        + "; a clinical variable used in a model must be complete.")
    fixed = [c for c in clinical.columns if clinical[c].nunique(dropna=True) <= 1]
    if fixed:
        warnings.append(f"Constant clinical column(s): {', '.join(fixed)}; they cannot be predictors.")
    return warnings


def table_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of a table's CSV text (training-data provenance)."""
    import hashlib

    return hashlib.sha256(frame.to_csv().encode()).hexdigest()



def _sidecar_provenance(table: str | Path) -> dict:
    """The provenance of a feature table's sidecar ``<table>.json`` (``extract``, ``cohort`` and
    single-case ``delta`` outputs), or {} without one."""
    import json

    sidecar = Path(f"{table}.json")
    if isinstance(table, pd.DataFrame) or not sidecar.is_file():
        return {}
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    provenance = data.get("provenance", data) if isinstance(data, dict) else {}
    return provenance if isinstance(provenance, dict) else {}


def recorded_settings(tables: Sequence[str | Path]) -> dict:
    """What the feature tables' sidecars record about how their features were made: ``delta_mode``
    (None when none records it) and ``regions``, the tissue exclusion of the regions (``exclude_below``,
    ``components``, ``excluded_masks``: whether any scan had masks the margins could not enter; None
    when none records it). InputError when the tables disagree: one model, one way of making features."""
    modes, regions = {}, {}
    for table in tables:
        provenance = _sidecar_provenance(table)
        if provenance.get("mode"):
            modes[str(table)] = provenance["mode"]
        record = provenance.get("regions")
        if isinstance(record, dict) and isinstance(record.get("settings"), dict):
            settings = record["settings"]
            regions[str(table)] = {"exclude_below": settings.get("exclude_below"),
                                   "components": settings.get("components", "largest"),
                                   "excluded_masks": bool(record.get("excluded_masks"))}
    for what, found in (("delta modes", modes), ("region settings", regions)):
        if len({repr(v) for v in found.values()}) > 1:
            listing = "; ".join(f"{Path(t).name}: {v}" for t, v in found.items())
            raise InputError(f"The feature tables were made with different {what} ({listing}); one model needs "
                             "features made one way: extract them again with the same settings.")
    return {"delta_mode": next(iter(modes.values()), None), "regions": next(iter(regions.values()), None)}
