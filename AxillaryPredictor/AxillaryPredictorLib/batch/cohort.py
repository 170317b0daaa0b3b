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
from AxillaryPredictorLib.batch.runner import CaseError, CaseOutput, CohortSummary, check_workers, run_cohort
from AxillaryPredictorLib.errors import InputError

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


@contextlib.contextmanager
def failing_step(step: str) -> Iterator[None]:
    """Failures inside become ``CaseError``s: an ``AxillaryPredictorError`` keeps its own step (e.g.
    ``regions``), other bad-input errors are recorded under ``step``."""
    from AxillaryPredictorLib.errors import AxillaryPredictorError

    try:
        yield
    except CaseError:
        raise
    except AxillaryPredictorError as error:
        raise CaseError(error.step, str(error)) from None
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        raise CaseError(step, str(error)) from None


def _scan(entry: Any, with_meta: bool = False, exclude_segments: tuple[str, ...] = ()) -> Any:
    """The ``pipeline.Scan`` of a manifest row (its node ROI when the row has one, and the masks its
    margins may not enter: the row's ``exclude_mask`` files, its and the run's excluded segments)."""
    from AxillaryPredictorLib.extraction.delta import scan_metadata
    from AxillaryPredictorLib.imaging.io import read_image, read_mask
    from AxillaryPredictorLib.pipeline import Scan, read_exclusions

    with failing_step("read"):
        image = read_image(entry.image)
        mask = read_mask(entry.mask, label=entry.label, segment=entry.segment, reference=image)
        node = None
        if entry.node_mask is not None:
            node = read_mask(entry.node_mask, label=entry.node_label, segment=entry.node_segment, reference=image)
        meta = {}
        if with_meta:
            meta = {**scan_metadata(entry.image), **{k: getattr(entry, k) for k in ("laterality", "modality")
                                                     if getattr(entry, k)}}
        excluded, names = read_exclusions(image, entry.mask, files=entry.exclude_masks,
                                          segments=[*exclude_segments, *entry.exclude_segments])
    return Scan(image, mask, node, excluded, meta, names)


def case_inputs(case: CaseEntry, *, paired: bool, default_view: str = "V", clinical: dict | None = None,
                exclude_segments: tuple[str, ...] = ()) -> Any:
    """The ``pipeline.CaseInputs`` of a manifest case: one scan per view, or (``paired``) a baseline
    and an on-treatment scan per view; ``exclude_segments``: segments of every row's mask file the
    margins may not enter (the run's ``--exclude-segment``)."""
    from AxillaryPredictorLib.pipeline import TIMEPOINTS, CaseInputs

    if not paired:
        views = {(entry.view or default_view): _scan(entry, exclude_segments=exclude_segments)
                 for entry in case.rows}
        return CaseInputs.single(case.case_id, views, clinical)
    scans: dict[str, dict] = {timepoint: {} for timepoint in TIMEPOINTS}
    for view in sorted({entry.view for entry in case.rows}):
        entries = {entry.timepoint: entry for entry in case.rows if entry.view == view}
        if set(entries) != set(TIMEPOINTS):
            raise CaseError("read", f"view '{view}' needs one baseline and one ontreatment row")
        for timepoint, entry in entries.items():
            scans[timepoint][view or default_view] = _scan(entry, with_meta=True, exclude_segments=exclude_segments)
    return CaseInputs.paired(case.case_id, scans["baseline"], scans["ontreatment"], clinical)


def case_output(result: Any) -> CaseOutput:
    """A ``pipeline.CaseResult`` as the cohort stores it: the feature row, every warning and the
    diagnostics rows of ``features.diagnostics.csv`` (``extraction.tables.diagnostics_frame``; for a
    delta case the view is ``<timepoint>/<view>``)."""
    from AxillaryPredictorLib.extraction.engine import ExtractionResult
    from AxillaryPredictorLib.extraction.tables import diagnostics_frame

    diagnostics = [{**entry, "view": "/".join(p for p in (timepoint, entry["view"]) if p)}
                   for timepoint, extraction in result.extractions.items() if extraction is not None
                   for entry in extraction.diagnostics]
    frame = diagnostics_frame([ExtractionResult(result.case_id, {}, diagnostics, list(result.warnings))])
    rows = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}  # numpy -> JSON-ready
            for row in frame.to_dict(orient="records")]
    return CaseOutput(dict(result.features), list(result.warnings), rows, result.region_record())


def extract_worker(case: CaseEntry, *, profile: str, settings: dict, regions: list[str] | None,
                   exclude_segments: tuple[str, ...] = ()) -> CaseOutput:
    """Features of one case; ``settings``: ``RegionSettings.to_dict()``."""
    from AxillaryPredictorLib.pipeline import RegionSettings, extract_case

    with one_thread_per_worker():
        inputs = case_inputs(case, paired=False, exclude_segments=exclude_segments)
        with failing_step("extract"):
            return case_output(extract_case(inputs, profile, RegionSettings.from_value(settings), regions=regions,
                                            workers=1))


def delta_worker(case: CaseEntry, *, profile: str, settings: dict, regions: list[str] | None,
                 mode: str, exclude_segments: tuple[str, ...] = ()) -> CaseOutput:
    """Delta features of one paired case; ``settings``: ``RegionSettings.to_dict()``."""
    from AxillaryPredictorLib.pipeline import RegionSettings, extract_case

    with one_thread_per_worker():
        inputs = case_inputs(case, paired=True, exclude_segments=exclude_segments)
        for by_view in inputs.scans.values():  # delta models use the tumor and its rings, no node ROI
            for scan in by_view.values():
                scan.node = None
        with failing_step("delta"):
            return case_output(extract_case(inputs, profile, RegionSettings.from_value(settings), regions=regions,
                                            workers=1, delta_mode=mode))


def predict_worker(case: CaseEntry, *, model: str, settings: dict | None = None,
                   exclude_segments: tuple[str, ...] = ()) -> CaseOutput:
    """One case scored by ``model``; its regions grown with ``settings`` (``RegionSettings.to_dict()``,
    the package's margins added) and the case's excluded masks."""
    from AxillaryPredictorLib.packages.registry import find_model
    from AxillaryPredictorLib.pipeline import RegionSettings, predict_case

    with one_thread_per_worker():
        package = find_model(model)
        variables = set(package.clinical_inputs())  # blood indices: their counts too
        clinical = {k: v for k, v in case.extra.items() if k in variables}
        paired = any(entry.timepoint for entry in case.rows)
        inputs = case_inputs(case, paired=paired, default_view=package.document["inputs"]["views"][0],
                             clinical=clinical, exclude_segments=exclude_segments)
        with failing_step("predict"):
            prediction = predict_case(package, inputs, RegionSettings.from_value(settings) if settings else None,
                                      workers=1)
        row = {"probability": prediction.probability, "risk_group": prediction.risk_group,
               "total_points": prediction.total_points if prediction.total_points is not None else float("nan"),
               "warnings": " | ".join(prediction.warnings)}
        diagnostics = [{"case_id": case.case_id, "view": "", "region": "", "voxels": "", "extracted": "",
                        "nan_features": "", "warnings": " | ".join(prediction.warnings)}] if prediction.warnings else []
        return CaseOutput(row, list(prediction.warnings), diagnostics, dict(prediction.region_settings))


def run_cohort_command(command: str, manifest_path: str | Path, out_dir: str | Path, *,
                       profile: str = "zeng2025-dce-delta", model: str | None = None, margins: str = "3,5,10",
                       regions: str | list[str] | None = None, mode: str = "relative", workers: int | None = None,
                       scheduler: Any = None, resume: bool = False,
                       progress: Callable | None = None, strict: bool = False, exclude_below: float | None = None,
                       components: str = "largest", exclude_segments: tuple[str, ...] | list[str] = ()
                       ) -> CohortSummary:
    """Validate the manifest up front, then process every case (see ``batch.run_cohort``):
    cases with manifest problems are listed now and recorded as failed, unless ``strict``.

    The regions are grown with ``margins`` (extract, delta; predict: the model's), the tissue threshold
    ``exclude_below``, ``components`` and the masks the margins may not enter: each row's
    ``exclude_mask`` files and ``exclude_segment`` segments, and ``exclude_segments`` of every row's
    mask. The run's settings and each case's are recorded in ``<output>.json`` beside the table."""
    import sys

    from AxillaryPredictorLib.batch.runner import _print_progress
    from AxillaryPredictorLib.pipeline import RegionSettings

    if command not in COMMANDS:
        raise InputError(f"Unknown cohort command '{command}'; choose {', '.join(COMMANDS)}.")
    check_workers(workers)
    # checked now, not once per case at step 'regions'; predict: the model's margins are added per case
    settings = RegionSettings.from_value({"margins_mm": () if command == "predict" else margins,
                                          "exclude_below": exclude_below, "components": components})
    manifest = load_manifest(manifest_path, require_timepoints=command == "delta")
    manifest.raise_if_invalid(strict=strict)
    if manifest.errors:
        listing = "\n".join(f"  - {e}" for e in manifest.errors)
        sys.stderr.write(f"The manifest has {len(manifest.errors)} problem(s); {len(manifest.case_errors)} case(s) "
                         f"will be recorded as failed (step 'validate'):\n{listing}\n")
    wanted = [r.strip() for r in regions.split(",")] if isinstance(regions, str) else regions
    run = _run_setup(command, profile, model, settings, wanted, mode, tuple(exclude_segments))
    callback = _print_progress
    if progress is not None:
        def callback(done: int, failed: int, total: int, eta: float | None) -> None:
            progress((done + failed) / max(total, 1), f"{done + failed}/{total} cases ({failed} failed)")
    return run_cohort(manifest, run["worker"], out_dir, settings=hashlib.sha256(run["settings"].encode()).hexdigest(),
                      output_name=run["output"], workers=workers, scheduler=scheduler, resume=resume,
                      progress=callback, strict=strict, sidecar=functools.partial(_sidecar, run["record"]))


def _run_setup(command: str, profile: str, model: str | None, settings: Any, wanted: list[str] | None, mode: str,
               exclude_segments: tuple[str, ...]) -> dict[str, Any]:
    """The worker of a cohort command, its output table's name, the settings text of the cases'
    fingerprints (what ``--resume`` compares) and the run's record for the sidecar."""
    import json

    regions = settings.to_dict()
    common = {"settings": regions, "exclude_segments": exclude_segments}
    if command == "predict":
        if not model:
            raise InputError("cohort predict needs --model.")
        from AxillaryPredictorLib.packages.registry import find_model

        package = find_model(model)
        worker = functools.partial(predict_worker, model=str(package.path or model), **common)
        record = {"model": {"id": package.id, "sha256": package.document["sha256"]}}
        key = f"predict|{package.document['sha256']}"
    else:
        from AxillaryPredictorLib.extraction.profiles import load_profile

        loaded = load_profile(profile)
        record = {"profile": loaded.provenance(), "regions_extracted": wanted}
        key = f"{command}|{loaded.hash}|{wanted}"
        if command == "extract":
            worker = functools.partial(extract_worker, profile=profile, regions=wanted, **common)
        else:
            worker = functools.partial(delta_worker, profile=profile, regions=wanted, mode=mode, **common)
            record["mode"] = mode
            key += f"|{mode}"
    key += "|" + json.dumps({**regions, "exclude_segments": list(exclude_segments)}, sort_keys=True)
    record["regions"] = {"settings": regions, "exclude_segments": list(exclude_segments)}
    output = {"extract": "features.csv", "delta": "delta.csv", "predict": "predictions.csv"}[command]
    return {"worker": worker, "output": output, "settings": key, "record": {"command": command, **record}}


def _sidecar(run: dict[str, Any], records: dict[str, dict]) -> dict[str, Any]:
    """The cohort table's sidecar: the run's settings (``provenance``, as a single-case ``extract``
    table's sidecar has them) and how each case's regions were grown (``case_regions``), with the
    masks the margins could not enter by case (``provenance.regions.excluded_masks``)."""
    excluded = {case: record["excluded_masks"] for case, record in records.items() if record.get("excluded_masks")}
    provenance = {**run, "regions": {**run["regions"], "excluded_masks": excluded}}
    return {"cases": list(records), "provenance": provenance, "case_regions": records}
