"""``axillary-predictor evaluate``: compare models on one or more cohorts and write a report."""

from __future__ import annotations

import argparse

from AxillaryPredictorLib.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--predictions", help="CSV with the outcome and one probability column per model")
    parser.add_argument("--cohort", action="append", default=[], metavar="NAME=CSV",
                        help="a cohort's predictions CSV; repeat for training / internal / external ...")
    parser.add_argument("--cohort-column", help="column of --predictions that names the cohort (e.g. split)")
    parser.add_argument("--outcome", required=True, help="binary outcome column (1 = event)")
    parser.add_argument("--models", default="", help="probability columns to compare, comma-separated")
    parser.add_argument("--model", action="append", default=[], metavar="PACKAGE",
                        help="a model package (id or path) to score on every cohort; the cohort CSVs then hold "
                        "its features and clinical values (e.g. a cohort run's features.csv joined with cases.csv)")
    parser.add_argument("--clinical", help="clinical CSV with case_id, joined to every cohort CSV (for --model)")
    parser.add_argument("--cutoff", default="training", metavar="training|per-cohort|VALUE",
                        help="cut-off of sensitivity, specificity, accuracy, PPV, NPV and F1: 'training' (default) = "
                        "each model's Youden cut-off on the training cohort (named train/training, else the first), "
                        "applied to all; 'per-cohort' = the Youden cut-off of every cohort on its own; a number = "
                        "that fixed probability (positive when p >= it)")
    parser.add_argument("--out", required=True, help="report folder")


def load_cohorts(args: argparse.Namespace) -> dict:
    import pandas as pd

    cohorts = {}
    if args.predictions:
        frame = pd.read_csv(args.predictions)
        if args.cohort_column:
            if args.cohort_column not in frame.columns:
                raise InputError(f"No column '{args.cohort_column}' in {args.predictions}.")
            order = ["train", "training", "validation", "internal", "test", "external", "prospective"]
            names = sorted(frame[args.cohort_column].unique(), key=lambda n: (order.index(n) if n in order else 99, n))
            cohorts = {str(n): frame[frame[args.cohort_column] == n] for n in names}
        else:
            cohorts = {"all": frame}
    for item in args.cohort:
        name, _, path = item.partition("=")
        if not path:
            raise InputError(f"--cohort takes NAME=CSV, got '{item}'.")
        cohorts[name] = pd.read_csv(path)
    if not cohorts:
        raise InputError("Give --predictions or at least one --cohort NAME=CSV.")
    return cohorts


def score_packages(cohorts: dict, packages: list[str], clinical_path: str | None = None,
                   warnings: list[str] | None = None) -> tuple[dict, list[str]]:
    """Add one probability column per model package (named by its id) to every cohort; inputs outside
    a package's training ranges (e.g. an external cohort's older patients) are scored and appended to
    ``warnings`` (out of distribution), not refused — a declared clinical range is a hard limit."""
    import pandas as pd

    from AxillaryPredictorLib.packages.registry import find_model

    clinical = pd.read_csv(clinical_path, dtype={"case_id": str}) if clinical_path else None
    loaded = [find_model(spec) for spec in packages]
    scored = {}
    for name, frame in cohorts.items():
        frame = frame.copy()
        if clinical is not None:
            if "case_id" not in frame.columns:
                raise InputError(f"Cohort '{name}' has no case_id column to join the clinical table on.")
            frame["case_id"] = frame["case_id"].astype(str)
            extra = [c for c in clinical.columns if c == "case_id" or c not in frame.columns]
            frame = frame.merge(clinical[extra], on="case_id", how="left", validate="one_to_one")
        for package in loaded:
            try:
                design = package.design(frame)
                frame[package.id] = package.predict_proba_design(design)
            except ValueError as error:
                raise InputError(f"Model '{package.id}' cannot score cohort '{name}': {error}") from None
            cases = frame["case_id"].astype(str).tolist() if "case_id" in frame.columns else None
            if warnings is not None:
                warnings += [f"model '{package.id}', cohort '{name}': {w}"
                             for w in package.out_of_range_cases(design, cases)]
        scored[name] = frame
    return scored, [package.id for package in loaded]


def run(args: argparse.Namespace) -> int:
    from AxillaryPredictorLib.evaluation.comparison import evaluate_cohorts, write_evaluation_report

    cohorts = load_cohorts(args)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    warnings: list[str] = []
    if args.model:
        cohorts, scored = score_packages(cohorts, args.model, args.clinical, warnings)
        models += scored
    if not models:
        raise InputError("Name the probability columns to compare (--models) or give model packages (--model).")
    report = evaluate_cohorts(cohorts, args.outcome, models, cutoff=args.cutoff)
    paths = write_evaluation_report(report, cohorts, args.outcome, args.out)
    print(report.table[["cohort", "model", "n", "auc", "auc_lower", "auc_upper", "threshold", "sensitivity",
                        "specificity"]].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"cut-off: {report.cutoff}; 95% CIs: {report.table.ci_method.iloc[0]} (all in models.csv)")
    if warnings:
        from pathlib import Path

        from AxillaryPredictorLib.files import write_text_atomic

        for warning in warnings:
            print(f"warning: {warning}")
        write_text_atomic(Path(args.out) / "warnings.txt", "\n".join(warnings) + "\n")
        print(f"warnings: {Path(args.out) / 'warnings.txt'}")
    print(f"report: {paths['html']}")
    return 0
