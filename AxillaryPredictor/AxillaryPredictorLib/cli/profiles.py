"""``axillary-predictor profiles``: the shipped extraction profiles, one name per line."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--details", action="store_true", help="print modality, hash and description as JSON lines")


def run(args: argparse.Namespace) -> int:
    from AxillaryPredictorLib.extraction.profiles import list_profiles, load_profile

    for name in list_profiles():
        if args.details:
            profile = load_profile(name)
            print(json.dumps({"name": name, "modality": profile.modality, "sha256": profile.hash,
                              "description": profile.description}))
        else:
            print(name)
    return 0
