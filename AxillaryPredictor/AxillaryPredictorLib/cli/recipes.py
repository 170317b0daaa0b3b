"""``axillary-predictor recipes``: shipped training recipes, one name per line."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--details", action="store_true", help="also print each recipe's description")


def run(args: argparse.Namespace) -> int:
    from AxillaryPredictorLib.modeling.recipes import list_recipes, load_recipe

    for name in list_recipes():
        print(f"{name}\t{load_recipe(name).get('description', '')}" if args.details else name)
    return 0
