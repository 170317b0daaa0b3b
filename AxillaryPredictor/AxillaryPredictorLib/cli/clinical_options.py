"""Options shared by ``table1`` and ``univariable``: the clinical table, outcome and variables, and
the clinical spec whose blood indices (SII, NLR, PLR, MLR, WLR; Lu et al.) are computed from the
table's blood counts."""

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
                        "monocytes and wbc columns (renamed with counts: {neutrophils: COLUMN}) and added to the table")


def _names(text: str | None) -> list[str]:
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def read_clinical(args: argparse.Namespace):
    """(frame, variables, categorical columns) from the options; blood indices of the clinical spec added."""
    import pandas as pd

    frame = pd.read_csv(args.clinical, dtype={"case_id": str})
    if getattr(args, "clinical_spec", None):
        from AxillaryPredictorLib.modeling.clinical import add_derived_clinical, read_clinical_spec

        frame = add_derived_clinical(frame, list(read_clinical_spec(args.clinical_spec).values()))
    if args.outcome not in frame.columns:
        raise InputError(f"No outcome column '{args.outcome}' in {args.clinical}; columns: "
                         f"{', '.join(map(str, frame.columns))}.")
    skip = {args.outcome, "case_id", getattr(args, "cohort_column", None)}
    variables = _names(args.variables) or [c for c in frame.columns if c not in skip]
    if not variables:
        raise InputError("No variables to analyse: give --variables.")
    return frame, variables, _names(args.categorical)
