"""Feature tables: the column scheme ``<region>__<view>__<feature>`` and the feature-set files
(``features.csv``, its provenance sidecar ``features.csv.json`` and ``features.diagnostics.csv``),
written all or none."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from AxillaryPredictorLib.errors import RegionError

if TYPE_CHECKING:
    import SimpleITK as sitk

    from AxillaryPredictorLib.extraction.engine import ExtractionResult


def column_name(region: str, view: str, feature: str) -> str:
    """``<region>__<view>__<feature>`` — the one place that knows the column scheme."""
    return f"{region}__{view}__{feature}"


def split_column(column: str) -> tuple[str, str, str]:
    region, view, feature = column.split("__", 2)
    return region, view, feature


def select_regions(available: Mapping[str, sitk.Image], wanted: list[str] | None) -> dict[str, sitk.Image]:
    """The regions asked for (default: all), with a clear error for unknown names."""
    if not wanted:
        return dict(available)
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise RegionError(f"Unknown region(s) {', '.join(unknown)}; built regions: {', '.join(available)}.")
    return {name: available[name] for name in wanted}


def output_paths(path: str | Path) -> dict[str, Path]:
    """The files ``write_features`` writes for the table ``path`` (e.g. ``features.csv``): the table,
    its provenance sidecar ``features.csv.json`` and the diagnostics table ``features.diagnostics.csv``."""
    path = Path(path)
    return {"features": path, "sidecar": Path(f"{path}.json"),
            "diagnostics": path.with_name(f"{path.stem}.diagnostics.csv")}


def discard_outputs(path: str | Path) -> None:
    """Remove the output set of ``path`` (after a failed run: no stale set from an earlier run stays)."""
    from AxillaryPredictorLib.files import remove_files

    remove_files(list(output_paths(path).values()))


DIAGNOSTICS_COLUMNS = ("case_id", "view", "region", "voxels", "extracted", "nan_features", "warnings")


def diagnostics_frame(results: list[ExtractionResult]) -> pd.DataFrame:
    """One row per (case, view, region): voxels on the shared grid, extracted yes/no, NaN features and
    that region's warnings (joined by `` | ``); plus one row per case with case-level warnings (view
    and region empty), e.g. those of the region building."""
    rows = []
    for result in results:
        attached = set()
        for entry in result.diagnostics:
            warnings = list(entry.get("warnings", []))
            attached.update(warnings)
            rows.append({"case_id": result.case_id, "view": entry["view"], "region": entry["region"],
                         "voxels": entry["voxels"], "extracted": "yes" if entry["extracted"] else "no",
                         "nan_features": entry.get("nan_features", ""), "warnings": " | ".join(warnings)})
        case_level = [w for w in result.warnings if w not in attached]
        if case_level:
            rows.append({"case_id": result.case_id, "view": "", "region": "", "voxels": "", "extracted": "",
                         "nan_features": "", "warnings": " | ".join(case_level)})
    return pd.DataFrame(rows, columns=list(DIAGNOSTICS_COLUMNS))


def write_features(results: list[ExtractionResult], path: str | Path) -> Path:
    """Write the feature table, its provenance sidecar ``<table>.json`` and the diagnostics table
    ``<stem>.diagnostics.csv`` as one set (``io.write_texts_atomic``): all go to temporary files
    first and are renamed only when all are written, the feature table last; the sidecar records the
    SHA-256 of the two tables. If anything fails, no file of the set is left — neither a partial one
    nor the previous run's — and the error is raised."""
    import hashlib
    import json

    from AxillaryPredictorLib.files import csv_text, write_texts_atomic

    paths = output_paths(path)
    try:  # csv_text: a case ID or warning that looks like a formula is neutralised for spreadsheets
        table = csv_text(pd.concat([r.frame() for r in results], ignore_index=True))
        diagnostics = csv_text(diagnostics_frame(results))
        sidecar = {"cases": [r.case_id for r in results], "provenance": results[0].provenance if results else {},
                   "warnings": [w for r in results for w in r.warnings],
                   "diagnostics": [d for r in results for d in r.diagnostics],
                   "files": {paths[key].name: hashlib.sha256(text.encode("utf-8")).hexdigest()
                             for key, text in (("features", table), ("diagnostics", diagnostics))}}
        write_texts_atomic([(paths["sidecar"], json.dumps(sidecar, indent=2, default=str)),
                            (paths["diagnostics"], diagnostics), (paths["features"], table)])
    except BaseException:
        discard_outputs(path)
        raise
    return paths["features"]
