"""``axillary-predictor backbones list|fetch NAME``: the ONNX backbones for deep features.

Weights are never bundled and never downloaded without this explicit command; ``fetch`` verifies
the SHA-256 and keeps the file in the user cache (``$AXILLARY_PREDICTOR_BACKBONES``, default
``~/.axillary-predictor/backbones``)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("list", help="list the registry's backbones and whether each is downloaded")
    fetch = sub.add_parser("fetch", help="download a backbone into the user cache (SHA-256 verified)")
    fetch.add_argument("name", help="backbone name (see 'backbones list')")
    fetch.add_argument("--url", help="download from this mirror instead of the registry URL (the SHA-256 is still "
                       "checked)")


def run(args: argparse.Namespace) -> int:
    from AxillaryPredictorLib.extraction.deep import cache_directory, expected_sha256, fetch_backbone, load_registry

    registry = load_registry()
    cache = cache_directory()
    if args.action == "fetch":
        entry = registry.get(args.name)
        if entry is not None:
            size = f"{entry['size_bytes'] / 1e6:.0f} MB " if entry.get("size_bytes") else ""
            print(f"downloading {args.name} ({size}{entry['licence']}) from {args.url or entry['url']} ...")
        path = fetch_backbone(args.name, url=args.url, cache=cache, registry=registry)
        print(f"{args.name} -> {path} (sha256 {expected_sha256(registry[args.name], path)})")
        return 0
    print(f"backbone cache: {cache}")
    for name, entry in registry.items():
        state = "downloaded" if (cache / f"{name}.onnx").is_file() else "not downloaded"
        print(f"{name:10s} {entry['output_kind']:18s} {entry['features']:5d} features  {entry['input_size']} px  "
              f"{entry['licence']:12s} {state}  {entry['title']}")
    return 0
