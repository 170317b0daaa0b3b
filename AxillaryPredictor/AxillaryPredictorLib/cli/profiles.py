"""``axillary-predictor profiles``: the shipped extraction profiles with their feature counts
against the papers' (docs/extraction.md, "Feature counts against the papers")."""

from __future__ import annotations

import argparse
import json
from typing import Any

COLUMNS = ("profile", "modality", "features per region", "paper's count", "difference", "note")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--details", action="store_true",
                        help="print one JSON object per profile (name, version, modality, sha256, description, "
                             "feature_count, paper) instead of the table")
    parser.add_argument("--names", action="store_true", help="print the profile names only, one per line")


def profile_row(profile: Any) -> tuple[str, ...]:
    """The table row of one profile: counts per region (per view when the paper counts views)."""
    paper = profile.paper
    views = paper["views"] if paper else 1
    ours = "-" if profile.feature_count is None else f"{profile.feature_count}{' per view' if views > 1 else ''}"
    if not paper:
        return profile.name, profile.modality, ours, "-", "-", ""
    theirs = f"{paper['feature_count']}" + (f" over {views} views (ours: {profile.feature_count * views})"
                                            if views > 1 else "")
    difference = f"{paper['difference']:+d}" if paper["difference"] else "0"
    return profile.name, profile.modality, ours, theirs, difference, paper["note"]


def format_table(rows: list[tuple[str, ...]]) -> str:
    """Left-aligned columns; the last (the note) is not padded."""
    table = [COLUMNS, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS) - 1)]
    return "\n".join("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
                     for row in table)


def run(args: argparse.Namespace) -> int:
    from AxillaryPredictorLib.extraction.profiles import list_profiles, load_profile

    names = list_profiles()
    if args.names:
        print("\n".join(names))
        return 0
    profiles = [load_profile(name) for name in names]
    if args.details:
        for profile in profiles:
            print(json.dumps({"name": profile.name, "version": profile.version, "modality": profile.modality,
                              "sha256": profile.hash, "description": profile.description,
                              "feature_count": profile.feature_count, "paper": profile.paper}))
        return 0
    print(format_table([profile_row(profile) for profile in profiles]))
    return 0
