"""``axillary-predictor regions``: build the tumor and peritumoral regions of one image."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from AxillaryPredictorLib.cli.options import add_region_arguments, add_tolerance_argument

    parser.add_argument("--image", required=True, help="image file or DICOM series folder")
    parser.add_argument("--mask", required=True, help="tumor labelmap (NRRD/NIfTI), Slicer .seg.nrrd or DICOM SEG")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--label", type=int, help="label of the tumor in a multi-label labelmap")
    choice.add_argument("--segment", help="tumor segment name in a .seg.nrrd or DICOM SEG")
    parser.add_argument("--node-mask", help="lymph node ROI mask, passed through as region 'node'")
    parser.add_argument("--case-id", help="case ID (default: the image file's stem)")
    parser.add_argument("--out", required=True, help="output folder for <region>.nrrd and regions.json")
    add_tolerance_argument(parser)
    add_region_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from AxillaryPredictorLib.cli.options import case_id_from, exclusion_files, region_settings
    from AxillaryPredictorLib.imaging.io import read_image, read_mask, write_image
    from AxillaryPredictorLib.pipeline import Scan, build_case_regions, read_exclusions

    settings = region_settings(args)
    files = exclusion_files(args.exclude_mask, ())
    image = read_image(args.image)
    mask = read_mask(args.mask, label=args.label, segment=args.segment, reference=image,
                     tolerance=args.tolerance)
    node = read_mask(args.node_mask, reference=image, tolerance=args.tolerance) if args.node_mask else None
    excluded, names = read_exclusions(image, args.mask, files=files.get(None, []), segments=args.exclude_segment,
                                      tolerance=args.tolerance)
    scan = Scan(image, mask, node, excluded, excluded_names=names)
    region_set = build_case_regions(scan, settings)
    out = Path(args.out)
    for name, region in region_set.images.items():
        write_image(region, out / f"{name}.nrrd")
    summary = {"case_id": args.case_id or case_id_from(args.image), "image": str(args.image),
               "mask": str(args.mask), **region_set.summary(), "region_settings": settings.to_dict(),
               "excluded_masks": scan.exclusion_record()}
    (out / "regions.json").write_text(json.dumps(summary, indent=2))
    print(region_set.describe())
    return 0
