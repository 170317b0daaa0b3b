"""``axillary-predictor univariable``: univariable logistic odds ratios (Wald 95% CI, p) per clinical
variable, optionally followed by the multivariable model of those below a p threshold (R ``glm``)."""

from __future__ import annotations

import argparse

from AxillaryPredictorLib.cli.clinical_options import add_clinical_options, read_clinical


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_clinical_options(parser)
    parser.add_argument("--multivariable-p", type=float, metavar="P",
                        help="then fit one multivariable model of the variables with a univariable p < P (a "
                        "categorical variable enters when any of its levels does); its rows have model=multivariable")
    parser.add_argument("--out", required=True, help="table (.csv) with columns model, variable, level, or, "
                        "ci_lower, ci_upper, p, beta, se, n")


def run(args: argparse.Namespace) -> int:
    from AxillaryPredictorLib.evaluation.clinical_tables import univariable
    from AxillaryPredictorLib.files import write_text_atomic

    frame, variables, categorical = read_clinical(args)
    table = univariable(frame, args.outcome, variables, args.multivariable_p, categorical=categorical)
    path = write_text_atomic(args.out, table.to_csv(index=False))
    print(table.drop(columns=["beta", "se"]).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"table -> {path}")
    return 0
