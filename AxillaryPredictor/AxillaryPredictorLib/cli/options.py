"""Options and defaults shared by several commands."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from AxillaryPredictorLib.errors import InputError

#: a view or timepoint name before ``=`` in ``--exclude-mask WHERE=FILE``
_PLACE = re.compile(r"^[A-Za-z0-9-]+$")


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


# ---------------------------------------------------------------------------- region options


def add_region_arguments(parser: argparse.ArgumentParser, *, margins: str | None = "3,5,10",
                         mask_files: bool = True) -> None:
    """How the regions are grown (``pipeline.RegionSettings`` and the masks of each ``pipeline.Scan``):
    the same flags in ``regions``, ``extract``, ``delta``, ``predict`` and ``cohort`` (docs/regions.md).
    ``margins``: the default of ``--margins`` (None: no such option, the model's margins);
    ``mask_files``: offer ``--exclude-mask`` (cohort runs take excluded files from the manifest)."""
    group = parser.add_argument_group("regions (docs/regions.md)")
    if margins is not None:
        group.add_argument("--margins", default=margins, help=f"margins in mm, comma-separated (default {margins})")
    group.add_argument("--exclude-below", type=float, metavar="I", help="tissue threshold: the margins never "
                       "enter voxels darker than I (air); default: no threshold")
    if mask_files:
        group.add_argument("--exclude-mask", action="append", default=[], metavar="[WHERE=]FILE",
                           help="mask the margins may not enter (chest wall, skin): a binary labelmap or a .seg.nrrd / "
                                "DICOM SEG with one segment, on the image's grid (or --tolerance); repeat for "
                                "several; WHERE= limits it to one view or timepoint (baseline, ontreatment)")
    group.add_argument("--exclude-segment", action="append", default=[], metavar="NAME",
                       help="segment of the tumor's mask file (.seg.nrrd or DICOM SEG) the margins may not enter, "
                            "as the Slicer module's excluded segments; repeat for several")
    group.add_argument("--components", choices=("largest", "all"), default="largest",
                       help="lesion components to keep (default: the largest)")


def region_settings(args: argparse.Namespace, margins: Any = None) -> Any:
    """The ``pipeline.RegionSettings`` of the options (``margins``: instead of ``--margins``)."""
    from AxillaryPredictorLib.imaging.regions import parse_margins
    from AxillaryPredictorLib.pipeline import RegionSettings

    chosen = getattr(args, "margins", None) if margins is None else margins
    return RegionSettings(tuple(parse_margins(chosen)), args.exclude_below, args.components)


def exclusion_files(items: Sequence[str], places: Sequence[str]) -> dict[str | None, list[str]]:
    """``--exclude-mask [WHERE=]FILE`` items by place (None: every scan); ``places`` are the views and
    timepoints a WHERE may name. Checked before any image is read."""
    chosen: dict[str | None, list[str]] = {}
    for item in items:
        where, separator, path = item.partition("=")
        if not separator or not _PLACE.match(where) or Path(item).exists():
            where, path = None, item
        elif where not in places:
            raise InputError(f"--exclude-mask {item}: '{where}' is not a view or timepoint of this case; choose "
                             f"{', '.join(places) or 'none (give the file alone)'}.")
        if not path:
            raise InputError(f"--exclude-mask {item}: give a mask file.")
        chosen.setdefault(where, []).append(path)
    return chosen
