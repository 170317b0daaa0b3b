"""``axillary-predictor predict``: one case in, report out (HTML, PDF, nomogram, prediction.json)."""

from __future__ import annotations

import argparse
from typing import Any

from AxillaryPredictorLib.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from AxillaryPredictorLib.cli.options import add_region_arguments, add_tolerance_argument, workers_count

    parser.add_argument("--model", required=True, help="model package (.json) or registry id ('models list')")
    parser.add_argument("--image", action="append", default=[], help="image per view (single-timepoint models)")
    parser.add_argument("--mask", action="append", default=[], help="tumor mask per --image")
    parser.add_argument("--view", action="append", help="view name per --image (default: the model's views)")
    parser.add_argument("--node-mask", action="append", default=[], help="lymph node ROI mask per --image "
                        "(models with a 'node' region, e.g. ultrasound tumor + lymph node)")
    for timepoint in ("baseline", "ontreatment"):
        parser.add_argument(f"--{timepoint}-image", help=f"{timepoint} image (delta models)")
        parser.add_argument(f"--{timepoint}-mask", help=f"{timepoint} tumor mask (delta models)")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--label", type=int, help="tumor label in multi-label labelmaps")
    choice.add_argument("--segment", help="tumor segment name in .seg.nrrd or DICOM SEG files")
    parser.add_argument("--clinical", action="append", default=[], metavar="NAME=VALUE",
                        help="clinical input, e.g. --clinical ki67=35 --clinical us_aln=positive")
    parser.add_argument("--case-id", help="case ID shown in the report (default: the image file's stem)")
    parser.add_argument("--workers", type=workers_count, help="processes for extraction (default: cores)")
    parser.add_argument("--out", required=True, help="output folder")
    add_tolerance_argument(parser)
    add_region_arguments(parser, margins=None)  # the model's margins; tissue exclusion as given here
    parser.add_argument("--deep-model", help="ONNX file of a model with deep features (default: its backbone)")


def parse_clinical(items: list[str]) -> dict[str, str]:
    """``--clinical NAME=VALUE`` items as a dict; a name given twice is refused (no silent last-wins)."""
    from AxillaryPredictorLib.modeling.clinical import parse_clinical_items

    return parse_clinical_items(items)


def run(args: argparse.Namespace) -> int:
    """Predict, or on any failure remove the report files of an earlier prediction in ``--out`` (and
    say so), so that report is not taken for this case's."""
    import sys

    from AxillaryPredictorLib.reporting.prediction_report import discard_prediction

    try:
        return _run(args)
    except BaseException:
        removed = discard_prediction(args.out)
        if removed:
            print(f"note: the prediction failed; removed the earlier report in {args.out} "
                  f"({', '.join(p.name for p in removed)}) so it is not taken for this case's.", file=sys.stderr)
        raise


def _run(args: argparse.Namespace) -> int:
    from AxillaryPredictorLib.cli.options import region_settings
    from AxillaryPredictorLib.packages.registry import find_model
    from AxillaryPredictorLib.pipeline import predict_case
    from AxillaryPredictorLib.reporting.prediction_report import write_prediction

    settings = region_settings(args, margins=())  # the package's margins are added by predict_case
    package = find_model(args.model)
    package.check_scores_images()
    inputs, sources = _case_inputs(args, package.document["inputs"]["views"])
    prediction = predict_case(package, inputs, settings, workers=args.workers, deep=args.deep_model)
    paths = write_prediction(package, prediction, args.out, inputs=sources)
    print(prediction.summary())
    for warning in prediction.warnings:
        print(f"warning: {warning}")
    print(f"report: {paths['html']}  pdf: {paths['pdf']}  json: {paths['json']}")
    return 0


def _case_inputs(args: argparse.Namespace, model_views: list[str]) -> tuple[Any, dict[str, str]]:
    """The case as given on the command line: two timepoints when --baseline-image/--ontreatment-image
    are given, else one scan per --image (the pipeline checks that this is what the model needs)."""
    from AxillaryPredictorLib.cli.options import case_id_from, exclusion_files
    from AxillaryPredictorLib.pipeline import CaseInputs

    clinical = parse_clinical(args.clinical)
    paths = {t: (getattr(args, f"{t}_image"), getattr(args, f"{t}_mask")) for t in ("baseline", "ontreatment")}
    if any(p for pair in paths.values() for p in pair):
        if not all(all(p) for p in paths.values()):
            raise InputError("A delta model compares two scans: give --baseline-image/--baseline-mask and "
                             "--ontreatment-image/--ontreatment-mask.")
        view = (args.view or model_views)[0]
        files = exclusion_files(args.exclude_mask, list(paths))
        scans = {t: {view: _scan(args, image, mask, files=files.get(None, []) + files.get(t, []))}
                 for t, (image, mask) in paths.items()}
        case_id = args.case_id or case_id_from(paths["baseline"][0])
        return (CaseInputs.paired(case_id, scans["baseline"], scans["ontreatment"], clinical),
                {"baseline image": paths["baseline"][0], "on-treatment image": paths["ontreatment"][0]})
    if not args.image or len(args.image) != len(args.mask):
        raise InputError("Give --image and --mask for each view the model needs "
                         f"({', '.join(model_views)}), or --baseline-image/--ontreatment-image for a delta model.")
    names = args.view or model_views[: len(args.image)]
    if len(names) != len(args.image):
        raise InputError(f"Give one --view per --image ({len(args.image)}), not {len(names)}.")
    nodes = args.node_mask + [None] * (len(args.image) - len(args.node_mask))
    files = exclusion_files(args.exclude_mask, names)
    views = {view: _scan(args, image, mask, node, files.get(None, []) + files.get(view, []))
             for view, image, mask, node in zip(names, args.image, args.mask, nodes, strict=True)}
    case_id = args.case_id or case_id_from(args.image[0])
    return CaseInputs.single(case_id, views, clinical), {f"image ({v})": p for v, p in zip(names, args.image,
                                                                                          strict=True)}


def _scan(args: argparse.Namespace, image_path: str, mask_path: str, node_path: str | None = None,
          files: list[str] | None = None) -> Any:
    """One scan with its node ROI and the masks its margins may not enter (``files``, --exclude-segment)."""
    from AxillaryPredictorLib.imaging.io import read_image, read_mask
    from AxillaryPredictorLib.pipeline import Scan, read_exclusions

    image = read_image(image_path)
    mask = read_mask(mask_path, label=args.label, segment=args.segment, reference=image, tolerance=args.tolerance)
    node = read_mask(node_path, reference=image, tolerance=args.tolerance) if node_path else None
    excluded, names = read_exclusions(image, mask_path, files=files or [], segments=args.exclude_segment,
                                      tolerance=args.tolerance)
    return Scan(image, mask, node, excluded, excluded_names=names)
