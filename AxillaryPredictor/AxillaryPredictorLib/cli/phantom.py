"""``axillary-predictor phantom``: write a synthetic case (image, masks, truth) to disk."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from AxillaryPredictorLib.phantoms.images import PRESETS

    parser.add_argument("--preset", choices=sorted(PRESETS), default="dce", help="imaging preset (default: dce)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives identical files")
    parser.add_argument("--diameter", type=float, default=20.0, help="lesion diameter in mm (default: 20)")
    parser.add_argument("--node", action="store_true", help="add an axillary lymph node ROI")
    parser.add_argument("--pair", type=float, metavar="VOLUME_FACTOR",
                        help="write a baseline/on-treatment pair whose tumor volume changes by this factor")
    parser.add_argument("--case-id", default="phantom", help="file name prefix (default: phantom)")
    parser.add_argument("--out", required=True, help="output folder")


def run(args: argparse.Namespace) -> int:
    from AxillaryPredictorLib.phantoms.images import LesionSpec, make_pair, make_phantom

    lesion = LesionSpec(diameter_mm=args.diameter)
    if args.pair is not None:
        baseline, ontreatment = make_pair(args.seed, args.pair, args.preset, lesion, node=args.node)
        written = {"baseline": baseline.write(args.out, f"{args.case_id}_baseline"),
                   "ontreatment": ontreatment.write(args.out, f"{args.case_id}_ontreatment")}
    else:
        written = {"scan": make_phantom(args.preset, args.seed, lesion, args.node).write(args.out, args.case_id)}
    print(json.dumps({k: {role: str(p) for role, p in v.items()} for k, v in written.items()}, indent=2))
    return 0
