"""Command line interface ``axillary-predictor <command>``.

Each command lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int``; this file only wires them to argparse. Command modules keep
heavy imports (pyradiomics, scikit-learn ...) inside ``run`` so ``--help`` stays fast.

Errors (``errors.py``): an ``AxillaryPredictorError`` (or a missing file) is the user's to fix:
``error: <message>`` on stderr, exit code 2, no traceback. Anything else is a bug: a one-line
message and exit code 1, or the full traceback with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

#: command name -> (module, one-line help). Add new commands here.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("AxillaryPredictorLib.cli.demo", "generate a synthetic case and run the pipeline on it"),
    "phantom": ("AxillaryPredictorLib.cli.phantom", "write a synthetic phantom case (image + masks) to disk"),
    "regions": ("AxillaryPredictorLib.cli.regions", "build tumor and peritumoral regions (3/5/10 mm margins)"),
    "extract": ("AxillaryPredictorLib.cli.extract", "extract radiomics features of every region of a case"),
    "profiles": ("AxillaryPredictorLib.cli.profiles", "list the shipped extraction profiles"),
    "evaluate": ("AxillaryPredictorLib.cli.evaluate", "compare models on cohorts: AUC, DeLong, calibration, DCA, NRI"),
    "train": ("AxillaryPredictorLib.cli.train", "cross-validate a recipe on a cohort and export a model package"),
    "recipes": ("AxillaryPredictorLib.cli.recipes", "list the shipped training recipes"),
    "models": ("AxillaryPredictorLib.cli.models", "list model packages or verify one"),
    "recalibrate": ("AxillaryPredictorLib.cli.recalibrate", "recalibrate a published signature on local cases"),
    "predict": ("AxillaryPredictorLib.cli.predict", "predict one case and write its report"),
    "cohort": ("AxillaryPredictorLib.cli.cohort", "batch extract|delta|predict over a manifest (resume, Dask)"),
    "delta": ("AxillaryPredictorLib.cli.delta", "delta radiomics between a baseline and an on-treatment scan"),
    "table1": ("AxillaryPredictorLib.cli.table1", "baseline characteristics by outcome (and cohort), tests as in R"),
    "univariable": ("AxillaryPredictorLib.cli.univariable", "univariable (and multivariable) logistic odds ratios"),
    "kappa": ("AxillaryPredictorLib.cli.kappa", "Cohen's kappa between two readers' categorical reads"),
    "serve": ("AxillaryPredictorLib.cli.serve", "the web app (trame-slicer) on http://127.0.0.1:8080/"),
    "backbones": ("AxillaryPredictorLib.cli.backbones", "list the ONNX deep-feature backbones or fetch one"),
    "replicate": ("AxillaryPredictorLib.cli.replicate", "run one study's published method on a synthetic cohort"),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per command."""
    from AxillaryPredictorLib import __version__

    parser = argparse.ArgumentParser(
        prog="axillary-predictor",
        description="Axillary lymph node status prediction from breast imaging radiomics.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        module = importlib.import_module(module_name)
        module.add_arguments(command_parser)
        command_parser.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if not args.verbose:  # pyradiomics logs every filter and class at INFO
        logging.getLogger("radiomics").setLevel(logging.ERROR)
    if args.command is None:
        parser.print_help()
        return 2
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    """The command's exit code; failures as messages (see the module docstring)."""
    from AxillaryPredictorLib.errors import AxillaryPredictorError

    try:
        return int(args._module.run(args) or 0)
    except (AxillaryPredictorError, FileNotFoundError) as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        if args.debug:
            raise
        print(f"error: unexpected {type(error).__name__}: {error} (this is a bug; rerun with --debug for the "
              "traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
