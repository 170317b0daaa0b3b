"""Command line ``axillary-predictor``: ``main`` (the COMMANDS registry), shared options, one
module per command."""

from AxillaryPredictorLib.cli.main import COMMANDS, main

__all__ = ["COMMANDS", "main"]
