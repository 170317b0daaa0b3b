"""Cohort manifests: one CSV row per (case, view, timepoint) image with its mask.

Columns: ``case_id``, ``view``, ``timepoint`` (optional: ``baseline`` / ``ontreatment``),
``image`` (file or DICOM series folder), ``mask`` (labelmap NRRD/NIfTI, ``.seg.nrrd`` or DICOM
SEG file), optional ``segment`` / ``label`` (which segment or label of the mask is the tumor),
optional ``node_mask`` (+ ``node_segment`` / ``node_label``: the axillary lymph node ROI, for
models with a ``node`` region), optional ``laterality`` / ``modality`` (must agree between the
two timepoints of a delta case), optional ``exclude_mask`` (files the margins may not enter, e.g.
chest wall or skin, ';'-separated, on the image's grid) and ``exclude_segment`` (segments of the
row's mask file the margins may not enter, ';'-separated),
and any clinical, outcome, ``split`` and ``center`` columns (carried through to outputs).
Relative paths are relative to the manifest's folder.

Validation happens up front, before any heavy work, and reports every problem with its
row number: missing files, unreadable images, duplicate rows, image/mask geometry
mismatch, bad timepoints. A cohort run records the cases with problems as failed (step
``validate``) and processes the others, unless asked to be strict.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from AxillaryPredictorLib.errors import InputError, InputFileNotFoundError

REQUIRED_COLUMNS = ("case_id", "image", "mask")
RESERVED_COLUMNS = ("case_id", "view", "timepoint", "image", "mask", "segment", "label",
                    "node_mask", "node_segment", "node_label", "laterality", "modality", "exclude_mask",
                    "exclude_segment")
TIMEPOINTS = ("baseline", "ontreatment")


@dataclass(frozen=True)
class ManifestRow:
    """One image of a case, with resolved paths."""

    row: int  # 1-based row number in the CSV (header = row 0)
    case_id: str
    view: str
    timepoint: str | None
    image: Path
    mask: Path
    segment: str | None = None
    label: int | None = None
    node_mask: Path | None = None  # axillary lymph node ROI (region ``node``)
    node_segment: str | None = None
    node_label: int | None = None
    laterality: str | None = None  # checked to agree between the timepoints of a delta case
    modality: str | None = None
    exclude_masks: tuple[Path, ...] = ()  # masks the margins may not enter (chest wall, skin)
    exclude_segments: tuple[str, ...] = ()  # segments of ``mask`` the margins may not enter


@dataclass(frozen=True)
class CaseEntry:
    """All rows of one case plus its non-image columns (clinical, outcome, split ...)."""

    case_id: str
    rows: tuple[ManifestRow, ...]
    extra: dict[str, object] = field(default_factory=dict)
    records: tuple[dict[str, str], ...] = ()  # every cell of the case's rows, as written in the manifest


@dataclass
class Manifest:
    """A validated manifest: its cases in file order and the problems found."""

    path: Path
    table: pd.DataFrame
    cases: list[CaseEntry]
    errors: list[str]
    case_errors: dict[str, list[str]] = field(default_factory=dict)  # the problems that belong to one case

    def raise_if_invalid(self, *, strict: bool = True) -> None:
        """Refuse the manifest when it has problems (``strict``) or problems that belong to no case."""
        attributed = sum(len(v) for v in self.case_errors.values())
        if self.errors and (strict or attributed < len(self.errors)):
            listing = "\n".join(f"  - {e}" for e in self.errors)
            raise InputError(f"The manifest {self.path} has {len(self.errors)} problem(s):\n{listing}")


def _geometry(path: Path) -> tuple | None:
    import SimpleITK as sitk

    if path.is_dir():
        return None  # DICOM series: geometry is checked when the series is read
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return reader.GetSize(), reader.GetSpacing(), reader.GetOrigin(), reader.GetDirection()


def _same_geometry(a: tuple, b: tuple, tolerance: float = 1e-4) -> str | None:
    names = ("size", "spacing", "origin", "direction")
    for name, x, y in zip(names, a, b, strict=True):
        if len(x) != len(y) or any(abs(float(u) - float(v)) > tolerance for u, v in zip(x, y, strict=True)):
            return f"{name} {tuple(round(float(v), 4) for v in x)} vs {tuple(round(float(v), 4) for v in y)}"
    return None


def load_manifest(path: str | Path, *, check_images: bool = True, require_timepoints: bool = False) -> Manifest:
    """Read and validate a manifest; problems are collected in ``Manifest.errors``."""
    path = Path(path)
    table = _read_table(path)
    problems = _Problems()
    rows = _parse_rows(table, path.parent, problems, check_images=check_images,
                       require_timepoints=require_timepoints)
    cases = _group_cases(rows, table)
    if require_timepoints:
        for entry in cases:
            if not set(TIMEPOINTS) <= {r.timepoint for r in entry.rows}:
                problems.add(entry.case_id, f"case {entry.case_id}: needs both a baseline and an ontreatment row")
    return Manifest(path=path, table=table, cases=cases, errors=problems.errors, case_errors=problems.case_errors)


def _read_table(path: Path) -> pd.DataFrame:
    """The manifest's cells as text, with the required columns (and ``view``, empty when absent)."""
    if not path.is_file():
        raise InputFileNotFoundError(f"No manifest at {path}.")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError(f"The manifest {path} is empty: it needs a header row ({', '.join(REQUIRED_COLUMNS)}, "
                         "...) and one row per image.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"The manifest {path} is not a readable CSV file ({first_line}); save it as CSV "
                         "(UTF-8, comma-separated) with a header row.") from None
    missing_columns = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing_columns:
        raise InputError(f"The manifest {path} lacks the column(s) {', '.join(missing_columns)}; "
                         f"required: {', '.join(REQUIRED_COLUMNS)}.")
    if "view" not in table.columns:
        table["view"] = ""
    return table


@dataclass
class _Problems:
    """The problems found, and those that belong to one case."""

    errors: list[str] = field(default_factory=list)
    case_errors: dict[str, list[str]] = field(default_factory=dict)

    def add(self, case_id: str, message: str) -> None:
        self.errors.append(message)
        self.case_errors.setdefault(case_id, []).append(message)


def _parse_rows(table: pd.DataFrame, base: Path, problems: _Problems, *, check_images: bool,
                require_timepoints: bool) -> list[ManifestRow]:
    """The rows with a case_id and no duplicate key, with their problems recorded."""
    rows: list[ManifestRow] = []
    seen: dict[tuple, int] = {}
    for index, record in table.iterrows():
        number = int(index) + 1
        case_id = record["case_id"].strip()
        if not case_id:
            problems.errors.append(f"row {number}: empty case_id")
            continue
        timepoint = record.get("timepoint", "").strip() or None
        if timepoint is not None and timepoint not in TIMEPOINTS:
            problems.add(case_id, f"row {number} ({case_id}): timepoint '{timepoint}' is not one of "
                                  f"{', '.join(TIMEPOINTS)}")
        if require_timepoints and timepoint is None:
            problems.add(case_id, f"row {number} ({case_id}): a delta run needs a timepoint (baseline/ontreatment)")
        key = (case_id, record["view"].strip(), timepoint)
        if key in seen:
            problems.add(case_id, f"row {number} ({case_id}): duplicate of row {seen[key]} (same case_id, view, "
                                  "timepoint)")
            continue
        seen[key] = number
        row, row_problems = _parse_row(number, case_id, timepoint, record, base)
        row_problems += _check_files(row) if check_images else []
        for problem in row_problems:
            problems.add(case_id, f"row {number} ({case_id}): {problem}")
        rows.append(row)
    return rows


def _parse_row(number: int, case_id: str, timepoint: str | None, record: pd.Series,
               base: Path) -> tuple[ManifestRow, list[str]]:
    """One row with its paths resolved against the manifest's folder, and its format problems."""
    def text(column: str) -> str | None:
        return record.get(column, "").strip() or None

    problems: list[str] = []
    label, node_label = (_integer(record, column, problems) for column in ("label", "node_label"))
    node_text = text("node_mask")
    row = ManifestRow(number, case_id, record["view"].strip(), timepoint, base / record["image"].strip(),
                      base / record["mask"].strip(), text("segment"), label,
                      base / node_text if node_text else None, text("node_segment"), node_label,
                      text("laterality"), text("modality"),
                      tuple(base / part for part in _parts(record, "exclude_mask")),
                      tuple(_parts(record, "exclude_segment")))
    return row, problems


def _parts(record: pd.Series, column: str) -> list[str]:
    """The ';'-separated entries of a cell (none when the column is absent or blank)."""
    return [part.strip() for part in record.get(column, "").split(";") if part.strip()]


def _group_cases(rows: list[ManifestRow], table: pd.DataFrame) -> list[CaseEntry]:
    """The cases in file order: their rows, their first row's non-image columns, and every cell of
    every row (``records``, what the resume fingerprint covers)."""
    extra_columns = [c for c in table.columns if c not in RESERVED_COLUMNS]
    cases: dict[str, CaseEntry] = {}
    for row in rows:
        record = {str(column): str(value) for column, value in table.iloc[row.row - 1].items()}
        entry = cases.get(row.case_id) or CaseEntry(row.case_id, (), {c: record[c] for c in extra_columns})
        cases[row.case_id] = CaseEntry(entry.case_id, (*entry.rows, row), entry.extra, (*entry.records, record))
    return list(cases.values())


def _integer(record: pd.Series, column: str, problems: list[str]) -> int | None:
    text = record.get(column, "").strip()
    try:
        return int(text) if text else None
    except ValueError:
        problems.append(f"{column} '{text}' is not an integer")
        return None


def _check_files(row: ManifestRow) -> list[str]:
    masks = [("mask", row.mask, row.segment, row.label)]
    if row.node_mask is not None:
        masks.append(("node_mask", row.node_mask, row.node_segment, row.node_label))
    masks += [("exclude_mask", file, None, None) for file in row.exclude_masks]
    problems = [f"{role} file not found: {file}" for role, file in (("image", row.image), *[m[:2] for m in masks])
                if not file.exists()]
    if problems:
        return problems
    try:
        image_geometry = _geometry(row.image)
    except RuntimeError as error:
        return [f"image {row.image} is unreadable: {str(error).splitlines()[0][:200]}"]
    for role, file, segment, label in masks:
        problem = _check_mask(role, file, segment, label, image_geometry)
        if problem:
            problems.append(problem)
    return problems + _check_excluded_segments(row)


def _check_excluded_segments(row: ManifestRow) -> list[str]:
    """Each ``exclude_segment`` is a segment of the row's .seg.nrrd or DICOM SEG mask."""
    from AxillaryPredictorLib.imaging.dicom_seg import choose_segment, is_dicom_seg
    from AxillaryPredictorLib.imaging.io import segment_names

    if not row.exclude_segments:
        return []
    if row.mask.name.endswith(".seg.nrrd"):
        present = segment_names(row.mask)
        return [f"exclude_segment '{name}' is not a segment of {row.mask.name} (segments: "
                f"{', '.join(present) or 'none'})" for name in row.exclude_segments if name not in present]
    if is_dicom_seg(row.mask):
        problems = []
        for name in row.exclude_segments:
            try:
                choose_segment(row.mask, name, None)
            except (ValueError, AttributeError) as error:
                problems.append(f"exclude_segment '{name}': {error}")
        return problems
    return [f"exclude_segment needs a .seg.nrrd or DICOM SEG mask with named segments; {row.mask.name} is a labelmap "
            "(give the structure as its own file in the exclude_mask column)"]


def _check_mask(role: str, file: Path, segment: str | None, label: int | None, image_geometry: tuple | None) -> str:
    """Readable, with the named segment (DICOM SEG), on the image's grid (labelmaps); '' when fine."""
    from AxillaryPredictorLib.imaging.dicom_seg import choose_segment, is_dicom_seg

    if is_dicom_seg(file):  # segments are placed on the image's grid when read
        try:
            choose_segment(file, segment, label)
        except (ValueError, AttributeError) as error:
            return f"{role} {file.name}: {error}"
        return ""
    try:
        mask_geometry = _geometry(file)
    except RuntimeError as error:
        return f"{role} {file} is unreadable: {str(error).splitlines()[0][:200]}"
    if image_geometry and mask_geometry and not file.name.endswith(".seg.nrrd"):
        difference = _same_geometry(image_geometry, mask_geometry)
        if difference:
            return f"image and {role} grids differ ({difference})"
    return ""


def file_digest(path: Path) -> str:
    """SHA-256 of a file, or of every file (sorted by name) of a DICOM folder."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(file.name.encode())
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def case_fingerprint(case: CaseEntry, settings: str) -> str:
    """Hash of everything a case's result depends on: the run settings, every cell of the case's
    manifest rows (clinical values included: an edited or blanked value is a change) and its input
    files' contents. Unchanged -> ``--resume`` skips the case."""
    digest = hashlib.sha256(settings.encode())
    digest.update(json.dumps([case.records, case.extra], sort_keys=True, default=str).encode())
    for row in case.rows:
        digest.update(f"{row.view}|{row.timepoint}|{row.segment}|{row.label}|{row.node_segment}|{row.node_label}"
                      .encode())
        for file in (row.image, row.mask, row.node_mask, *row.exclude_masks):
            digest.update(file_digest(file).encode() if file is not None else b"-")
    return digest.hexdigest()
