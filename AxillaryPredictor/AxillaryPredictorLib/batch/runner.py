"""Cohort batch runs: one independent job per case, isolated failures, resume, parallelism.

``run_cohort(manifest, worker, out_dir, ...)`` calls ``worker(case) -> dict`` (a row of
results) for every case of a validated manifest:

- each case's result is written atomically to ``out_dir/cases/<case>.json`` (temporary
  file + rename) together with a fingerprint of its manifest rows, input files and the run
  settings; ``<case>`` is the case ID when it is a safe file name, else the ID made safe plus a
  short hash of the ID, so different IDs never share a file (``case_file_names``);
  a failure goes to ``out_dir/cases/<case>.error.json`` and to ``out_dir/errors.csv``
  (``case_id, step, message``) and the run goes on;
- ``resume=True`` skips cases whose fingerprint is unchanged and that succeeded before;
- when every case has been tried, the rows are merged in manifest order into
  ``out_dir/<output_name>`` (again atomically), so a killed run never leaves a partial
  or corrupt result file — rerun with ``resume=True`` to finish it. A worker that returns a
  ``CaseOutput`` also gives its warnings and diagnostics rows: they go to
  ``out_dir/diagnostics.csv`` and the summary names the cases with warnings; its ``record`` (how the
  case's regions were grown) goes to the run's sidecar ``out_dir/<output_name>.json`` when the run
  has one (``sidecar``). When no case
  succeeded, the previous run's merged files are removed (and named in the summary), so they
  cannot be taken for this run's results;
- every CSV is written with formula-like text cells neutralised (``files.csv_text``);
- parallelism is over cases: local processes (``workers``, default = cores) or a Dask
  distributed cluster (``scheduler="tcp://host:port"``, or a ``distributed.Client``).
"""

from __future__ import annotations

import hashlib
import json
import numbers
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from AxillaryPredictorLib.batch.allocator import case_allocator
from AxillaryPredictorLib.batch.manifest import CaseEntry, Manifest, case_fingerprint
from AxillaryPredictorLib.errors import AxillaryPredictorError, InputError
from AxillaryPredictorLib.files import csv_text, remove_files
from AxillaryPredictorLib.files import write_text_atomic as write_atomic

ProgressCallback = Callable[[int, int, int, float | None], None]  # done, failed, total, eta seconds

DIAGNOSTICS_NAME = "diagnostics.csv"
CASES_NAME = "cases.csv"


class CaseError(AxillaryPredictorError):
    """A case could not be processed; ``step`` names the stage (read, regions, extract ...)."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step

    def __reduce__(self) -> tuple:  # pickled back from worker processes with both arguments
        return type(self), (self.step, str(self))


@dataclass
class CaseOutput:
    """What a worker returns when it has more than a row: the case's ``warnings`` and its
    ``diagnostics`` rows (columns ``extraction.tables.DIAGNOSTICS_COLUMNS``)."""

    row: dict
    warnings: list[str] = field(default_factory=list)
    diagnostics: list[dict] = field(default_factory=list)
    record: dict = field(default_factory=dict)  # JSON-ready; e.g. the case's region settings and excluded masks


@dataclass
class CohortSummary:
    """What a run did; ``ok`` is False when any case failed."""

    total: int
    done: int = 0
    skipped: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (case_id, step, message)
    output: Path | None = None
    seconds: float = 0.0
    warned: list[str] = field(default_factory=list)  # merged cases with warnings, manifest order
    diagnostics: Path | None = None
    removed: list[Path] = field(default_factory=list)  # earlier results removed because no case succeeded

    @property
    def ok(self) -> bool:
        return not self.failed

    def describe(self) -> str:
        text = (f"{self.total} cases: {self.done} processed, {self.skipped} unchanged (resumed), "
                f"{len(self.failed)} failed in {self.seconds:.1f} s.")
        if self.failed:
            text += " Failed: " + _listing(f"{c} ({s})" for c, s, _ in self.failed)
        if self.warned:
            text += (f" Warnings in {len(self.warned)} case(s): {_listing(self.warned)} (see "
                     f"{self.diagnostics.name if self.diagnostics else 'the results'}).")
        if self.removed:
            text += (" No case succeeded: removed the previous run's " + ", ".join(p.name for p in self.removed)
                     + " so they are not taken for this run's results.")
        return text


def _listing(items: Any, limit: int = 10) -> str:
    items = list(items)
    return ", ".join(items[:limit]) + (" ..." if len(items) > limit else "")


def write_csv_atomic(frame: pd.DataFrame, path: Path) -> None:
    """``frame`` as CSV (formula-like text neutralised, ``files.csv_text``), written atomically."""
    write_atomic(path, csv_text(frame))


def case_file_names(case_ids: list[str]) -> dict[str, str]:
    """The file name stem of each case's result in ``cases/``, unique per case: the ID itself when
    it is a safe file name (letters, digits, ``-_.``; not only dots; at most 100 characters),
    else the ID made safe plus ``~`` and a hash of the ID (``a b`` -> ``a_b~…``, ``a/b`` ->
    ``a_b~…``; a safe ID never holds ``~``). IDs that differ only in upper/lower case are hashed
    too: on case-insensitive file systems (macOS, Windows) they would share a file."""
    def safe(c: str) -> bool:
        return c.isascii() and (c.isalnum() or c in "-_.")

    def hashed(case_id: str) -> str:
        stem = "".join(c if safe(c) else "_" for c in case_id)[:100]
        return f"{stem}~{hashlib.sha256(case_id.encode('utf-8')).hexdigest()[:12]}"

    def plain(case_id: str) -> bool:
        return len(case_id) <= 100 and set(case_id) != {"."} and all(safe(c) for c in case_id)

    folded: dict[str, int] = {}
    for case_id in case_ids:
        folded[case_id.casefold()] = folded.get(case_id.casefold(), 0) + 1
    return {case_id: case_id if plain(case_id) and folded[case_id.casefold()] == 1 else hashed(case_id)
            for case_id in case_ids}


@dataclass
class _CaseFiles:
    """Where each case's result and error files are (``case_file_names``)."""

    folder: Path
    names: dict[str, str]

    def result(self, case_id: str) -> Path:
        return self.folder / f"{self.names[case_id]}.json"

    def error(self, case_id: str) -> Path:
        return self.folder / f"{self.names[case_id]}.error.json"


def _run_one(worker: Callable[[CaseEntry], dict | CaseOutput],
             case: CaseEntry) -> tuple[str, dict | None, tuple | None, float]:
    """Run ``worker`` on a case in a worker process; never raises. Returns the case ID, its result
    (``row``, and ``warnings`` and ``diagnostics`` when the worker gives them) or its error (step,
    message), and the seconds taken. The allocator is set for array-heavy work while it runs (Dask
    workers otherwise page-fault ~15% of the time away)."""
    start = time.perf_counter()
    try:
        with case_allocator():
            output = worker(case)
        if isinstance(output, CaseOutput):
            result = {"row": dict(output.row), "warnings": list(output.warnings),
                      "diagnostics": [dict(d) for d in output.diagnostics],
                      **({"record": dict(output.record)} if output.record else {})}
        else:
            result = {"row": dict(output)}
        return case.case_id, result, None, time.perf_counter() - start
    except AxillaryPredictorError as failure:  # a CaseError, or a library error at its step
        return case.case_id, None, (failure.step, str(failure)), time.perf_counter() - start
    except Exception as error:  # a bug; one broken case must not stop the cohort
        message = f"{type(error).__name__}: {error}".replace("\n", " ")
        return case.case_id, None, ("run", message), time.perf_counter() - start


def _print_progress(done: int, failed: int, total: int, eta: float | None) -> None:
    width = 30
    filled = int(width * (done + failed) / max(total, 1))
    eta_text = f" ETA {eta / 60:.1f} min" if eta is not None else ""
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done + failed}/{total} "
                     f"done {done} failed {failed}{eta_text}   ")
    sys.stderr.flush()
    if done + failed == total:
        sys.stderr.write("\n")


def run_cohort(
    manifest: Manifest,
    worker: Callable[[CaseEntry], dict | CaseOutput],
    out_dir: str | Path,
    *,
    settings: str,
    output_name: str = "results.csv",
    workers: int | None = None,
    scheduler: Any = None,
    resume: bool = False,
    progress: ProgressCallback | None = _print_progress,
    strict: bool = False,
    sidecar: Callable[[dict[str, dict]], dict] | None = None,
) -> CohortSummary:
    """Process every case of ``manifest`` with ``worker`` (a picklable module-level callable).

    ``settings`` is a string that identifies the run's settings (profile hash, model hash,
    options); with the input files' hashes it forms each case's fingerprint. Cases with
    manifest problems are recorded as failed (step ``validate``) without running; with
    ``strict`` any problem stops the run before it starts. ``sidecar(records)`` (records: the
    ``CaseOutput.record`` of every merged case, by case ID) gives the JSON document written beside
    the merged table as ``<output_name>.json``: the run's provenance.
    """
    check_workers(workers)
    manifest.raise_if_invalid(strict=strict)
    out_dir = Path(out_dir)
    (out_dir / "cases").mkdir(parents=True, exist_ok=True)
    for stale in (out_dir / "cases").glob(".*.tmp"):
        stale.unlink(missing_ok=True)  # left by a killed run
    start = time.perf_counter()
    summary = CohortSummary(total=len(manifest.cases))
    files = _CaseFiles(out_dir / "cases", case_file_names([case.case_id for case in manifest.cases]))
    invalid = manifest.case_errors
    fingerprints = {case.case_id: "invalid" if case.case_id in invalid else case_fingerprint(case, settings)
                    for case in manifest.cases}
    pending = _pending_cases(manifest, files, fingerprints, resume, summary)
    record = _Recorder(files, fingerprints, summary, progress, workers)
    for case in manifest.cases:
        if case.case_id in invalid:
            record(case.case_id, None, ("validate", "; ".join(invalid[case.case_id])), 0.0)
    _dispatch(pending, worker, workers, scheduler, record)

    order = {case.case_id: index for index, case in enumerate(manifest.cases)}
    summary.failed.sort(key=lambda item: order[item[0]])
    errors = pd.DataFrame(summary.failed, columns=["case_id", "step", "message"])
    write_csv_atomic(errors, out_dir / "errors.csv")
    _merge(manifest, files, output_name, fingerprints, summary, sidecar)
    summary.seconds = time.perf_counter() - start
    return summary


def check_workers(workers: int | None) -> None:
    """Refuse a number of worker processes below 1 (0 would otherwise silently mean every core)."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise InputError(f"--workers must be a whole number of processes, 1 or more (got {workers!r}); "
                         "leave it out to use one per core.")


def _pending_cases(manifest: Manifest, files: _CaseFiles, fingerprints: dict[str, str], resume: bool,
                   summary: CohortSummary) -> list[CaseEntry]:
    """The valid cases to run: all, or with ``resume`` those whose stored result has another
    fingerprint (the others count as skipped)."""
    pending: list[CaseEntry] = []
    for case in manifest.cases:
        if case.case_id in manifest.case_errors:
            continue
        result_file = files.result(case.case_id)
        if resume and result_file.is_file():
            stored = json.loads(result_file.read_text(encoding="utf-8"))
            if stored.get("case_id") == case.case_id and stored.get("fingerprint") == fingerprints[case.case_id]:
                summary.skipped += 1
                continue
        pending.append(case)
    return pending


class _Recorder:
    """Stores each finished case (result or error file), updates the summary and reports progress."""

    def __init__(self, files: _CaseFiles, fingerprints: dict[str, str], summary: CohortSummary,
                 progress: ProgressCallback | None, workers: int | None) -> None:
        self.files, self.fingerprints, self.summary = files, fingerprints, summary
        self.progress, self.workers = progress, workers
        self.finished = summary.skipped
        self.times: list[float] = []

    def __call__(self, case_id: str, result: dict | None, error: tuple | None, seconds: float) -> None:
        self.finished += 1
        if seconds:
            self.times.append(seconds)
        fingerprint = self.fingerprints[case_id]
        summary = self.summary
        if error is None:
            write_atomic(self.files.result(case_id),
                         json.dumps({"case_id": case_id, "fingerprint": fingerprint, "seconds": seconds,
                                     **(result or {})}, default=_json_default))
            self.files.error(case_id).unlink(missing_ok=True)
            summary.done += 1
        else:
            step, message = error
            self.files.result(case_id).unlink(missing_ok=True)
            write_atomic(self.files.error(case_id),
                         json.dumps({"case_id": case_id, "fingerprint": fingerprint, "step": step,
                                     "message": message}))
            summary.failed.append((case_id, step, message))
        if self.progress is not None:
            remaining = summary.total - self.finished
            parallel = max(1, self.workers or os.cpu_count() or 1)
            eta = (sum(self.times) / len(self.times)) * remaining / parallel if self.times else None
            self.progress(summary.done + summary.skipped, len(summary.failed), summary.total, eta)


def _dispatch(pending: list[CaseEntry], worker: Callable, workers: int | None, scheduler: Any,
              record: Callable) -> None:
    """Run the pending cases on Dask, in this process, or in local worker processes."""
    if scheduler is not None:
        _run_dask(pending, worker, scheduler, record)
    elif (workers or os.cpu_count() or 1) <= 1 or len(pending) <= 1:
        for case in pending:
            record(*_run_one(worker, case))
    else:
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
            futures = [pool.submit(_run_one, worker, case) for case in pending]
            for future in as_completed(futures):
                record(*future.result())


def _run_dask(pending: list[CaseEntry], worker: Callable, scheduler: Any, record: Callable) -> None:
    try:
        from distributed import Client
        from distributed import as_completed as dask_as_completed
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise InputError("--scheduler needs Dask: pip install 'dask[distributed]' on this machine and on "
                         "every worker.") from error
    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        futures = [client.submit(_run_one, worker, case, pure=False) for case in pending]
        for future in dask_as_completed(futures):
            record(*future.result())
    finally:
        if client is not scheduler:
            client.close()


def _stored_results(manifest: Manifest, files: _CaseFiles, fingerprints: dict[str, str]) -> list[dict]:
    """The stored results of this run's succeeded cases (manifest order, current fingerprint)."""
    results = []
    for case in manifest.cases:
        result_file = files.result(case.case_id)
        if not result_file.is_file():
            continue
        stored = json.loads(result_file.read_text(encoding="utf-8"))
        if stored.get("case_id") == case.case_id and stored.get("fingerprint") == fingerprints[case.case_id]:
            results.append(stored)
    return results


def _merge(manifest: Manifest, files: _CaseFiles, output_name: str, fingerprints: dict[str, str],
           summary: CohortSummary, sidecar: Callable[[dict[str, dict]], dict] | None = None) -> None:
    """Merge the stored results of every succeeded case (manifest order) into ``output_name``,
    ``cases.csv`` (the manifest's other columns), ``diagnostics.csv`` (workers that give them) and
    the sidecar ``<output_name>.json`` (``sidecar``). With no succeeded case, the previous run's
    files are removed and listed in the summary."""
    from AxillaryPredictorLib.extraction.tables import DIAGNOSTICS_COLUMNS

    out_dir = files.folder.parent
    results = _stored_results(manifest, files, fingerprints)
    sidecar_path = out_dir / f"{output_name}.json"
    if not results:
        stale = [out_dir / name for name in (output_name, CASES_NAME, DIAGNOSTICS_NAME)] + [sidecar_path]
        summary.removed = [path for path in stale if path.is_file()]
        remove_files(summary.removed)
        return
    rows = [{"case_id": r["case_id"], **{k: v for k, v in r["row"].items() if k != "case_id"}} for r in results]
    summary.output = out_dir / output_name
    write_csv_atomic(pd.DataFrame(rows), summary.output)
    if sidecar is not None:
        document = sidecar({r["case_id"]: r.get("record", {}) for r in results})
        write_atomic(sidecar_path, json.dumps(document, indent=2, default=_json_default))
    else:  # not left from a run with other settings, as if it described this one
        remove_files([sidecar_path])
    clinical = [{"case_id": case.case_id, **case.extra} for case in manifest.cases if case.extra]
    if clinical:
        write_csv_atomic(pd.DataFrame(clinical), out_dir / CASES_NAME)
    else:  # not left from a run of another manifest, as if it belonged to this one
        remove_files([out_dir / CASES_NAME])
    if any("diagnostics" in r for r in results):
        diagnostics = [d for r in results for d in r.get("diagnostics", [])]
        summary.diagnostics = out_dir / DIAGNOSTICS_NAME
        write_csv_atomic(pd.DataFrame(diagnostics, columns=list(DIAGNOSTICS_COLUMNS)), summary.diagnostics)
    summary.warned = [r["case_id"] for r in results if r.get("warnings")]


def merge_results(manifest: Manifest, out_dir: Path, output_name: str,
                  fingerprints: dict[str, str]) -> Path | None:
    """Merge the stored rows of every succeeded case (manifest order) into one CSV; its path, or
    None when no case succeeded (see ``run_cohort``)."""
    summary = CohortSummary(total=len(manifest.cases))
    files = _CaseFiles(Path(out_dir) / "cases", case_file_names([case.case_id for case in manifest.cases]))
    _merge(manifest, files, output_name, fingerprints, summary)
    return summary.output


def _json_default(value: Any) -> Any:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)  # numpy integers (voxel counts) stay integers
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
