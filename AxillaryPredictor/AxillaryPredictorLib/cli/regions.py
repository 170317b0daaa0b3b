"""``axillary-predictor regions``: build the tumor and peritumoral regions of one image."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from AxillaryPredictorLib.cli.options import add_tolerance_argument

    parser.add_argument("--image", required=True, help="image file or DICOM series folder")
    parser.add_argument("--mask", required=True, help="tumor labelmap (NRRD/NIfTI), Slicer .seg.nrrd or DICOM SEG")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--label", type=int, help="label of the tumor in a multi-label labelmap")
    choice.add_argument("--segment", help="tumor segment name in a .seg.nrrd or DICOM SEG")
    parser.add_argument("--margins", default="3,5,10", help="margins in mm, comma-separated (default 3,5,10)")
    parser.add_argument("--exclude-below", type=float, help="keep voxels darker than this (air) out of the margins")
    parser.add_argument("--components", choices=("largest", "all"), default="largest",
                        help="lesion components to keep (default: the largest)")
    parser.add_argument("--node-mask", help="lymph node ROI mask, passed through as region 'node'")
    parser.add_argument("--case-id", help="case ID (default: the image file's stem)")
    parser.add_argument("--out", required=True, help="output folder for <region>.nrrd and regions.json")
    add_tolerance_argument(parser)


def run(args: argparse.Namespace) -> int:
    from AxillaryPredictorLib.cli.options import case_id_from
    from AxillaryPredictorLib.imaging.io import read_image, read_mask, write_image
    from AxillaryPredictorLib.imaging.regions import parse_margins
    from AxillaryPredictorLib.pipeline import RegionSettings, Scan, build_case_regions

    image = read_image(args.image)
    mask = read_mask(args.mask, label=args.label, segment=args.segment, reference=image,
                     tolerance=args.tolerance)
    node = read_mask(args.node_mask, reference=image, tolerance=args.tolerance) if args.node_mask else None
    settings = RegionSettings(parse_margins(args.margins), args.exclude_below, args.components)
    region_set = build_case_regions(Scan(image, mask, node), settings)
    out = Path(args.out)
    for name, region in region_set.images.items():
        write_image(region, out / f"{name}.nrrd")
    summary = {"case_id": args.case_id or case_id_from(args.image), "image": str(args.image),
               "mask": str(args.mask), **region_set.summary()}
    (out / "regions.json").write_text(json.dumps(summary, indent=2))
    print(region_set.describe())
    return 0
