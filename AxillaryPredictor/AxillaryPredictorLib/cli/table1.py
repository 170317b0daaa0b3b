"""``axillary-predictor table1``: baseline characteristics by outcome (and cohort), the studies' Table 1.

Tests and summaries follow R (docs/clinical-statistics.md): mean ± SD with Welch's t-test or
median [IQR] with the Wilcoxon rank-sum test (chosen by Shapiro–Wilk unless --continuous says),
n (%) with χ² (Yates for 2 × 2) or Fisher's exact test when an expected count is below 5."""

from __future__ import annotations

import argparse

from AxillaryPredictorLib.cli.clinical_options import add_clinical_options, read_clinical


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_clinical_options(parser)
    parser.add_argument("--cohort-column", help="column naming each case's cohort (e.g. split): the outcome comparison "
                        "is made within every cohort, and <out>.cohorts.csv compares the cohorts")
    parser.add_argument("--continuous", choices=("auto", "normal", "nonnormal"), default="auto",
                        help="auto: median [IQR] and Wilcoxon when Shapiro-Wilk p < 0.05 in any group, else mean ± SD "
                        "and Welch's t-test; normal / nonnormal: one of them for every continuous variable")
    parser.add_argument("--digits", type=int, default=2, help="decimals of the summaries (p is never rounded)")
    parser.add_argument("--out", required=True, help="table (.csv)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from AxillaryPredictorLib.evaluation.clinical_tables import table1
    from AxillaryPredictorLib.files import write_texts_atomic

    frame, variables, categorical = read_clinical(args)
    by_outcome, by_cohort = table1(frame, args.outcome, variables=variables, cohort=args.cohort_column,
                                   continuous=args.continuous, digits=args.digits, categorical=categorical)
    for note in by_outcome.notes:
        print(f"note: {note}")
    out = Path(args.out)
    files = [(out, by_outcome.table.to_csv(index=False))]
    if by_cohort is not None:
        files.append((out.with_name(out.stem + ".cohorts.csv"), by_cohort.table.to_csv(index=False)))
    paths = write_texts_atomic(files)
    shown = by_outcome.table.drop(columns=["kind", "statistic", "df", "problem"])
    print(shown.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.3g}"))
    print(f"table -> {', '.join(map(str, paths))}")
    return 0
