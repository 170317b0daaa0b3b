"""``axillary-predictor cohort extract|delta|predict MANIFEST --out DIR``: batch runs.

Each case is independent: failures go to ``DIR/errors.csv`` (case_id, step, message) and the
run goes on; the exit code is non-zero when any case failed. Warnings and per-region diagnostics go
to ``DIR/diagnostics.csv`` and the summary names the cases with warnings. When no case succeeded,
the previous run's result files are removed and named. ``--resume`` skips cases whose manifest
rows, input files and settings are unchanged. ``--scheduler tcp://HOST:PORT`` runs on a Dask
cluster (every worker needs this package installed: pip install 'axillary-predictor[cluster]';
docs/batch.md gives the recommended worker command). Tissue exclusion: ``--exclude-below``,
``--exclude-segment`` and ``--components`` as in ``regions``; excluded mask files per row in the manifest
(``exclude_mask``, ``exclude_segment`` columns). The settings go to ``DIR/<table>.json``.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from AxillaryPredictorLib.cli.options import add_region_arguments, workers_count

    parser.add_argument("command", choices=("extract", "delta", "predict"), help="what to run per case")
    parser.add_argument("manifest", help="manifest CSV (case_id, view, timepoint, image, mask, ...)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--profile", default="zeng2025-dce-delta", help="extraction profile")
    parser.add_argument("--model", help="model package or registry id (predict)")
    parser.add_argument("--regions", help="regions to extract, comma-separated (default: all)")
    parser.add_argument("--mode", default="relative", choices=("relative", "absolute", "log-ratio"),
                        help="delta definition (delta)")
    parser.add_argument("--workers", type=workers_count, help="local processes (default: number of cores)")
    parser.add_argument("--scheduler",
                        help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (workers: see docs/batch.md)")
    parser.add_argument("--resume", action="store_true",
                        help="skip cases whose manifest rows, input files and settings are unchanged")
    parser.add_argument("--strict", action="store_true", help="stop before any work when the manifest has a problem "
                        "(default: record those cases as failed, step 'validate', and run the others)")
    add_region_arguments(parser, mask_files=False)  # excluded files: manifest column exclude_mask


def run(args: argparse.Namespace) -> int:
    from AxillaryPredictorLib.batch.cohort import run_cohort_command

    summary = run_cohort_command(args.command, args.manifest, args.out, profile=args.profile, model=args.model,
                                 margins=args.margins, regions=args.regions, mode=args.mode, workers=args.workers,
                                 scheduler=args.scheduler, resume=args.resume, strict=args.strict,
                                 exclude_below=args.exclude_below, components=args.components,
                                 exclude_segments=tuple(args.exclude_segment))
    print(summary.describe())
    if summary.output:
        print(f"results: {summary.output}")
    if summary.diagnostics:
        print(f"diagnostics: {summary.diagnostics}")
    if not summary.ok:
        print(f"errors: {args.out}/errors.csv")
    return 0 if summary.ok else 1
