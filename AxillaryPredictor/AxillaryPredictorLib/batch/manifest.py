"""Cohort manifests: one CSV row per (case, view, timepoint) image with its mask.

Columns: ``case_id``, ``view``, ``timepoint`` (optional: ``baseline`` / ``ontreatment``),
``image`` (file or DICOM series folder), ``mask`` (labelmap NRRD/NIfTI, ``.seg.nrrd`` or DICOM
SEG file), optional ``segment`` / ``label`` (which segment or label of the mask is the tumor),
optional ``node_mask`` (+ ``node_segment`` / ``node_label``: the axillary lymph node ROI, for
models with a ``node`` region), optional ``laterality`` / ``modality`` (must agree between the
two timepoints of a delta case),
and any clinical, outcome, ``split`` and ``center`` columns (carried through to outputs).
Relative paths are relative to the manifest's folder.

Validation happens up front, before any heavy work, and reports every problem with its
row number: missing files, unreadable images, duplicate rows, image/mask geometry
mismatch, bad timepoints. A cohort run records the cases with problems as failed (step
``validate``) and processes the others, unless asked to be strict.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from AxillaryPredictorLib.errors import InputError, InputFileNotFoundError

REQUIRED_COLUMNS = ("case_id", "image", "mask")
RESERVED_COLUMNS = ("case_id", "view", "timepoint", "image", "mask", "segment", "label",
                    "node_mask", "node_segment", "node_label", "laterality", "modality")
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


@dataclass(frozen=True)
class CaseEntry:
    """All rows of one case plus its non-image columns (clinical, outcome, split ...)."""

    case_id: str
    rows: tuple[ManifestRow, ...]
    extra: dict[str, object] = field(default_factory=dict)


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
    if not path.is_file():
        raise InputFileNotFoundError(f"No manifest at {path}.")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing_columns = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing_columns:
        raise InputError(f"The manifest {path} lacks the column(s) {', '.join(missing_columns)}; "
                         f"required: {', '.join(REQUIRED_COLUMNS)}.")
    if "view" not in table.columns:
        table["view"] = ""
    base = path.parent
    errors: list[str] = []
    case_errors: dict[str, list[str]] = {}

    def add(case_id: str, message: str) -> None:
        errors.append(message)
        case_errors.setdefault(case_id, []).append(message)

    rows: list[ManifestRow] = []
    seen: dict[tuple, int] = {}
    for index, record in table.iterrows():
        number = int(index) + 1
        case_id = record["case_id"].strip()
        if not case_id:
            errors.append(f"row {number}: empty case_id")
            continue
        timepoint = record.get("timepoint", "").strip() or None
        if timepoint is not None and timepoint not in TIMEPOINTS:
            add(case_id, f"row {number} ({case_id}): timepoint '{timepoint}' is not one of {', '.join(TIMEPOINTS)}")
        if require_timepoints and timepoint is None:
            add(case_id, f"row {number} ({case_id}): a delta run needs a timepoint (baseline/ontreatment)")
        key = (case_id, record["view"].strip(), timepoint)
        if key in seen:
            add(case_id, f"row {number} ({case_id}): duplicate of row {seen[key]} (same case_id, view, timepoint)")
            continue
        seen[key] = number
        image, mask = base / record["image"].strip(), base / record["mask"].strip()
        problems: list[str] = []
        label, node_label = (_integer(record, column, problems) for column in ("label", "node_label"))
        node_text = record.get("node_mask", "").strip()
        row = ManifestRow(number, case_id, record["view"].strip(), timepoint, image, mask,
                          record.get("segment", "").strip() or None, label,
                          base / node_text if node_text else None, record.get("node_segment", "").strip() or None,
                          node_label, record.get("laterality", "").strip() or None,
                          record.get("modality", "").strip() or None)
        problems += _check_files(row) if check_images else []
        for problem in problems:
            add(case_id, f"row {number} ({case_id}): {problem}")
        rows.append(row)
    extra_columns = [c for c in table.columns if c not in RESERVED_COLUMNS]
    cases: dict[str, CaseEntry] = {}
    for row in rows:
        if row.case_id not in cases:
            first = table.iloc[row.row - 1]
            cases[row.case_id] = CaseEntry(row.case_id, (), {c: first[c] for c in extra_columns})
        entry = cases[row.case_id]
        cases[row.case_id] = CaseEntry(entry.case_id, (*entry.rows, row), entry.extra)
    if require_timepoints:
        for entry in cases.values():
            have = {r.timepoint for r in entry.rows}
            if not set(TIMEPOINTS) <= have:
                add(entry.case_id, f"case {entry.case_id}: needs both a baseline and an ontreatment row")
    return Manifest(path=path, table=table, cases=list(cases.values()), errors=errors, case_errors=case_errors)


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
    return problems


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
    """Hash of a case's input files and the run settings: unchanged -> ``--resume`` skips it."""
    digest = hashlib.sha256(settings.encode())
    for row in case.rows:
        digest.update(f"{row.view}|{row.timepoint}|{row.segment}|{row.label}|{row.node_segment}|{row.node_label}"
                      .encode())
        for file in (row.image, row.mask, row.node_mask):
            digest.update(file_digest(file).encode() if file is not None else b"-")
    return digest.hexdigest()
