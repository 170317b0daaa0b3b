"""Options shared by ``table1`` and ``univariable``: the clinical table, outcome and variables, and
the clinical spec whose blood indices (SII, NLR, PLR, MLR, WLR; Lu et al.) are computed from the
table's blood counts and whose declared levels order the categories (the first is the reference)."""

from __future__ import annotations

import argparse

from AxillaryPredictorLib.errors import InputError


def add_clinical_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clinical", required=True, help="clinical CSV, one row per case")
    parser.add_argument("--outcome", required=True, help="binary outcome column (0/1)")
    parser.add_argument("--variables", help="columns to describe, comma-separated (default: every column but the "
                        "outcome, the cohort column and case_id)")
    parser.add_argument("--categorical", help="numeric columns to treat as categories, comma-separated (e.g. grade "
                        "coded 1/2/3); numeric columns with <= 2 distinct values and text columns already are")
    parser.add_argument("--clinical-spec", help="clinical spec YAML (as for 'train'): its blood indices, e.g. "
                        "'- {name: sii, blood_index: sii}', are computed from the neutrophils, lymphocytes, platelets, "
                        "monocytes and wbc columns (renamed with counts: {neutrophils: COLUMN}) and added to the "
                        "table; a categorical variable's declared levels give its order (the first is the odds ratios' "
                        "reference level, e.g. levels: [oval, irregular])")


def _names(text: str | None) -> list[str]:
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def _level_text(value) -> str:
    """A cell as a level name: 1.0 -> "1" (numeric codes read as floats when a column has gaps)."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _declared_order(frame, declared: dict):
    """``frame`` with every declared categorical or binary column whose values are all declared levels
    turned into categories in the declared order: the spec, not the alphabet, names the reference level."""
    import pandas as pd

    frame = frame.copy()
    for name, variable in declared.items():
        if variable.kind == "continuous" or name not in frame.columns:
            continue
        text = frame[name].map(lambda v: v if pd.isna(v) else _level_text(v))
        if set(text.dropna()) <= set(variable.levels):
            frame[name] = pd.Categorical(text, categories=list(variable.levels))
    return frame


def read_clinical(args: argparse.Namespace):
    """(frame, variables, categorical columns) from the options; blood indices of the clinical spec added."""
    import pandas as pd

    frame = pd.read_csv(args.clinical, dtype={"case_id": str})
    if getattr(args, "clinical_spec", None):
        from AxillaryPredictorLib.modeling.clinical import add_derived_clinical, read_clinical_spec

        declared = read_clinical_spec(args.clinical_spec)
        frame = _declared_order(add_derived_clinical(frame, list(declared.values())), declared)
    if args.outcome not in frame.columns:
        raise InputError(f"No outcome column '{args.outcome}' in {args.clinical}; columns: "
                         f"{', '.join(map(str, frame.columns))}.")
    skip = {args.outcome, "case_id", getattr(args, "cohort_column", None)}
    variables = _names(args.variables) or [c for c in frame.columns if c not in skip]
    if not variables:
        raise InputError("No variables to analyse: give --variables.")
    return frame, variables, _names(args.categorical)
