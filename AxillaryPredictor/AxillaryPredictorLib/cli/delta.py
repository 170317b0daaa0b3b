"""``axillary-predictor delta``: delta radiomics of a baseline / on-treatment pair."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from AxillaryPredictorLib.cli.options import add_tolerance_argument, workers_count

    for timepoint in ("baseline", "ontreatment"):
        parser.add_argument(f"--{timepoint}-image", required=True, help=f"{timepoint} image file or DICOM folder")
        parser.add_argument(f"--{timepoint}-mask", required=True,
                            help=f"{timepoint} tumor labelmap, .seg.nrrd or DICOM SEG")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--label", type=int, help="tumor label in multi-label labelmaps")
    choice.add_argument("--segment", help="tumor segment name in .seg.nrrd or DICOM SEG files")
    parser.add_argument("--case-id", help="case ID (default: the baseline image file's stem)")
    parser.add_argument("--view", default="DCE3", help="view / series name (default DCE3)")
    parser.add_argument("--margins", default="3", help="margins in mm (default 3)")
    parser.add_argument("--regions", default="tumor,margin3mm", help="regions (default tumor,margin3mm)")
    parser.add_argument("--profile", default="zeng2025-dce-delta", help="extraction profile (same at both timepoints)")
    parser.add_argument("--mode", choices=("relative", "absolute", "log-ratio"), default="relative")
    for timepoint in ("baseline", "ontreatment"):
        parser.add_argument(f"--{timepoint}-laterality", choices=("L", "R"),
                            help=f"breast side of the {timepoint} scan (read from DICOM when not given)")
    parser.add_argument("--raw", action="store_true", help="also write baseline__ and ontreatment__ raw features")
    parser.add_argument("--workers", type=workers_count, help="processes (default: number of cores)")
    parser.add_argument("--out", required=True, help="output CSV (diagnostics in <out>.json)")
    add_tolerance_argument(parser)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from AxillaryPredictorLib.cli.options import case_id_from
    from AxillaryPredictorLib.extraction.delta import scan_metadata
    from AxillaryPredictorLib.files import write_text_atomic
    from AxillaryPredictorLib.imaging.io import read_image, read_mask
    from AxillaryPredictorLib.pipeline import extract_delta

    images = {t: read_image(getattr(args, f"{t}_image")) for t in ("baseline", "ontreatment")}
    masks = {t: read_mask(getattr(args, f"{t}_mask"), label=args.label, segment=args.segment, reference=images[t],
                          tolerance=args.tolerance)
             for t in images}
    case_id = args.case_id or case_id_from(args.baseline_image)
    meta = {t: {**scan_metadata(getattr(args, f"{t}_image")),
                **({"laterality": getattr(args, f"{t}_laterality")} if getattr(args, f"{t}_laterality") else {})}
            for t in images}
    result = extract_delta((images["baseline"], masks["baseline"]), (images["ontreatment"], masks["ontreatment"]),
                           case_id=case_id, view=args.view, margins=args.margins,
                           regions=[r.strip() for r in args.regions.split(",")], profile=args.profile,
                           mode=args.mode, workers=args.workers, baseline_meta=meta["baseline"],
                           ontreatment_meta=meta["ontreatment"])
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
