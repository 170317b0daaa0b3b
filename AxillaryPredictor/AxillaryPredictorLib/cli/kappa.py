"""``axillary-predictor kappa``: Cohen's kappa (unweighted and weighted) between two readers'
categorical reads, equal to R ``psych::cohen.kappa`` (docs/evaluation.md)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reader1", required=True, help="first reader's CSV (rows matched by case_id when both "
                        "have it, else by position)")
    parser.add_argument("--reader2", required=True, help="second reader's CSV (the same columns)")
    parser.add_argument("--columns", required=True, help="categorical read columns, comma-separated")
    parser.add_argument("--weights", choices=("none", "linear", "quadratic"), default="quadratic",
                        help="weights of the weighted kappa (ordinal reads; categories in sorted order)")
    parser.add_argument("--out", required=True, help="table (.csv), one row per column")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from AxillaryPredictorLib.evaluation.agreement import kappa_table
    from AxillaryPredictorLib.files import write_text_atomic

    first = pd.read_csv(args.reader1, dtype={"case_id": str})
    second = pd.read_csv(args.reader2, dtype={"case_id": str})
    columns = [c.strip() for c in args.columns.split(",") if c.strip()]
    table = kappa_table(first, second, columns, weights=args.weights)
    path = write_text_atomic(args.out, table.to_csv(index=False))
    print(table.drop(columns=["ci_method"]).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"95% CIs: {table.ci_method.iloc[0]}; table -> {path}")
    return 0
