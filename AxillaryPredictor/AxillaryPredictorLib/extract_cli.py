"""``axillary-predictor extract``: features of every region of one case (one or more views)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from AxillaryPredictorLib.regions_cli import add_tolerance_argument

    parser.add_argument("--image", action="append", default=[],
                        help="image file or DICOM folder; repeat with --mask and --view for several views")
    parser.add_argument("--mask", action="append", default=[],
                        help="tumor labelmap, .seg.nrrd or DICOM SEG (one per --image)")
    parser.add_argument("--views-file", help="CSV with columns view,image,mask (instead of repeated options; paths "
                        "relative to the file)")
    parser.add_argument("--view", action="append", help="view name per image ([A-Za-z0-9-]+; default: the "
                        "profile's modality tag, then V2, V3 ...)")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--label", type=int, help="tumor label in multi-label labelmaps")
    choice.add_argument("--segment", help="tumor segment name in .seg.nrrd or DICOM SEG files")
    parser.add_argument("--phase", type=int, help="phase index (0-based) of a 4D DCE-MRI series")
    parser.add_argument("--case-id", help="case ID (default: the first image file's stem)")
    parser.add_argument("--margins", default="3,5,10", help="margins in mm (default 3,5,10)")
    parser.add_argument("--regions", help="regions to extract, comma-separated (default: all built)")
    profile = parser.add_mutually_exclusive_group()
    profile.add_argument("--profile", default="zeng2025-dce-delta", help="shipped profile name (see 'profiles')")
    profile.add_argument("--params", help="your own pyradiomics parameter file (YAML)")
    parser.add_argument("--engine", choices=("shared", "pyradiomics"), default="shared")
    parser.add_argument("--workers", type=int, help="processes (default: number of cores)")
    parser.add_argument("--out", required=True, help="features CSV; provenance goes to <out>.json")
    add_tolerance_argument(parser)


def run(args: argparse.Namespace) -> int:
    from AxillaryPredictorLib.features import extract, select_regions, write_features
    from AxillaryPredictorLib.io import read_image, read_mask
    from AxillaryPredictorLib.profiles import load_profile
    from AxillaryPredictorLib.regions import build_region_set
    from AxillaryPredictorLib.regions_cli import case_id_from

    if args.views_file:
        from pathlib import Path

        import pandas as pd

        table = pd.read_csv(args.views_file, dtype=str)
        missing = {"view", "image", "mask"} - set(table.columns)
        if missing:
            raise ValueError(f"{args.views_file} lacks the column(s) {', '.join(sorted(missing))}.")
        base = Path(args.views_file).parent
        args.view = table["view"].tolist()
        args.image = [str(base / p) for p in table["image"]]
        args.mask = [str(base / p) for p in table["mask"]]
    if not args.image or len(args.mask) != len(args.image):
        raise ValueError("Give one --mask per --image (or --views-file).")
    profile = load_profile(args.params or args.profile)
    names = args.view or []
    default = profile.modality or "V"
    names = names + [default if i == 0 else f"V{i + 1}" for i in range(len(names), len(args.image))]
    wanted = [r.strip() for r in args.regions.split(",")] if args.regions else None
    views, warnings = {}, []
    for view, image_path, mask_path in zip(names, args.image, args.mask, strict=True):
        image = read_image(image_path, phase=args.phase)
        mask = read_mask(mask_path, label=args.label, segment=args.segment, reference=image,
                         tolerance=args.tolerance)
        region_set = build_region_set(mask, args.margins)
        warnings += region_set.warnings
        views[view] = (image, select_regions(region_set.images, wanted))
    case_id = args.case_id or case_id_from(args.image[0])
    result = extract(views, profile, case_id=case_id, engine=args.engine, workers=args.workers)
    result.warnings = warnings + result.warnings
    path = write_features([result], args.out)
    print(f"{len(result.features)} features of case {case_id} -> {path} (provenance: {path}.json)")
    for warning in result.warnings:
        print(f"warning: {warning}")
    return 0
