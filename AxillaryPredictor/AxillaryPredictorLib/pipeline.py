"""The one case pipeline: images + masks -> regions -> features -> score.

Every entry point calls it: the CLI (``extract``, ``delta``, ``predict``), cohort batches, the
Slicer Logic and the web front-end. ``extract_case`` is the only function of the library that
builds a case's regions and then extracts their features; ``predict_case`` adds the model.

- ``RegionSettings``: how regions are grown (margins, tissue threshold, lesion components). The
  regions a front-end shows are built with the same settings as the ones scored, so they are the
  same voxels; the settings go into the result, the report and the feature sidecar.
- ``Scan``: one image with its tumor mask (and optional lymph node mask and masks the margins may
  not enter, e.g. chest wall or skin; ``read_exclusions`` reads them from files for the CLI and
  cohort runs, and their names go into the record with the settings).
- ``CaseInputs``: a case's scans by view, for one timepoint or two (delta radiomics). Whether a
  case is single-scan or delta is decided here, by ``CaseInputs.timepoints``, and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from AxillaryPredictorLib.errors import InputError, ModelError

if TYPE_CHECKING:
    import SimpleITK as sitk

    from AxillaryPredictorLib.extraction.profiles import Profile
    from AxillaryPredictorLib.imaging.regions import RegionSet
    from AxillaryPredictorLib.packages.package import ModelPackage

ProgressCallback = Callable[[float, str], None]
TIMEPOINTS = ("baseline", "ontreatment")
DEFAULT_MARGINS_MM = (3.0, 5.0, 10.0)


# ------------------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class RegionSettings:
    """How the regions of a case are grown; the same value gives the same voxels.

    ``margins_mm``: peritumoral margins (mm); ``exclude_below``: intensity below which voxels are
    not tissue (air), margins never enter them; ``components``: ``largest`` lesion component or
    ``all``. Masks to exclude (chest wall, skin) belong to each ``Scan``."""

    margins_mm: tuple[float, ...] = DEFAULT_MARGINS_MM
    exclude_below: float | None = None
    components: str = "largest"

    def __post_init__(self) -> None:
        import math

        if self.exclude_below is not None and not math.isfinite(self.exclude_below):
            raise InputError(f"The tissue threshold must be a finite intensity (got {self.exclude_below}); e.g. "
                             "--exclude-below -500, or leave it out.")
        if self.components not in ("largest", "all"):
            raise InputError(f"Lesion components must be 'largest' or 'all', not '{self.components}'.")

    @classmethod
    def from_value(cls, value: RegionSettings | Mapping[str, Any] | str | Sequence[float] | None,
                   ) -> RegionSettings:
        """Settings from settings, a dict (``to_dict``), margins text ``"3,5,10"`` or margins."""
        from AxillaryPredictorLib.imaging.regions import parse_margins

        if value is None:
            return cls()
        if isinstance(value, RegionSettings):
            return value
        if isinstance(value, Mapping):
            return cls(tuple(parse_margins(value.get("margins_mm", DEFAULT_MARGINS_MM))),
                       None if value.get("exclude_below") is None else float(value["exclude_below"]),
                       str(value.get("components", "largest")))
        return cls(tuple(parse_margins(value)))

    def with_margins(self, margins: Sequence[float]) -> RegionSettings:
        """These settings with ``margins`` added (a model's margins on top of the ones shown)."""
        merged = sorted({*self.margins_mm, *(float(m) for m in margins)})
        return replace(self, margins_mm=tuple(merged))

    def to_dict(self) -> dict[str, Any]:
        return {"margins_mm": list(self.margins_mm), "exclude_below": self.exclude_below,
                "components": self.components}


@dataclass
class Scan:
    """One image of a case and its masks, all on the image's grid (UInt8 0/1 masks)."""

    image: sitk.Image
    tumor: sitk.Image
    node: sitk.Image | None = None
    excluded: tuple[sitk.Image, ...] = ()
    #: DICOM patient ID / laterality / modality, checked between timepoints (``delta.check_pair``)
    meta: dict[str, Any] = field(default_factory=dict)
    #: what each ``excluded`` mask is (a file, a segment), for the record; default "excluded mask N"
    excluded_names: tuple[str, ...] = ()

    def exclusion_record(self) -> list[str]:
        """The names of the masks the margins may not enter (``excluded_names``, else numbered)."""
        names = list(self.excluded_names)[: len(self.excluded)]
        return names + [f"excluded mask {i + 1}" for i in range(len(names), len(self.excluded))]


def read_exclusions(image: sitk.Image, mask_path: str | Path, *, files: Sequence[str | Path] = (),
                    segments: Sequence[str] = (), tolerance: float | None = None,
                    ) -> tuple[tuple[sitk.Image, ...], tuple[str, ...]]:
    """The masks the margins of one scan may not enter (``Scan.excluded``), on its image's grid, and
    their names for the record (``Scan.excluded_names``): each file of ``files`` and each segment of
    ``segments`` in the scan's tumor mask file. Every front-end that reads files uses it."""
    from AxillaryPredictorLib.imaging.dicom_seg import is_dicom_seg
    from AxillaryPredictorLib.imaging.io import read_mask

    masks, names = [], []
    for path in files:
        try:
            masks.append(read_mask(path, reference=image, tolerance=tolerance))
        except InputError as error:
            raise InputError(f"Excluded mask {path}: {error}") from None
        names.append(str(path))
    for segment in segments:
        if not str(mask_path).endswith(".seg.nrrd") and not is_dicom_seg(mask_path):
            raise InputError(f"Excluded segment '{segment}': the tumor mask {Path(mask_path).name} is a labelmap, "
                             "not a .seg.nrrd or DICOM SEG with named segments; give the structure as its own "
                             "file (--exclude-mask FILE, manifest column exclude_mask).")
        masks.append(read_mask(mask_path, segment=segment, reference=image, tolerance=tolerance))
        names.append(f"segment {segment}")
    return tuple(masks), tuple(names)


@dataclass
class CaseInputs:
    """A case: ``scans[timepoint][view]``; timepoint ``""`` for a single-timepoint case, or
    ``baseline`` and ``ontreatment`` for a delta case."""

    case_id: str
    scans: dict[str, dict[str, Scan]]
    clinical: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def single(cls, case_id: str, views: Mapping[str, Scan], clinical: Mapping[str, Any] | None = None,
               ) -> CaseInputs:
        return cls(case_id, {"": dict(views)}, dict(clinical or {}))

    @classmethod
    def paired(cls, case_id: str, baseline: Mapping[str, Scan], ontreatment: Mapping[str, Scan],
               clinical: Mapping[str, Any] | None = None) -> CaseInputs:
        return cls(case_id, {"baseline": dict(baseline), "ontreatment": dict(ontreatment)}, dict(clinical or {}))

    @property
    def timepoints(self) -> list[str]:
        """``[""]`` (single scan) or ``["baseline", "ontreatment"]`` (delta): the one place this is decided."""
        return list(self.scans)

    @property
    def is_delta(self) -> bool:
        return set(self.scans) == set(TIMEPOINTS)

    @property
    def views(self) -> list[str]:
        return list(next(iter(self.scans.values())))

    def check(self) -> None:
        if set(self.scans) not in ({""}, set(TIMEPOINTS)):
            raise InputError(f"Case {self.case_id}: give one scan per view, or a baseline and an on-treatment scan "
                             f"per view (got timepoints {', '.join(map(repr, self.scans))}).")
        views = [sorted(by_view) for by_view in self.scans.values()]
        if not views[0] or any(v != views[0] for v in views):
            raise InputError(f"Case {self.case_id}: every timepoint needs the same views (got "
                             f"{'; '.join(', '.join(v) for v in views)}).")


# ----------------------------------------------------------------------------- regions


def build_case_regions(scan: Scan, settings: RegionSettings) -> RegionSet:
    """The regions of one scan: tumor, tumor + margin and ring per margin (clipped to tissue), node."""
    from AxillaryPredictorLib.imaging.regions import build_region_set, tissue_mask

    allowed = None
    if settings.exclude_below is not None or scan.excluded:
        allowed = tissue_mask(scan.image, settings.exclude_below, scan.excluded)
    return build_region_set(scan.tumor, settings.margins_mm, allowed_mask=allowed, components=settings.components,
                            node_mask=scan.node)


# -------------------------------------------------------------------------- extraction


@dataclass
class CaseResult:
    """Features of a case with everything needed to trust them.

    ``features``: one row (``<region>__<view>__<feature>``; delta cases ``delta__...`` and the
    ``complete_response`` flag); ``regions[timepoint][view]``: the ``RegionSet`` built;
    ``extractions[timepoint]``: the ``ExtractionResult`` per timepoint (None: nothing to extract,
    i.e. a complete response); ``warnings``: region building's and extraction's, in order."""

    case_id: str
    features: dict[str, float]
    settings: RegionSettings
    regions: dict[str, dict[str, RegionSet]]
    extractions: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    delta: Any = None  # extraction.delta.DeltaExtraction for delta cases

    def region_voxels(self) -> dict[str, int]:
        """Voxels of every region scored, keyed ``[timepoint/]view/region``."""
        counts = {}
        for timepoint, by_view in self.regions.items():
            for view, region_set in by_view.items():
                for name, report in region_set.reports.items():
                    counts["/".join(p for p in (timepoint, view, name) if p)] = report.voxels
        return counts

    def region_record(self) -> dict[str, Any]:
        """How the regions were grown: the settings and the masks the margins could not enter
        (``excluded_masks`` by ``[timepoint/]view``), as the prediction and the report record them."""
        excluded = self.provenance.get("regions", {}).get("excluded_masks", {})
        return {**self.settings.to_dict(), "excluded_masks": dict(excluded)}

    def extraction_result(self) -> Any:
        """The features as an ``ExtractionResult`` (what ``tables.write_features`` writes)."""
        from AxillaryPredictorLib.extraction.engine import ExtractionResult

        diagnostics = [entry for result in self.extractions.values() if result is not None
                       for entry in result.diagnostics]
        return ExtractionResult(self.case_id, dict(self.features), diagnostics, list(self.warnings),
                                dict(self.provenance))


def extract_case(inputs: CaseInputs, profile: str | Profile, settings: RegionSettings | None = None, *,
                 regions: Sequence[str] | None = None, engine: str = "shared", workers: int | None = None,
                 delta_mode: str = "relative", progress: ProgressCallback | None = None,
                 deep: Any = None) -> CaseResult:
    """Build the regions of every scan of the case with ``settings`` and extract the ``regions``
    asked for (default: all built) with ``profile``; for a delta case, both timepoints and their
    change (``delta_mode``). The regions, settings and every warning are in the result.

    ``deep``: deep features too (``extraction.deep``): a ``DeepSpec``, a verified ``DeepModel``, a
    backbone name or .onnx path, or a profile-style ``deep`` block; None: the profile's ``deep``
    block, if any; False: none."""
    from AxillaryPredictorLib.extraction.profiles import Profile, load_profile

    inputs.check()
    settings = settings or RegionSettings()
    profile = profile if isinstance(profile, Profile) else load_profile(profile)
    deep_model = _deep_model(profile.deep if deep is None else deep, workers)
    wanted = list(regions) if regions else None
    built: dict[str, dict[str, RegionSet]] = {}
    extractions: dict[str, Any] = {}
    warnings: list[str] = []
    timepoints = inputs.timepoints
    for index, timepoint in enumerate(timepoints):
        step = _scaled(progress, index / len(timepoints), (index + 1) / len(timepoints))
        built[timepoint], extractions[timepoint], notes = _extract_timepoint(
            inputs, timepoint, profile, settings, wanted, engine, workers, step)
        warnings += notes
        if deep_model is not None and extractions[timepoint] is not None:
            warnings += _add_deep_features(inputs, timepoint, built[timepoint], extractions[timepoint], deep_model)
    provenance = {"regions": {"settings": settings.to_dict(), "excluded_masks": _exclusions(inputs),
                              **_region_summaries(built)}}
    if deep_model is not None:
        provenance["deep"] = deep_model.provenance()
    if not inputs.is_delta:
        extraction = extractions[""]
        provenance = {**extraction.provenance, **provenance}
        return CaseResult(inputs.case_id, dict(extraction.features), settings, built, extractions, warnings,
                          provenance)
    return _delta_result(inputs, profile, settings, built, extractions, warnings, provenance, delta_mode)


def _extract_timepoint(inputs: CaseInputs, timepoint: str, profile: Profile, settings: RegionSettings,
                       wanted: list[str] | None, engine: str, workers: int | None,
                       progress: ProgressCallback | None) -> tuple[dict[str, RegionSet], Any, list[str]]:
    """Regions and features of every view of one timepoint. An empty on-treatment tumor is a
    complete response: no regions, no features (None), a warning."""
    import SimpleITK as sitk

    from AxillaryPredictorLib.errors import RegionError
    from AxillaryPredictorLib.extraction.engine import extract
    from AxillaryPredictorLib.extraction.tables import select_regions

    scans = inputs.scans[timepoint]
    if timepoint == "ontreatment" and not any(sitk.GetArrayViewFromImage(s.tumor).any() for s in scans.values()):
        return {}, None, ["The on-treatment tumor is empty: complete radiological response."]
    built, views, warnings = {}, {}, []
    for view, scan in scans.items():
        try:
            built[view] = build_case_regions(scan, settings)
        except RegionError:
            raise
        except ValueError as error:  # a region problem the user fixes in the mask or the settings
            raise RegionError(f"{_where(timepoint, view)}{error}") from None
        warnings += built[view].warnings
        views[view] = (scan.image, select_regions(built[view].images, wanted))
    result = extract(views, profile, case_id=inputs.case_id, engine=engine, workers=workers, progress=progress)
    return built, result, warnings + result.warnings


def _deep_model(deep: Any, workers: int | None) -> Any:
    """The verified deep model asked for (``extract_case``'s ``deep``), or None."""
    if deep is None or deep is False:
        return None
    from AxillaryPredictorLib.extraction.deep import DeepModel, resolve_model

    return deep if isinstance(deep, DeepModel) else resolve_model(deep, workers=workers)


def _add_deep_features(inputs: CaseInputs, timepoint: str, built: Mapping[str, RegionSet], result: Any,
                       model: Any) -> list[str]:
    """Add the deep columns of every view of one timepoint to its features (one row with the
    radiomics), a diagnostics entry per view with the crop box; returns the crops' warnings."""
    from AxillaryPredictorLib.errors import RegionError

    notes = []
    for view, scan in inputs.scans[timepoint].items():
        for region in model.regions:
            if region not in built[view].images:
                raise RegionError(f"{_where(timepoint, view)}deep features need the region '{region}'; built "
                                  f"regions: {', '.join(built[view].images)}.")
            values, box, warnings = model.features(scan.image, built[view].images[region], view, region)
            result.features.update(values)
            result.diagnostics.append({"view": view, "region": f"{region} (deep-{model.name})",
                                       "voxels": box.region_pixels, "extracted": True, "nan_features": 0,
                                       "warnings": warnings, "deep": {"backbone": model.name, "output": model.output,
                                                                      "crop": box.to_dict(), "timepoint": timepoint}})
            notes += [f"{timepoint + ' ' if timepoint else ''}{w}" for w in warnings]
    return notes


def _where(timepoint: str, view: str) -> str:
    return f"{timepoint + ' ' if timepoint else ''}view {view}: " if view else ""


def _exclusions(inputs: CaseInputs) -> dict[str, list[str]]:
    """The masks the margins could not enter, by ``[timepoint/]view`` (scans with any)."""
    return {"/".join(p for p in (timepoint, view) if p): scan.exclusion_record()
            for timepoint, by_view in inputs.scans.items() for view, scan in by_view.items() if scan.excluded}


def _region_summaries(built: Mapping[str, Mapping[str, RegionSet]]) -> dict[str, Any]:
    return {"/".join(p for p in (timepoint, view) if p): region_set.summary()
            for timepoint, by_view in built.items() for view, region_set in by_view.items()}


def _delta_result(inputs: CaseInputs, profile: Profile, settings: RegionSettings, built: dict, extractions: dict,
                  warnings: list[str], provenance: dict[str, Any], mode: str) -> CaseResult:
    """The delta row (``delta__...`` + ``complete_response``) of a paired case."""
    from AxillaryPredictorLib.extraction.delta import DeltaExtraction, check_pair, compute_delta

    pair_warnings = []
    for view in inputs.views:
        base, on = inputs.scans["baseline"][view], inputs.scans["ontreatment"][view]
        pair_warnings += check_pair(base.meta, on.meta, base.image, on.image)
    baseline, ontreatment = extractions["baseline"], extractions["ontreatment"]
    on_features = None if ontreatment is None else ontreatment.features
    delta = compute_delta(baseline.features, on_features, mode=mode)
    warnings = pair_warnings + warnings + delta.notes
    provenance = {"profile": profile.provenance(), "mode": mode, "zero_tolerance": 1e-12,
                  "baseline": baseline.provenance, "undefined_features": delta.undefined,
                  "complete_response": delta.complete_response, "notes": delta.notes, **provenance}
    extraction = DeltaExtraction(inputs.case_id, delta, baseline.features, on_features, warnings, provenance)
    return CaseResult(inputs.case_id, extraction.row(), settings, built, extractions, warnings, provenance,
                      delta=extraction)


def extract_delta(baseline: tuple, ontreatment: tuple, *, case_id: str = "case", view: str = "DCE3",
                  margins: Sequence[float] | str = (3,), regions: Sequence[str] | None = ("tumor", "margin3mm"),
                  profile: str = "zeng2025-dce-delta", mode: str = "relative", workers: int | None = None,
                  baseline_meta: Mapping[str, object] | None = None,
                  ontreatment_meta: Mapping[str, object] | None = None,
                  settings: RegionSettings | None = None, progress: ProgressCallback | None = None) -> Any:
    """Delta radiomics of one paired view: ``baseline``/``ontreatment`` = (image, tumor mask), each
    segmented on its own scan. Returns the ``DeltaExtraction`` (see ``extract_case``)."""
    from AxillaryPredictorLib.extraction.delta import DELTA_MODES

    if mode not in DELTA_MODES:
        raise InputError(f"Unknown delta mode '{mode}'; choose one of {', '.join(DELTA_MODES)}.")
    settings = settings or RegionSettings.from_value(margins)
    inputs = CaseInputs.paired(case_id, {view: Scan(*baseline, meta=dict(baseline_meta or {}))},
                               {view: Scan(*ontreatment, meta=dict(ontreatment_meta or {}))})
    result = extract_case(inputs, profile, settings, regions=regions, workers=workers, delta_mode=mode,
                          progress=progress)
    return result.delta


def _scaled(progress: ProgressCallback | None, start: float, end: float) -> ProgressCallback | None:
    from AxillaryPredictorLib.extraction.engine import scaled_progress

    return scaled_progress(progress, start, end)


# -------------------------------------------------------------------------- prediction


@dataclass
class Prediction:
    case_id: str
    model_id: str
    probability: float
    risk_group: str
    threshold: float
    features: dict[str, float]
    clinical: dict[str, Any]
    predictor_points: dict[str, float] = field(default_factory=dict)
    total_points: float | None = None
    nomogram_values: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    images: list = field(default_factory=list)  # reporting.report.TimepointImages
    derived: dict[str, float] = field(default_factory=dict)
    region_settings: dict[str, Any] = field(default_factory=dict)
    region_voxels: dict[str, int] = field(default_factory=dict)
    #: the case as the model saw it: ``ModelPackage.design`` (clinical values encoded, derived scores added)
    design: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        return (f"Case {self.case_id}: predicted probability {self.probability:.1%} — risk group {self.risk_group} "
                f"(cut-off {self.threshold:.3f}, model {self.model_id})")

    def to_json(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "model_id": self.model_id, "probability": self.probability,
                "risk_group": self.risk_group, "threshold": self.threshold, "total_points": self.total_points,
                "predictor_points": self.predictor_points, "nomogram_values": self.nomogram_values,
                "derived_scores": self.derived, "clinical": self.clinical,
                "features_used": {k: (None if v != v else v) for k, v in self.features.items()},  # NaN -> null
                "region_settings": self.region_settings, "region_voxels": self.region_voxels,
                "warnings": self.warnings, "versions": self.versions}


def model_profile(package: ModelPackage) -> Profile:
    """The package's extraction profile, refused when this installation's differs (hash)."""
    from AxillaryPredictorLib.extraction.profiles import load_profile

    wanted = package.document["inputs"]["profile"]
    profile = load_profile(wanted["name"])
    if wanted.get("sha256") and wanted["sha256"] != profile.hash:
        raise ModelError(f"Model '{package.id}' was trained with profile '{wanted['name']}' sha256 "
                         f"{wanted['sha256'][:12]}…, but this installation's profile of that name hashes to "
                         f"{profile.hash[:12]}…: the features would not be comparable.")
    return profile


def check_case_for_model(package: ModelPackage, inputs: CaseInputs) -> None:
    """Clear errors when the case lacks what the model needs (timepoints, views, node ROI) or gives
    clinical values it does not know, and for packages that do not score images (trained on plain tables)."""
    package.check_scores_images()
    package.check_clinical(inputs.clinical)
    spec = package.document["inputs"]
    if bool(spec.get("timepoints")) != inputs.is_delta:
        need = ("baseline and on-treatment scans (delta radiomics)" if spec.get("timepoints")
                else "one scan per view (it is not a delta model)")
        raise InputError(f"Model '{package.id}' needs {need}.")
    missing = [v for v in spec["views"] if v not in inputs.views]
    if missing:
        raise InputError(f"Model '{package.id}' needs view(s) {', '.join(missing)}; given: "
                         f"{', '.join(inputs.views)}.")
    if "node" in spec["regions"]:
        for view in spec["views"]:
            if any(by_view[view].node is None for by_view in inputs.scans.values()):
                raise InputError(f"Model '{package.id}' needs the lymph node ROI of view {view} (a 'node' segment, "
                                 "or --node-mask on the command line).")


def predict_case(package: ModelPackage, inputs: CaseInputs, settings: RegionSettings | None = None, *,
                 workers: int | None = None, progress: ProgressCallback | None = None,
                 deep: Any = None) -> Prediction:
    """Score one case with ``package``: the package's views, regions and profile; regions grown
    with ``settings`` (default: the package's margins, no tissue exclusion) plus any margin the
    package needs. ``progress(fraction, message)`` follows the extraction; raise in it to cancel.
    ``deep``: the ONNX model for a package with deep features (default: its registry backbone);
    refused when its SHA-256 differs from the one the package was trained with."""
    spec = package.document["inputs"]
    profile = model_profile(package)
    deep = _package_deep_model(package, profile, deep, workers)
    check_case_for_model(package, inputs)
    margins = spec.get("margins_mm") or [3.0]
    settings = (settings or RegionSettings(tuple(float(m) for m in margins))).with_margins(margins)
    views = {tp: {v: by_view[v] for v in spec["views"]} for tp, by_view in inputs.scans.items()}
    case = CaseInputs(inputs.case_id, views, inputs.clinical)
    result = extract_case(case, profile, settings, regions=spec["regions"], workers=workers,
                          delta_mode=spec.get("delta_mode") or "relative", progress=progress, deep=deep)
    return score_case(package, result, case, profile)


def _package_deep_model(package: ModelPackage, profile: Profile, deep: Any, workers: int | None) -> Any:
    """The verified deep model a package needs (False: none): ``deep``, else the profile's ``deep``
    block, else the backbone the package records; its SHA-256 must be the package's."""
    recorded = package.document["inputs"].get("deep")
    if not recorded:
        return False
    from AxillaryPredictorLib.extraction.deep import check_package_backbone

    default = {"backbone": recorded["backbone"], "output": recorded.get("output"),
               "region": recorded.get("region", "tumor"), "context_mm": recorded.get("context_mm", 0.0),
               "input_size": recorded.get("input_size")}
    if isinstance(deep, str) or hasattr(deep, "__fspath__"):  # a file or name: the package's output, region, crop
        deep = {**default, "backbone": str(deep)}
    elif not deep and not profile.deep and recorded.get("source") == "file":
        raise ModelError(f"Model '{package.id}' uses deep features of your own ONNX model '{recorded['backbone']}' "
                         f"(sha256 {recorded['sha256'][:12]}…): give that file (command line: --deep-model PATH).")
    model = _deep_model(deep or profile.deep or default, workers)
    check_package_backbone(recorded, model, package.id)
    return model


def score_case(package: ModelPackage, result: CaseResult, inputs: CaseInputs, profile: Profile) -> Prediction:
    """The package's probability, risk group, derived scores and nomogram points for extracted features."""
    import pandas as pd

    from AxillaryPredictorLib.provenance import library_versions

    # a delta case also offers its raw baseline__/ontreatment__ values, for models that use them
    features = result.delta.row(include_raw=True) if result.delta is not None else result.features
    frame = pd.DataFrame([{**features, **inputs.clinical}])
    design = package.design(frame)  # the one clinical encoding of the case, passed along from here
    try:
        probability = float(package.predict_proba_design(design)[0])
    except ModelError as error:
        raise _explained_model_error(error, package, result) from None
    warnings = list(result.warnings) + _region_warnings(package, result) + _imputation_warnings(package, frame)
    warnings += package.out_of_range(design)
    document = package.document
    prediction = Prediction(
        inputs.case_id, package.id, probability, package.risk_group(probability), float(document["threshold"]),
        {c: features[c] for c in package.required_columns() if c in features}, dict(inputs.clinical),
        warnings=warnings, images=_report_images(result, inputs, document["inputs"]["regions"]),
        versions={**library_versions(), "model": f"{package.id} {document['version']} "
                  f"(sha256 {document['sha256'][:12]}…)", "profile": f"{profile.name} (sha256 {profile.hash[:12]}…)"},
        derived={d["name"]: float(design[d["name"]].iloc[0]) for d in document.get("derived", [])},
        region_settings=result.region_record(), region_voxels=result.region_voxels(),
        design={c: _plain(v) for c, v in design.iloc[0].items()})
    _add_nomogram(package, prediction, design)
    return prediction


def _explained_model_error(error: ModelError, package: ModelPackage, result: CaseResult) -> ModelError:
    """``error`` with its cause when the model's inputs are NaN: which inputs, and the extraction's
    warnings about their regions (e.g. 'too small for pyradiomics'), and what to do."""
    import math

    from AxillaryPredictorLib.extraction.tables import split_column

    undefined = [c for c in package.required_columns()
                 if isinstance(result.features.get(c), float) and math.isnan(result.features[c])]
    if not undefined:
        return error
    places = {split_column(c.removeprefix("delta__"))[:2] for c in undefined if c.count("__") >= 2}
    views = {view for _, view in places}
    causes = [text for text in result.warnings if any(text.startswith(f"View '{view}':") for view in views)]
    causes += [text for extraction in result.extractions.values() if extraction is not None
              for entry in extraction.diagnostics if (entry["region"], entry["view"]) in places
              for text in entry["warnings"]]
    causes = list(dict.fromkeys(text.rstrip(".") for text in causes or result.warnings))
    shown = "; ".join(causes[:3]) + (f"; and {len(causes) - 3} more" if len(causes) > 3 else "")
    why = f" The extraction warned: {shown}." if causes else ""
    return ModelError(f"{error} {len(undefined)} of the {len(package.required_columns())} radiomics input(s) are "
                      f"NaN for this case (e.g. {undefined[0]}).{why} Fix the case's image or tumor mask (a region of "
                      "a few voxels, or with a single intensity, has no texture features) and run again.")


def _region_warnings(package: ModelPackage, result: CaseResult) -> list[str]:
    """A note when the case's regions were grown with another tissue exclusion than the package's
    training features (``provenance.training_regions``, recorded by ``train`` from the tables' sidecars):
    the settings given for the case are the ones applied."""
    trained = package.document.get("provenance", {}).get("training_regions")
    if not trained:
        return []
    applied = result.region_record()
    differences = []
    if trained.get("exclude_below") != applied["exclude_below"]:
        differences.append(f"tissue threshold {_threshold_text(trained.get('exclude_below'))} at training, "
                           f"{_threshold_text(applied['exclude_below'])} here")
    if bool(trained.get("excluded_masks")) != bool(applied["excluded_masks"]):
        differences.append("excluded masks " + ("at training, none here" if trained.get("excluded_masks")
                                                else "here, none at training"))
    if trained.get("components", "largest") != applied["components"]:
        differences.append(f"lesion components '{trained.get('components')}' at training, "
                           f"'{applied['components']}' here")
    if not differences:
        return []
    return [f"The regions were grown differently from the model's training features ({'; '.join(differences)}); "
            "this case's settings were applied. Give the training's settings (command line: --exclude-below, "
            "--exclude-mask, --exclude-segment, --components) for comparable margin features."]


def _threshold_text(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


def _imputation_warnings(package: ModelPackage, frame: Any) -> list[str]:
    imputed = package.imputed(frame)
    if not imputed:
        return []
    strategy = package.document.get("imputation", {}).get("strategy", "median")
    return [f"{len(imputed)} model input(s) could not be computed for this case and were replaced by the training "
            f"{strategy}: {', '.join(imputed[:5])}."]


def _report_images(result: CaseResult, inputs: CaseInputs, regions: Sequence[str]) -> list:
    """The slices the report shows: every scan with the regions that were scored."""
    from AxillaryPredictorLib.reporting.report import TimepointImages

    labels = {"": "", "baseline": "Baseline ", "ontreatment": "On-treatment "}
    images = []
    for timepoint, by_view in inputs.scans.items():
        for view, scan in by_view.items():
            region_set = result.regions.get(timepoint, {}).get(view)
            shown = ({name: region_set.images[name] for name in regions if name in region_set.images}
                     if region_set is not None else {"tumor": scan.tumor})
            images.append(TimepointImages(f"{labels[timepoint]}{view}", scan.image, shown))
    return images


def _plain(value: Any) -> Any:
    """A design cell as a plain Python value (numbers as float)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _add_nomogram(package: ModelPackage, prediction: Prediction, design: Any) -> None:
    """The case's points on the package's nomogram (logistic packages)."""
    if package.document["estimator"]["type"] != "logistic":
        return
    from AxillaryPredictorLib.reporting.nomogram import Nomogram, case_values

    try:
        nomogram = Nomogram.from_package(package)
    except ValueError as error:
        prediction.warnings.append(f"No nomogram for this model: {error}")
        return
    values = case_values(package, design)
    prediction.nomogram_values = values
    prediction.predictor_points = nomogram.points(values)
    prediction.total_points = nomogram.total_points(values)
    if abs(nomogram.probability_from_points(prediction.total_points) - prediction.probability) > 0.005:
        prediction.warnings.append("The nomogram's probability differs from the model's by more than 0.5 points.")
