"""``axillary-predictor models list|verify``: the registry and package verification."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="models_command", required=True)
    listing = sub.add_parser("list", help="bundled and user model packages")
    listing.add_argument("--user-folder", help="user model folder (default: $AXILLARY_PREDICTOR_MODELS or "
                         "~/.axillary-predictor/models)")
    verify = sub.add_parser("verify", help="exit 0 only for a valid, untampered package")
    verify.add_argument("package", help="model package (.json) or registry id")


def run(args: argparse.Namespace) -> int:
    from AxillaryPredictorLib.packages.package import PackageError
    from AxillaryPredictorLib.packages.registry import find_model, registry_entries

    if args.models_command == "list":
        for entry in registry_entries(args.user_folder):
            print(f"{entry['id']:28s} {entry.get('status', ''):32s} {entry.get('source', ''):8s} {entry['title']}")
        return 0
    try:
        package = find_model(args.package)
    except (PackageError, FileNotFoundError, ValueError) as error:
        print(f"INVALID: {error}")
        return 1
    print(f"OK: {package.id} v{package.document['version']} ({package.status}), sha256 {package.document['sha256']}")
    return 0
