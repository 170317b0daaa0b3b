"""Cohort batch runs of extraction, delta radiomics and prediction over a manifest.

The same function serves ``axillary-predictor cohort extract|delta|predict`` and
``AxillaryPredictorLogic().runCohort``. Parallelism is over cases (local processes or a
Dask cluster), so each case's extraction runs with one worker.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from AxillaryPredictorLib.batch.manifest import CaseEntry, load_manifest
from AxillaryPredictorLib.batch.runner import CaseError, CohortSummary, run_cohort

COMMANDS = ("extract", "delta", "predict")


@contextlib.contextmanager
def one_thread_per_worker() -> Iterator[None]:
    """Parallelism is over cases: each case uses one core (ITK filters and BLAS would otherwise
    start a thread per core in every worker and oversubscribe the machine). The previous
    settings are restored afterwards, so a case run in the caller's process leaves it as it was."""
    import SimpleITK as sitk
    from threadpoolctl import threadpool_limits

    previous = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(previous)


def _read(entry) -> tuple:
    """(image, tumor mask) or, with a ``node_mask`` column, (image, tumor mask, node mask)."""
    from AxillaryPredictorLib.imaging.io import read_image, read_mask

    try:
        image = read_image(entry.image)
        scans = [image, read_mask(entry.mask, label=entry.label, segment=entry.segment, reference=image)]
        if entry.node_mask is not None:
            scans.append(read_mask(entry.node_mask, label=entry.node_label, segment=entry.node_segment,
                                   reference=image))
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        raise CaseError("read", str(error)) from None
    return tuple(scans)


def extract_worker(case: CaseEntry, *, profile: str, margins: str, regions: list[str] | None) -> dict:
    from AxillaryPredictorLib.extraction.engine import extract
    from AxillaryPredictorLib.extraction.tables import select_regions
    from AxillaryPredictorLib.imaging.regions import build_region_set

    with one_thread_per_worker():
        views = {}
        for entry in case.rows:
            image, mask, *node = _read(entry)
            try:
                region_set = build_region_set(mask, margins, node_mask=node[0] if node else None)
            except ValueError as error:
                raise CaseError("regions", str(error)) from None
            views[entry.view or "V"] = (image, select_regions(region_set.images, regions))
        try:
            return extract(views, profile, case_id=case.case_id, workers=1).features
        except ValueError as error:
            raise CaseError("extract", str(error)) from None


def delta_worker(case: CaseEntry, *, profile: str, margins: str, regions: list[str] | None, mode: str) -> dict:
    from AxillaryPredictorLib.extraction.delta import extract_delta, scan_metadata

    with one_thread_per_worker():
        row: dict[str, float] = {}
        views = sorted({entry.view for entry in case.rows})
        for view in views:
            entries = {entry.timepoint: entry for entry in case.rows if entry.view == view}
            if set(entries) != {"baseline", "ontreatment"}:
                raise CaseError("read", f"view '{view}' needs one baseline and one ontreatment row")
            scans = {t: _read(e)[:2] for t, e in entries.items()}  # no node ROI
            meta = {t: {**scan_metadata(e.image), **{k: getattr(e, k) for k in ("laterality", "modality")
                                                     if getattr(e, k)}} for t, e in entries.items()}
            try:
                result = extract_delta(scans["baseline"], scans["ontreatment"], case_id=case.case_id, view=view or "V",
                                       margins=margins, regions=regions, profile=profile, mode=mode, workers=1,
                                       baseline_meta=meta["baseline"], ontreatment_meta=meta["ontreatment"])
            except ValueError as error:
                raise CaseError("delta", str(error)) from None
            row.update(result.row())
        return row


def predict_worker(case: CaseEntry, *, model: str) -> dict:
    from AxillaryPredictorLib.packages.registry import find_model
    from AxillaryPredictorLib.pipeline import predict_case

    with one_thread_per_worker():
        package = find_model(model)
        variables = {v.name for v in package.clinical_variables()}
        clinical = {k: v for k, v in case.extra.items() if k in variables}
        inputs = package.document["inputs"]
        try:
            if inputs.get("timepoints"):
                view = inputs["views"][0]
                scans = {e.timepoint: _read(e)[:2] for e in case.rows}
                prediction = predict_case(package, pairs={view: (scans["baseline"], scans["ontreatment"])},
                                          clinical=clinical, case_id=case.case_id, workers=1)
            else:
                views = {(e.view or inputs["views"][0]): _read(e) for e in case.rows}
                prediction = predict_case(package, views, clinical=clinical, case_id=case.case_id, workers=1)
        except ValueError as error:
            raise CaseError("predict", str(error)) from None
        return {"probability": prediction.probability, "risk_group": prediction.risk_group,
                "total_points": prediction.total_points if prediction.total_points is not None else float("nan"),
                "warnings": " | ".join(prediction.warnings)}


def run_cohort_command(command: str, manifest_path: str | Path, out_dir: str | Path, *,
                       profile: str = "zeng2025-dce-delta", model: str | None = None, margins: str = "3,5,10",
                       regions: str | list[str] | None = None, mode: str = "relative", workers: int | None = None,
                       scheduler: Any = None, resume: bool = False,
                       progress: Callable | None = None, strict: bool = False) -> CohortSummary:
    """Validate the manifest up front, then process every case (see ``batch.run_cohort``):
    cases with manifest problems are listed now and recorded as failed, unless ``strict``."""
    import sys

    from AxillaryPredictorLib.batch.runner import _print_progress

    if command not in COMMANDS:
        raise ValueError(f"Unknown cohort command '{command}'; choose {', '.join(COMMANDS)}.")
    manifest = load_manifest(manifest_path, require_timepoints=command == "delta")
    manifest.raise_if_invalid(strict=strict)
    if manifest.errors:
        listing = "\n".join(f"  - {e}" for e in manifest.errors)
        sys.stderr.write(f"The manifest has {len(manifest.errors)} problem(s); {len(manifest.case_errors)} case(s) "
                         f"will be recorded as failed (step 'validate'):\n{listing}\n")
    wanted = [r.strip() for r in regions.split(",")] if isinstance(regions, str) else regions
    if command == "extract":
        from AxillaryPredictorLib.extraction.profiles import load_profile

        settings = f"extract|{load_profile(profile).hash}|{margins}|{wanted}"
        worker = functools.partial(extract_worker, profile=profile, margins=margins, regions=wanted)
        output = "features.csv"
    elif command == "delta":
        from AxillaryPredictorLib.extraction.profiles import load_profile

        settings = f"delta|{load_profile(profile).hash}|{margins}|{wanted}|{mode}"
        worker = functools.partial(delta_worker, profile=profile, margins=margins, regions=wanted, mode=mode)
        output = "delta.csv"
    else:
        if not model:
            raise ValueError("cohort predict needs --model.")
        from AxillaryPredictorLib.packages.registry import find_model

        package = find_model(model)
        settings = f"predict|{package.document['sha256']}"
        worker = functools.partial(predict_worker, model=str(package.path or model))
        output = "predictions.csv"
    callback = _print_progress
    if progress is not None:
        def callback(done: int, failed: int, total: int, eta: float | None) -> None:
            progress((done + failed) / max(total, 1), f"{done + failed}/{total} cases ({failed} failed)")
    return run_cohort(manifest, worker, out_dir, settings=hashlib.sha256(settings.encode()).hexdigest(),
                      output_name=output, workers=workers, scheduler=scheduler, resume=resume, progress=callback,
                      strict=strict)
