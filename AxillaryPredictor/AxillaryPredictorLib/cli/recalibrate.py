"""``axillary-predictor recalibrate``: fit a published signature to local cases."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from AxillaryPredictorLib.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="package (.json) or registry id, e.g. he2025-dbt-signature")
    parser.add_argument("--features", action="append", required=True, help="local feature table(s) with case_id")
    parser.add_argument("--clinical", help="clinical table with case_id (and the outcome)")
    parser.add_argument("--outcome", required=True, help="binary outcome column")
    parser.add_argument("--slope", action="store_true", help="recalibrate the slope too (default: intercept only)")
    parser.add_argument("--holdout", type=float, help="fraction of cases held out for validation (e.g. 0.3): "
                        "the package becomes locally-validated")
    parser.add_argument("--score", action="append", default=[], metavar="NAME=PACKAGE",
                        help="the site's own model for an input score the paper did not publish, e.g. "
                        "radscore_dir=dir.json (a logistic package from 'train'); the score is its predicted "
                        "probability, computed from the case's features")
    parser.add_argument("--out", required=True, help="recalibrated package (.json); the validation report goes to "
                        "<out>_validation.json and <out>_validation/ (HTML page with ROC, calibration, decision "
                        "and clinical impact curves)")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from AxillaryPredictorLib.packages.package import save_package
    from AxillaryPredictorLib.packages.recalibration import recalibrate
    from AxillaryPredictorLib.packages.registry import find_model

    package = find_model(args.model)
    frames = [pd.read_csv(path).set_index("case_id") for path in args.features]
    frame = pd.concat(frames, axis=1)
    if args.clinical:
        frame = frame.join(pd.read_csv(args.clinical).set_index("case_id"), how="inner")
    if args.outcome not in frame.columns:
        raise InputError(f"No outcome column '{args.outcome}' in the given tables.")
    scores = {}
    for item in args.score:
        name, _, source = item.partition("=")
        if not source:
            raise InputError(f"--score takes NAME=PACKAGE, got '{item}'.")
        scores[name.strip()] = find_model(source.strip())
    result = recalibrate(package, frame, frame[args.outcome].to_numpy(), slope=args.slope, holdout=args.holdout,
                         scores=scores)
    path = save_package(result.document, args.out)
    report = Path(args.out).with_name(Path(args.out).stem + "_validation.json")
    report.write_text(json.dumps(result.validation, indent=2))
    from AxillaryPredictorLib.evaluation.comparison import evaluate_cohorts, write_evaluation_report

    cohort = result.predictions.rename(columns={"probability": result.document["id"]})
    name = "held-out" if result.validated_on_holdout else "recalibration (apparent)"
    evaluation = evaluate_cohorts({name: cohort}, "y", [result.document["id"]])
    pages = write_evaluation_report(evaluation, {name: cohort}, "y", report.with_suffix(""))
    print(f"intercept shift {result.intercept_shift:.4f} (SE {result.intercept_shift_se:.4f}), "
          f"slope {result.slope:.4f}")
    print(f"AUC {result.validation['auc']:.3f} on {result.validation['data']}; status {result.document['status']}")
    print(f"package -> {path}; validation -> {report} and {pages['html']}")
    return 0
