"""``axillary-predictor extract``: features of every region of one case (one or more views)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from AxillaryPredictorLib.errors import InputError

#: keys of a view in a --views-file (CSV columns or JSON object keys); the first three are required;
#: exclude_mask / exclude_segment: files / segments of the mask the margins may not enter, ';'-separated
VIEW_KEYS = ("view", "image", "mask", "label", "segment", "series", "phase", "exclude_mask", "exclude_segment")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from AxillaryPredictorLib.cli.options import add_region_arguments, add_tolerance_argument, workers_count

    parser.add_argument("--image", action="append", default=[],
                        help="image file or DICOM folder; repeat with --mask and --view for several views")
    parser.add_argument("--mask", action="append", default=[],
                        help="tumor labelmap, .seg.nrrd or DICOM SEG (one per --image)")
    parser.add_argument("--views-file", help="CSV (columns) or JSON (a list of objects) with view, image, mask and "
                        "optionally label, segment, series, phase, exclude_mask, exclude_segment per view, instead "
                        "of repeated options; paths relative to the file")
    parser.add_argument("--view", action="append", help="view name per image ([A-Za-z0-9-]+; default: the "
                        "profile's modality tag, then V2, V3 ...)")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--label", type=int, help="tumor label in multi-label labelmaps")
    choice.add_argument("--segment", help="tumor segment name in .seg.nrrd or DICOM SEG files")
    parser.add_argument("--series", action="append", help="SeriesInstanceUID to read from a DICOM folder holding "
                        "several series; give it once (all images) or once per --image")
    parser.add_argument("--phase", type=int, help="phase index (0-based) of a 4D image or of a multi-phase DICOM "
                        "series (DCE-MRI), for every image")
    parser.add_argument("--case-id", help="case ID (default: the first image file's stem)")
    parser.add_argument("--regions", help="regions to extract, comma-separated (default: all built)")
    profile = parser.add_mutually_exclusive_group()
    profile.add_argument("--profile", default="zeng2025-dce-delta", help="shipped profile name (see 'profiles')")
    profile.add_argument("--params", help="your own pyradiomics parameter file (YAML)")
    parser.add_argument("--engine", choices=("shared", "pyradiomics"), default="shared")
    parser.add_argument("--workers", type=workers_count, help="processes (default: number of cores)")
    parser.add_argument("--out", required=True, help="features CSV; provenance goes to <out>.json, diagnostics to "
                        "<stem>.diagnostics.csv; a failed run leaves none of the three")
    add_tolerance_argument(parser)
    add_region_arguments(parser)
    add_deep_arguments(parser)


def add_deep_arguments(parser: argparse.ArgumentParser) -> None:
    """Deep features (docs/deep-features.md); default: the profile's ``deep`` block, if any."""
    deep = parser.add_argument_group("deep features (ONNX)")
    deep.add_argument("--deep-model", help="ONNX file or backbone name ('backbones list'): add its deep columns "
                      "<region>__<view>__deep-<name>_<k> to the table")
    deep.add_argument("--deep-output", help="graph output to use (default: the registry's, else the first)")
    deep.add_argument("--deep-region", help="region cropped for the network (default: tumor)")
    deep.add_argument("--deep-context", type=float, help="mm added around the region's bounding rectangle (default 0)")
    deep.add_argument("--deep-input-size", type=int, help="network input size in pixels (default: the model's or 224)")


def deep_spec(args: argparse.Namespace) -> Any:
    """The deep-feature spec of the options (None: the profile's ``deep`` block, if any)."""
    options = (args.deep_output, args.deep_region, args.deep_context, args.deep_input_size)
    if not args.deep_model:
        if any(value is not None for value in options):
            raise InputError("--deep-output/--deep-region/--deep-context/--deep-input-size need --deep-model.")
        return None
    from AxillaryPredictorLib.extraction.deep import DeepSpec

    return DeepSpec(args.deep_model, args.deep_output, args.deep_region or "tumor", args.deep_context or 0.0,
                    args.deep_input_size)


def read_views_file(path: str | Path) -> list[dict[str, Any]]:
    """Views of a case from a CSV (one row per view) or a JSON file (a list of objects), with the keys
    ``VIEW_KEYS`` (view, image, mask required); image and mask paths relative to the file."""
    from AxillaryPredictorLib.errors import InputFileNotFoundError

    path = Path(path)
    if not path.is_file():
        raise InputFileNotFoundError(f"No views file at {path}.")
    entries = _json_entries(path) if path.suffix.lower() == ".json" else _csv_entries(path)
    if not entries:
        raise InputError(f"{path.name} lists no views.")
    return [_view_entry(path, number, entry) for number, entry in enumerate(entries, start=1)]


def _json_entries(path: Path) -> list[dict[str, Any]]:
    import json

    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(f"{path.name} is not valid JSON: {error}") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InputError(f"{path.name} must hold a list of objects with view, image and mask.")
    return entries


def _csv_entries(path: Path) -> list[dict[str, Any]]:
    import pandas as pd

    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for key in table.columns:
        if key not in VIEW_KEYS:
            raise InputError(f"{path.name} has the unknown column '{key}'; columns: {', '.join(VIEW_KEYS)}.")
    return [{k: v for k, v in row.items() if v.strip() != ""} for row in table.to_dict("records")]


def _view_entry(path: Path, number: int, entry: dict[str, Any]) -> dict[str, Any]:
    """One view of a views file, checked: known keys, required ones present, integers, paths resolved."""
    where = f"{path.name}, view {number}"
    unknown = [k for k in entry if k not in VIEW_KEYS]
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; keys: {', '.join(VIEW_KEYS)}.")
    missing = [k for k in VIEW_KEYS[:3] if entry.get(k) in (None, "")]
    if missing:
        raise InputError(f"{where}: {', '.join(missing)} missing.")
    view = {k: entry.get(k) for k in VIEW_KEYS}
    for key in ("view", "image", "mask", "segment", "series"):
        view[key] = None if view[key] is None else str(view[key])
    for key in ("exclude_mask", "exclude_segment"):  # a list (JSON) or ';'-separated text
        parts = view[key] if isinstance(view[key], list) else str(view[key] or "").split(";")
        view[key] = [str(part).strip() for part in parts if str(part).strip()]
    view["exclude_mask"] = [str(path.parent / file) for file in view["exclude_mask"]]
    for key in ("label", "phase"):
        if view[key] is not None:
            try:
                view[key] = int(view[key])
            except (TypeError, ValueError):
                raise InputError(f"{where}: {key} must be an integer, not '{view[key]}'.") from None
    if view["label"] is not None and view["segment"] is not None:
        raise InputError(f"{where}: give label or segment, not both.")
    view["image"] = str(path.parent / view["image"])
    view["mask"] = str(path.parent / view["mask"])
    return view


def _views_from_options(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.views_file:
        if args.image or args.mask or args.view:
            raise InputError("Give the views either with --views-file or with --image/--mask/--view, not both.")
        views = read_views_file(args.views_file)
        for view in views:  # command-line options are the defaults of what the file leaves out
            if view["label"] is None and view["segment"] is None:
                view["label"], view["segment"] = args.label, args.segment
            view["phase"] = args.phase if view["phase"] is None else view["phase"]
            if view["series"] is None and args.series:
                if len(args.series) != 1:
                    raise InputError("With --views-file give --series once (or a series column per view).")
                view["series"] = args.series[0]
        return views
    if not args.image or len(args.mask) != len(args.image):
        raise InputError("Give one --mask per --image (or --views-file).")
    series = args.series or [None]
    if len(series) == 1:
        series = series * len(args.image)
    if len(series) != len(args.image):
        raise InputError(f"Give --series once or once per --image ({len(args.image)}), not {len(args.series)} times.")
    names = args.view or []
    if len(names) > len(args.image):
        raise InputError("More --view names than --image options.")
    return [{"view": names[i] if i < len(names) else None, "image": image, "mask": mask, "label": args.label,
             "segment": args.segment, "series": series[i], "phase": args.phase, "exclude_mask": [],
             "exclude_segment": []}
            for i, (image, mask) in enumerate(zip(args.image, args.mask, strict=True))]


def run(args: argparse.Namespace) -> int:
    from AxillaryPredictorLib.extraction.tables import discard_outputs

    try:
        return _run(args)
    except BaseException:
        discard_outputs(args.out)  # a failed run leaves no output set, not even the previous run's
        raise


def _run(args: argparse.Namespace) -> int:
    from AxillaryPredictorLib.cli.options import region_settings
    from AxillaryPredictorLib.extraction.profiles import load_profile
    from AxillaryPredictorLib.extraction.tables import output_paths, write_features
    from AxillaryPredictorLib.pipeline import extract_case

    settings = region_settings(args)
    profile = load_profile(args.params or args.profile)
    inputs = _case_inputs(args, profile.modality or "V")
    wanted = [r.strip() for r in args.regions.split(",")] if args.regions else None
    result = extract_case(inputs, profile, settings, regions=wanted, engine=args.engine, workers=args.workers,
                          deep=deep_spec(args))
    path = write_features([result.extraction_result()], args.out)
    paths = output_paths(path)
    print(f"{len(result.features)} features of case {inputs.case_id} -> {path} (provenance: "
          f"{paths['sidecar'].name}, diagnostics: {paths['diagnostics'].name})")
    for warning in result.warnings:
        print(f"warning: {warning}")
    return 0


def _case_inputs(args: argparse.Namespace, default_view: str) -> Any:
    """One scan per view, as given by the options or the views file (views named by default after
    the profile's modality, then V2, V3 ...)."""
    from AxillaryPredictorLib.cli.options import case_id_from, exclusion_files
    from AxillaryPredictorLib.errors import InputError
    from AxillaryPredictorLib.imaging.io import read_image, read_mask
    from AxillaryPredictorLib.pipeline import CaseInputs, Scan, read_exclusions

    entries = _views_from_options(args)
    for i, entry in enumerate(entries):
        entry["view"] = entry["view"] or (default_view if i == 0 else f"V{i + 1}")
    names = [entry["view"] for entry in entries]
    if len(set(names)) != len(names):
        raise InputError(f"View names must differ: {', '.join(names)}.")
    files = exclusion_files(args.exclude_mask, names)
    views = {}
    for entry in entries:
        image = read_image(entry["image"], series=entry["series"], phase=entry["phase"])
        mask = read_mask(entry["mask"], label=entry["label"], segment=entry["segment"], reference=image,
                         tolerance=args.tolerance)
        excluded, excluded_names = read_exclusions(
            image, entry["mask"], files=[*files.get(None, []), *files.get(entry["view"], []), *entry["exclude_mask"]],
            segments=[*args.exclude_segment, *entry["exclude_segment"]], tolerance=args.tolerance)
        views[entry["view"]] = Scan(image, mask, excluded=excluded, excluded_names=excluded_names)
    return CaseInputs.single(args.case_id or case_id_from(entries[0]["image"]), views)
