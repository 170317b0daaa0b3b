"""Options and defaults shared by several commands."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_tolerance_argument(parser: argparse.ArgumentParser) -> None:
    """``--tolerance MM`` (shared by the commands that read an image and its masks)."""
    parser.add_argument("--tolerance", type=float, help="allow a mask on a slightly different grid than its image "
                        "(mm): it is resampled onto the image with nearest neighbour (default: refuse)")


def workers_count(text: str) -> int:
    """``--workers N`` (an argparse type): a whole number of processes, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of processes: give 1 or more, or leave "
                                         "--workers out to use one per core")
    return value


def case_id_from(path: str | Path) -> str:
    """Default case ID: the file name without image extensions (or the folder name)."""
    name = Path(path).name
    for suffix in (".seg.nrrd", ".nii.gz", ".nrrd", ".nii", ".mha", ".mhd", ".dcm"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name
