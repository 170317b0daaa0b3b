"""``axillary-predictor delta``: delta radiomics of a baseline / on-treatment pair."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

TIMEPOINTS = ("baseline", "ontreatment")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from AxillaryPredictorLib.cli.options import add_region_arguments, add_tolerance_argument, workers_count

    for timepoint in TIMEPOINTS:
        parser.add_argument(f"--{timepoint}-image", required=True, help=f"{timepoint} image file or DICOM folder")
        parser.add_argument(f"--{timepoint}-mask", required=True,
                            help=f"{timepoint} tumor labelmap, .seg.nrrd or DICOM SEG")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--label", type=int, help="tumor label in multi-label labelmaps")
    choice.add_argument("--segment", help="tumor segment name in .seg.nrrd or DICOM SEG files")
    parser.add_argument("--case-id", help="case ID (default: the baseline image file's stem)")
    parser.add_argument("--view", default="DCE3", help="view / series name (default DCE3)")
    parser.add_argument("--regions", default="tumor,margin3mm", help="regions (default tumor,margin3mm)")
    parser.add_argument("--profile", default="zeng2025-dce-delta", help="extraction profile (same at both timepoints)")
    parser.add_argument("--mode", choices=("relative", "absolute", "log-ratio"), default="relative")
    for timepoint in TIMEPOINTS:
        parser.add_argument(f"--{timepoint}-laterality", choices=("L", "R"),
                            help=f"breast side of the {timepoint} scan (read from DICOM when not given)")
    parser.add_argument("--raw", action="store_true", help="also write baseline__ and ontreatment__ raw features")
    parser.add_argument("--workers", type=workers_count, help="processes (default: number of cores)")
    parser.add_argument("--out", required=True, help="output CSV (diagnostics in <out>.json)")
    add_tolerance_argument(parser)
    add_region_arguments(parser, margins="3")  # --exclude-mask baseline=FILE / ontreatment=FILE: one timepoint


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from AxillaryPredictorLib.cli.options import case_id_from, region_settings
    from AxillaryPredictorLib.files import write_text_atomic
    from AxillaryPredictorLib.pipeline import extract_case

    settings = region_settings(args)
    case_id = args.case_id or case_id_from(args.baseline_image)
    inputs = _paired_inputs(args, case_id)
    result = extract_case(inputs, args.profile, settings, regions=[r.strip() for r in args.regions.split(",")],
                          workers=args.workers, delta_mode=args.mode).delta
    out = Path(args.out)
    frame = pd.DataFrame([{"case_id": case_id, **result.row(include_raw=args.raw)}])
    write_text_atomic(Path(f"{out}.json"), json.dumps({"case_id": case_id, "warnings": result.warnings,
                                                        **result.provenance}, indent=2, default=str))
    write_text_atomic(out, frame.to_csv(index=False))
    defined = len(result.delta.values) - len(result.delta.undefined)
    print(f"{defined} of {len(result.delta.values)} delta features defined -> {out}")
    for warning in result.warnings:
        print(f"note: {warning}")
    return 0


def _paired_inputs(args: argparse.Namespace, case_id: str) -> Any:
    """The case: one scan per timepoint (view ``--view``) with its metadata (checked between the
    timepoints) and the masks its margins may not enter."""
    from AxillaryPredictorLib.cli.options import exclusion_files
    from AxillaryPredictorLib.extraction.delta import scan_metadata
    from AxillaryPredictorLib.imaging.io import read_image, read_mask
    from AxillaryPredictorLib.pipeline import CaseInputs, Scan, read_exclusions

    files = exclusion_files(args.exclude_mask, TIMEPOINTS)
    scans = {}
    for timepoint in TIMEPOINTS:
        image_path, mask_path = getattr(args, f"{timepoint}_image"), getattr(args, f"{timepoint}_mask")
        image = read_image(image_path)
        mask = read_mask(mask_path, label=args.label, segment=args.segment, reference=image, tolerance=args.tolerance)
        laterality = getattr(args, f"{timepoint}_laterality")
        meta = {**scan_metadata(image_path), **({"laterality": laterality} if laterality else {})}
        excluded, names = read_exclusions(image, mask_path, files=[*files.get(None, []), *files.get(timepoint, [])],
                                          segments=args.exclude_segment, tolerance=args.tolerance)
        scans[timepoint] = {args.view: Scan(image, mask, None, excluded, meta, names)}
    return CaseInputs.paired(case_id, scans["baseline"], scans["ontreatment"])
