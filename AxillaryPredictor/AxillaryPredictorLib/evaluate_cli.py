"""``axillary-predictor evaluate``: compare models on one or more cohorts and write a report."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--predictions", help="CSV with the outcome and one probability column per model")
    parser.add_argument("--cohort", action="append", default=[], metavar="NAME=CSV",
                        help="a cohort's predictions CSV; repeat for training / internal / external ...")
    parser.add_argument("--cohort-column", help="column of --predictions that names the cohort (e.g. split)")
    parser.add_argument("--outcome", required=True, help="binary outcome column (1 = event)")
    parser.add_argument("--models", required=True, help="probability columns to compare, comma-separated")
    parser.add_argument("--out", required=True, help="report folder")


def load_cohorts(args: argparse.Namespace) -> dict:
    import pandas as pd

    cohorts = {}
    if args.predictions:
        frame = pd.read_csv(args.predictions)
        if args.cohort_column:
            if args.cohort_column not in frame.columns:
                raise ValueError(f"No column '{args.cohort_column}' in {args.predictions}.")
            order = ["train", "training", "validation", "internal", "test", "external", "prospective"]
            names = sorted(frame[args.cohort_column].unique(), key=lambda n: (order.index(n) if n in order else 99, n))
            cohorts = {str(n): frame[frame[args.cohort_column] == n] for n in names}
        else:
            cohorts = {"all": frame}
    for item in args.cohort:
        name, _, path = item.partition("=")
        if not path:
            raise ValueError(f"--cohort takes NAME=CSV, got '{item}'.")
        cohorts[name] = pd.read_csv(path)
    if not cohorts:
        raise ValueError("Give --predictions or at least one --cohort NAME=CSV.")
    return cohorts


def run(args: argparse.Namespace) -> int:
    from AxillaryPredictorLib.evaluation_report import evaluate_cohorts, write_evaluation_report

    cohorts = load_cohorts(args)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    report = evaluate_cohorts(cohorts, args.outcome, models)
    paths = write_evaluation_report(report, cohorts, args.outcome, args.out)
    print(report.table[["cohort", "model", "n", "auc", "auc_lower", "auc_upper", "sensitivity", "specificity"]]
          .to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"report: {paths['html']}")
    return 0
