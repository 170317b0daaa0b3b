"""``axillary-predictor models list|verify``: the registry and package verification.

``list`` shows each package's cross-validated AUC (``performance.cv.auc``; "-" when it reports none,
e.g. a published model) and origin: bundled, or user-supplied and unverified (its status and AUC as
claimed by the file); a user file that cannot be used is listed as invalid or as a conflict, with the
reason.
``verify`` checks size and nesting, schema, SHA-256 and meaning (coefficient counts, scales, input
names, ranges); the SHA-256 proves integrity, and only the bundled registry proves origin."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="models_command", required=True)
    listing = sub.add_parser("list", help="bundled and user model packages")
    listing.add_argument("--user-folder", help="user model folder (default: $AXILLARY_PREDICTOR_MODELS or "
                         "~/.axillary-predictor/models)")
    verify = sub.add_parser("verify", help="exit 0 only for a valid, untampered package (integrity and meaning; "
                            "origin is verified for bundled packages only)")
    verify.add_argument("package", help="model package (.json) or registry id")


def run(args: argparse.Namespace) -> int:
    from AxillaryPredictorLib.errors import AxillaryPredictorError
    from AxillaryPredictorLib.packages.registry import find_model, registry_entries

    if args.models_command == "list":
        print(f"{'id':28s} {'CV AUC':6s} {'status':32s} {'origin':26s} title")
        for entry in registry_entries(args.user_folder):
            auc = entry.get("cv_auc")
            auc_text = f"{auc:.3f}" if isinstance(auc, int | float) else "-"
            line = (f"{entry['id']:28s} {auc_text:>6s} {entry.get('status') or '':32s} "
                    f"{entry.get('origin_text') or '':26s} {entry.get('title') or ''}")
            print(line + (f" - {entry['reason']}" if entry.get("reason") else ""))
        return 0
    try:
        package = find_model(args.package)
    except (AxillaryPredictorError, FileNotFoundError, ValueError) as error:
        print(f"INVALID: {error}")
        return 1
    print(f"OK: {package.id} v{package.document['version']} ({package.status_text()}), sha256 "
          f"{package.document['sha256']}")
    print(f"origin: {package.origin_text()}")
    return 0
