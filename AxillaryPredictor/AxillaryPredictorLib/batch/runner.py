"""Cohort batch runs: one independent job per case, isolated failures, resume, parallelism.

``run_cohort(manifest, worker, out_dir, ...)`` calls ``worker(case) -> dict`` (a row of
results) for every case of a validated manifest:

- each case's result is written atomically to ``out_dir/cases/<case>.json`` (temporary
  file + rename) together with a fingerprint of its input files and the run settings;
  a failure goes to ``out_dir/cases/<case>.error.json`` and to ``out_dir/errors.csv``
  (``case_id, step, message``) and the run goes on;
- ``resume=True`` skips cases whose fingerprint is unchanged and that succeeded before;
- when every case has been tried, the rows are merged in manifest order into
  ``out_dir/<output_name>`` (again atomically), so a killed run never leaves a partial
  or corrupt result file — rerun with ``resume=True`` to finish it;
- parallelism is over cases: local processes (``workers``, default = cores) or a Dask
  distributed cluster (``scheduler="tcp://host:port"``, or a ``distributed.Client``).
"""

from __future__ import annotations

import json
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
from AxillaryPredictorLib.files import write_text_atomic as write_atomic

ProgressCallback = Callable[[int, int, int, float | None], None]  # done, failed, total, eta seconds


class CaseError(AxillaryPredictorError):
    """A case could not be processed; ``step`` names the stage (read, regions, extract ...)."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step

    def __reduce__(self) -> tuple:  # pickled back from worker processes with both arguments
        return type(self), (self.step, str(self))


@dataclass
class CohortSummary:
    """What a run did; ``ok`` is False when any case failed."""

    total: int
    done: int = 0
    skipped: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (case_id, step, message)
    output: Path | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def describe(self) -> str:
        text = (f"{self.total} cases: {self.done} processed, {self.skipped} unchanged (resumed), "
                f"{len(self.failed)} failed in {self.seconds:.1f} s.")
        if self.failed:
            text += " Failed: " + ", ".join(f"{c} ({s})" for c, s, _ in self.failed[:10])
            text += " ..." if len(self.failed) > 10 else ""
        return text


def write_csv_atomic(frame: pd.DataFrame, path: Path) -> None:
    write_atomic(path, frame.to_csv(index=False))


def _case_file(out_dir: Path, case_id: str, suffix: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in case_id)
    return out_dir / "cases" / f"{safe}{suffix}"


def _run_one(worker: Callable[[CaseEntry], dict], case: CaseEntry) -> tuple[str, dict | None, tuple | None, float]:
    """Run ``worker`` on a case in a worker process; never raises. The allocator is set for
    array-heavy work while it runs (Dask workers otherwise page-fault ~15% of the time away)."""
    start = time.perf_counter()
    try:
        with case_allocator():
            row = worker(case)
        return case.case_id, dict(row), None, time.perf_counter() - start
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
    worker: Callable[[CaseEntry], dict],
    out_dir: str | Path,
    *,
    settings: str,
    output_name: str = "results.csv",
    workers: int | None = None,
    scheduler: Any = None,
    resume: bool = False,
    progress: ProgressCallback | None = _print_progress,
    strict: bool = False,
) -> CohortSummary:
    """Process every case of ``manifest`` with ``worker`` (a picklable module-level callable).

    ``settings`` is a string that identifies the run's settings (profile hash, model hash,
    options); with the input files' hashes it forms each case's fingerprint. Cases with
    manifest problems are recorded as failed (step ``validate``) without running; with
    ``strict`` any problem stops the run before it starts.
    """
    manifest.raise_if_invalid(strict=strict)
    out_dir = Path(out_dir)
    (out_dir / "cases").mkdir(parents=True, exist_ok=True)
    for stale in (out_dir / "cases").glob(".*.tmp"):
        stale.unlink(missing_ok=True)  # left by a killed run
    start = time.perf_counter()
    summary = CohortSummary(total=len(manifest.cases))
    invalid = manifest.case_errors
    fingerprints = {case.case_id: "invalid" if case.case_id in invalid else case_fingerprint(case, settings)
                    for case in manifest.cases}
    pending = _pending_cases(manifest, out_dir, fingerprints, resume, summary)
    record = _Recorder(out_dir, fingerprints, summary, progress, workers)
    for case in manifest.cases:
        if case.case_id in invalid:
            record(case.case_id, None, ("validate", "; ".join(invalid[case.case_id])), 0.0)
    _dispatch(pending, worker, workers, scheduler, record)

    order = {case.case_id: index for index, case in enumerate(manifest.cases)}
    summary.failed.sort(key=lambda item: order[item[0]])
    errors = pd.DataFrame(summary.failed, columns=["case_id", "step", "message"])
    write_csv_atomic(errors, out_dir / "errors.csv")
    summary.output = merge_results(manifest, out_dir, output_name, fingerprints)
    summary.seconds = time.perf_counter() - start
    return summary


def _pending_cases(manifest: Manifest, out_dir: Path, fingerprints: dict[str, str], resume: bool,
                   summary: CohortSummary) -> list[CaseEntry]:
    """The valid cases to run: all, or with ``resume`` those whose stored result has another
    fingerprint (the others count as skipped)."""
    pending: list[CaseEntry] = []
    for case in manifest.cases:
        if case.case_id in manifest.case_errors:
            continue
        result_file = _case_file(out_dir, case.case_id, ".json")
        if resume and result_file.is_file():
            stored = json.loads(result_file.read_text(encoding="utf-8"))
            if stored.get("fingerprint") == fingerprints[case.case_id]:
                summary.skipped += 1
                continue
        pending.append(case)
    return pending


class _Recorder:
    """Stores each finished case (result or error file), updates the summary and reports progress."""

    def __init__(self, out_dir: Path, fingerprints: dict[str, str], summary: CohortSummary,
                 progress: ProgressCallback | None, workers: int | None) -> None:
        self.out_dir, self.fingerprints, self.summary = out_dir, fingerprints, summary
        self.progress, self.workers = progress, workers
        self.finished = summary.skipped
        self.times: list[float] = []

    def __call__(self, case_id: str, row: dict | None, error: tuple | None, seconds: float) -> None:
        self.finished += 1
        if seconds:
            self.times.append(seconds)
        fingerprint = self.fingerprints[case_id]
        summary = self.summary
        if error is None:
            write_atomic(_case_file(self.out_dir, case_id, ".json"),
                         json.dumps({"case_id": case_id, "fingerprint": fingerprint, "seconds": seconds,
                                     "row": row}, default=_json_default))
            _case_file(self.out_dir, case_id, ".error.json").unlink(missing_ok=True)
            summary.done += 1
        else:
            step, message = error
            _case_file(self.out_dir, case_id, ".json").unlink(missing_ok=True)
            write_atomic(_case_file(self.out_dir, case_id, ".error.json"),
                         json.dumps({"case_id": case_id, "fingerprint": fingerprint, "step": step,
                                     "message": message}))
            summary.failed.append((case_id, step, message))
        if self.progress is not None:
            remaining = summary.total - self.finished
            parallel = max(1, self.workers or os.cpu_count() or 1)
            eta = (sum(self.times) / len(self.times)) * remaining / parallel if self.times else None
            self.progress(summary.done + summary.skipped, len(summary.failed), summary.total, eta)


def _dispatch(pending: list[CaseEntry], worker: Callable[[CaseEntry], dict], workers: int | None, scheduler: Any,
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


def merge_results(manifest: Manifest, out_dir: Path, output_name: str,
                  fingerprints: dict[str, str]) -> Path | None:
    """Merge the stored rows of every succeeded case (manifest order) into one CSV."""
    rows = []
    for case in manifest.cases:
        result_file = _case_file(out_dir, case.case_id, ".json")
        if not result_file.is_file():
            continue
        stored = json.loads(result_file.read_text(encoding="utf-8"))
        if stored.get("fingerprint") != fingerprints[case.case_id]:
            continue
        rows.append({"case_id": case.case_id, **{k: v for k, v in stored["row"].items() if k != "case_id"}})
    if not rows:
        return None
    path = out_dir / output_name
    write_csv_atomic(pd.DataFrame(rows), path)
    clinical = [{"case_id": case.case_id, **case.extra} for case in manifest.cases if case.extra]
    if clinical:
        write_csv_atomic(pd.DataFrame(clinical), out_dir / "cases.csv")
    return path


def _json_default(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
