"""One user's case in the web app: the MRML scene of trame-slicer and the module's Logic on it.

The page (``web/app.py``) only shows state and forwards clicks here. Everything a user does goes
through code the other front-ends use: segment-editor effects are trame-slicer's (Slicer's own
segmentation logic), regions are ``scene.logic.AxillaryPredictorLogicBase.buildRegions``, and a
prediction is the case pipeline's ``pipeline.CaseInputs`` (single or paired) scored by
``pipeline.predict_case``, the function the command line and the Slicer Logic call. Reports are
``reporting.write_prediction``. Bad input raises an ``AxillaryPredictorError`` whose message the page shows.

A case holds one scan, a baseline and an on-treatment scan (delta models) or two views (two-view
DBT models): its ``kind`` (``CASE_KINDS``). Each scan has its own volume and segmentation; the
segment editor works on the *active* one, and regions are built on every scan with one
``RegionSettings``.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from AxillaryPredictorLib.errors import AxillaryPredictorError, InputError, ModelError, RegionError

#: Image files the Load step accepts (a DICOM series is a folder given by path, or a .zip upload).
IMAGE_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd", ".zip")


@dataclass(frozen=True)
class CaseKind:
    """What a case holds: its scans (in the order a model's views or timepoints are matched) and
    the bundled synthetic case of that kind (``phantoms`` presets, seed 0)."""

    title: str
    scans: tuple[str, ...]
    synthetic_id: str


#: The kinds of case the Load step offers, by the models that need them.
CASE_KINDS = {
    "single": CaseKind("One scan", ("scan",), "synthetic-dce-0"),
    "delta": CaseKind("Baseline + on-treatment (delta models)", ("baseline", "ontreatment"), "synthetic-pcr-0"),
    "two-view": CaseKind("Two views: CC + MLO (two-view DBT models)", ("CC", "MLO"), "synthetic-dbt-0"),
}

#: How the page names each scan.
SCAN_LABELS = {"scan": "scan", "baseline": "baseline", "ontreatment": "on-treatment", "CC": "CC view",
               "MLO": "MLO view"}

#: ``progress(fraction, message)`` as the pipeline calls it.
Progress = Callable[[float, str], None]


def synthetic_phantoms(kind: str) -> tuple[str, dict[str, Any]]:
    """The bundled synthetic case of a kind: (case ID, {scan: ``phantoms.Phantom``}). Single: a DCE-MRI
    breast; delta: ``make_pair`` (on-treatment lesion at half the volume); two-view: the DBT CC and
    MLO presets of one lesion."""
    from AxillaryPredictorLib.phantoms import make_pair, make_phantom

    case_id = _case_kind(kind).synthetic_id
    if kind == "delta":
        baseline, ontreatment = make_pair(0, preset="dce", node=True)
        return case_id, {"baseline": baseline, "ontreatment": ontreatment}
    if kind == "two-view":
        return case_id, {"CC": make_phantom("dbt-cc", 0, node=True), "MLO": make_phantom("dbt-mlo", 0, node=True)}
    return case_id, {"scan": make_phantom("dce", 0, node=True)}


def model_case_kind(document: dict) -> str:
    """The kind of case a model package scores: delta (two timepoints), two views, or one scan."""
    inputs = document["inputs"]
    if inputs.get("timepoints"):
        if len(inputs["views"]) != 1:
            raise ModelError(f"Model {document['id']} needs two timepoints of {len(inputs['views'])} views; the web "
                             "app loads one view per timepoint: use the command line (cohort) for it.")
        return "delta"
    if len(inputs["views"]) == 2:
        return "two-view"
    if len(inputs["views"]) != 1:
        raise ModelError(f"Model {document['id']} needs {len(inputs['views'])} views "
                         f"({', '.join(inputs['views'])}); the web app loads one or two: use the command line.")
    return "single"


def _case_kind(kind: str) -> CaseKind:
    if kind not in CASE_KINDS:
        raise InputError(f"Unknown kind of case '{kind}'; choose one of {', '.join(CASE_KINDS)}.")
    return CASE_KINDS[kind]


@dataclass
class SegmentEditorParts:
    """What the session needs from trame-slicer's ``SlicerApp`` (kept apart so tests need no server)."""

    scene: Any
    editor: Any          # trame_slicer.core.SegmentationEditor
    show_volume: Any     # callable(volume_node): show it in the slice views


@dataclass
class ScanNodes:
    """One scan of the case in the scene: its volume and its segmentation (segment ``tumor``)."""

    volume: Any
    segmentation: Any


@dataclass
class PredictionJob:
    """A prediction read from the scene (``prepare_prediction``, main thread) and run off it
    (``run_prediction``: only SimpleITK images, so a worker thread may run it)."""

    package: Any
    inputs: Any          # pipeline.CaseInputs
    settings: Any        # pipeline.RegionSettings or None (the package's margins)


class WebSession:
    """The case being worked on: its scans, segmentations, regions, model and prediction."""

    def __init__(self, parts: SegmentEditorParts, work_dir: str | Path | None = None,
                 user_model_folder: str | None = None) -> None:
        from AxillaryPredictorLib.scene.logic import AxillaryPredictorLogicBase

        self.parts = parts
        self.logic = AxillaryPredictorLogicBase(parts.scene, user_model_folder)
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="axillary-predictor-web-"))
        self.kind = "single"
        self.scans: dict[str, ScanNodes] = {}
        self.active = "scan"
        self.case_id = ""
        self.region_settings = None
        self.region_report: list[dict] = []
        self.result = None

    # ------------------------------------------------------------------ case

    @property
    def volume(self) -> Any:
        """The active scan's volume node (None before it is loaded)."""
        return self.scans[self.active].volume if self.active in self.scans else None

    @property
    def segmentation(self) -> Any:
        """The active scan's segmentation node (None before it is loaded)."""
        return self.scans[self.active].segmentation if self.active in self.scans else None

    def set_kind(self, kind: str) -> str:
        """Start a case of another kind (one scan, two timepoints, two views); clears the loaded case."""
        scans = _case_kind(kind).scans
        if kind == self.kind:
            return ""
        self._clear_case()
        self.kind, self.active = kind, scans[0]
        return (f"{CASE_KINDS[kind].title}: load the {' and the '.join(SCAN_LABELS[s] for s in scans)} "
                "(or the synthetic case).")

    def select_scan(self, scan: str) -> str:
        """Show ``scan`` and make it the one the Load and Segment steps change."""
        if scan not in CASE_KINDS[self.kind].scans:
            raise InputError(f"A {CASE_KINDS[self.kind].title.lower()} case has no scan '{scan}'; choose one of "
                             f"{', '.join(CASE_KINDS[self.kind].scans)}.")
        self.active = scan
        if scan in self.scans:
            self._activate_editor()
            self._show_active()
            return f"Showing and editing the {SCAN_LABELS[scan]}."
        return f"Load the {SCAN_LABELS[scan]} (step 1)."

    def scan_status(self) -> list[dict]:
        """Per scan of the case: label, whether it is loaded, its tumor voxels, whether it is active."""
        return [{"scan": s, "label": SCAN_LABELS[s], "loaded": s in self.scans, "active": s == self.active,
                 "tumor_voxels": self.tumor_voxels(s) if s in self.scans else 0,
                 "name": self.scans[s].volume.GetName() if s in self.scans else ""}
                for s in CASE_KINDS[self.kind].scans]

    def missing_scans(self) -> list[str]:
        return [SCAN_LABELS[s] for s in CASE_KINDS[self.kind].scans if s not in self.scans]

    def _clear_case(self) -> None:
        from AxillaryPredictorLib.scene.nodes import remove_nodes

        remove_nodes(self.parts.scene, [n for scan in self.scans.values() for n in (scan.volume, scan.segmentation)])
        self.scans, self.case_id = {}, ""
        self._forget_results()

    def _forget_results(self) -> None:
        self.region_settings, self.region_report, self.result = None, [], None

    # ------------------------------------------------------------------ load

    def load_synthetic(self) -> str:
        """Load the bundled synthetic case of the current kind (images only: the tumor is for the
        user to segment)."""
        case_id, phantoms = synthetic_phantoms(self.kind)
        self._clear_case()
        for scan, phantom in phantoms.items():
            self._add_scan(scan, phantom.image, f"{case_id} {scan}" if len(phantoms) > 1 else case_id)
        self.case_id, self.active = case_id, CASE_KINDS[self.kind].scans[0]
        self._activate_editor()
        self._show_active()
        return f"Loaded {case_id}: {', '.join(_describe(p.image) for p in phantoms.values())}."

    def load_image_file(self, path: str | Path, case_id: str | None = None, scan: str | None = None) -> str:
        """Load an image file (NRRD, NIfTI, MHA) or a DICOM folder / .zip of a DICOM series as
        ``scan`` (default: the active one). The case ID comes from the first image's file name."""
        from AxillaryPredictorLib.imaging.io import read_image

        scan = scan or self.active
        if scan not in CASE_KINDS[self.kind].scans:
            raise InputError(f"A {CASE_KINDS[self.kind].title.lower()} case has no scan '{scan}'.")
        path = Path(str(path).strip())
        if not str(path) or str(path) == ".":
            raise InputError("Give the path of an image file or DICOM folder on the server.")
        if path.is_file() and path.name.lower().endswith(".zip"):
            path = self._unzip(path)
        image = read_image(path)
        if image.GetDimension() != 3:
            raise InputError(f"{path.name} is a {image.GetDimension()}D image; load a 3D volume.")
        if self.kind == "single" or not self.case_id:
            self.case_id = case_id or _case_id_from(path)
        self._add_scan(scan, image, _case_id_from(path))
        self.active = scan
        self._activate_editor()
        self._show_active()
        where = f" as the {SCAN_LABELS[scan]}" if self.kind != "single" else ""
        return f"Loaded {self.case_id}{where}: {_describe(image)}."

    def load_segmentation_file(self, path: str | Path, segment: str | None = None) -> str:
        """Load an existing tumor segmentation (labelmap, .seg.nrrd, DICOM SEG) of the active scan, on its grid."""
        from AxillaryPredictorLib.imaging.io import read_mask
        from AxillaryPredictorLib.scene.nodes import volume_node_to_image

        volume = self._need_volume()
        mask = read_mask(Path(str(path).strip()), segment=segment or None, reference=volume_node_to_image(volume))
        if not _voxels(mask):
            raise RegionError(f"The segmentation {Path(path).name} is empty: it has no tumor voxel.")
        self._replace_tumor(mask)
        where = f" of the {SCAN_LABELS[self.active]}" if self.kind != "single" else ""
        return f"Segmentation {Path(path).name} loaded as segment 'tumor'{where} ({_voxels(mask)} voxels)."

    def _add_scan(self, scan: str, image: Any, name: str) -> None:
        """Put ``image`` in the scene as ``scan`` (replacing that scan) with an empty tumor segment."""
        from AxillaryPredictorLib.scene.nodes import add_volume_node, remove_nodes

        old = self.scans.pop(scan, None)
        if old is not None:
            remove_nodes(self.parts.scene, [old.volume, old.segmentation])
        volume = add_volume_node(self.parts.scene, image, name or "case")
        segmentation, _ = self.logic.createTumorSegment(None, volume)
        self.scans[scan] = ScanNodes(volume, segmentation)
        self._forget_results()

    def _show_active(self) -> None:
        """The active scan in the slice views, and only its segmentation (the scans share physical space)."""
        for scan, nodes in self.scans.items():
            display = nodes.segmentation.GetDisplayNode()
            if display is not None:
                display.SetVisibility(scan == self.active)
        self.parts.show_volume(self.volume)

    def _unzip(self, path: Path) -> Path:
        target = self.work_dir / f"unzipped-{path.stem}"
        shutil.rmtree(target, ignore_errors=True)
        try:
            with zipfile.ZipFile(path) as archive:
                archive.extractall(target)
        except zipfile.BadZipFile as error:
            raise InputError(f"{path.name} is not a valid .zip archive: {error}.") from error
        return target

    def _need_volume(self) -> Any:
        if self.volume is None:
            scan = f"the {SCAN_LABELS[self.active]}" if self.kind != "single" else "an image"
            raise InputError(f"Load {scan} first (step 1).")
        return self.volume

    # --------------------------------------------------------------- segment

    def _activate_editor(self) -> None:
        """Point trame-slicer's segment editor at the active scan's tumor segment (a fresh undo stack:
        trame-slicer clears it when the segmentation changes)."""
        from undo_stack import UndoStack

        editor = self.parts.editor
        if editor.undo_stack is None:
            editor.set_undo_stack(UndoStack())
        editor.set_active_segmentation(self.segmentation, self.volume)
        editor.set_active_segment_id(self.segmentation.GetSegmentation().GetSegmentIdBySegmentName("tumor"))

    def _replace_tumor(self, mask: Any) -> None:
        from AxillaryPredictorLib.scene.nodes import find_segment_id, import_label_image

        segmentation = self.segmentation.GetSegmentation()
        segmentation.RemoveSegment(find_segment_id(self.segmentation, "tumor"))
        import_label_image(self.segmentation, mask, {1: "tumor"}, {1: (0.85, 0.25, 0.2)})
        self._activate_editor()

    def edit_segment(self, name: str) -> str:
        """Make ``tumor`` or ``node`` (created empty when missing) the segment the effects change."""
        from AxillaryPredictorLib.scene.logic import SEGMENT_COLORS

        if name not in SEGMENT_COLORS:
            raise InputError(f"Edit 'tumor' or 'node', not '{name}'.")
        self._need_volume()
        segmentation = self.segmentation.GetSegmentation()
        segment_id = segmentation.GetSegmentIdBySegmentName(name)
        if not segment_id:
            segment_id = segmentation.AddEmptySegment("", name, list(SEGMENT_COLORS[name]))
        self.parts.editor.set_active_segment_id(segment_id)
        return f"Editing segment '{name}'{self._of_scan()}."

    def _of_scan(self) -> str:
        return f" of the {SCAN_LABELS[self.active]}" if self.kind != "single" else ""

    def threshold(self, low: float, high: float) -> str:
        """Slicer's Threshold effect on the edited segment (voxels with low <= intensity <= high)."""
        from trame_slicer.segmentation import SegmentationEffectThreshold

        self._need_volume()
        if high < low:
            raise InputError(f"The threshold range is empty: minimum {low:g} is above maximum {high:g}.")
        effect = self.parts.editor.set_active_effect_type(SegmentationEffectThreshold)
        effect.set_threshold_min_max_values((float(low), float(high)))
        effect.apply()
        self.parts.editor.deactivate_effect()
        return f"Threshold {low:g} to {high:g}{self._of_scan()}: {self.tumor_voxels()} tumor voxels."

    def keep_largest_island(self) -> str:
        """Slicer's Islands effect, 'keep largest island', on the edited segment."""
        from trame_slicer.segmentation import SegmentationEffectIslands, SegmentationIslandsMode

        self._need_volume()
        effect = self.parts.editor.set_active_effect_type(SegmentationEffectIslands)
        effect.apply(SegmentationIslandsMode.KEEP_LARGEST_ISLAND)
        self.parts.editor.deactivate_effect()
        return f"Kept the largest island{self._of_scan()}: {self.tumor_voxels()} tumor voxels."

    def set_paint_tool(self, tool: str) -> str:
        """Activate an interactive effect in the slice views ('paint', 'erase' or 'none')."""
        from trame_slicer.segmentation import SegmentationEffectErase, SegmentationEffectPaint

        self._need_volume()
        editor = self.parts.editor
        if tool == "paint":
            editor.set_active_effect_type(SegmentationEffectPaint)
        elif tool == "erase":
            editor.set_active_effect_type(SegmentationEffectErase)
        else:
            editor.deactivate_effect()
        return {"paint": "Paint: drag in a slice view.", "erase": "Erase: drag in a slice view."}.get(tool, "")

    def undo(self) -> str:
        stack = self.parts.editor.undo_stack
        if stack is None or not stack.can_undo():
            return "Nothing to undo."
        stack.undo()
        return f"Undone: {self.tumor_voxels()} tumor voxels."

    def redo(self) -> str:
        stack = self.parts.editor.undo_stack
        if stack is None or not stack.can_redo():
            return "Nothing to redo."
        stack.redo()
        return f"Redone: {self.tumor_voxels()} tumor voxels."

    def tumor_voxels(self, scan: str | None = None) -> int:
        """Voxels of the tumor segment of ``scan`` (default: the active one) on its image grid."""
        scan = scan or self.active
        if scan not in self.scans:
            self._need_volume()
            raise InputError(f"The {SCAN_LABELS.get(scan, scan)} is not loaded.")
        nodes = self.scans[scan]
        return _voxels(self.logic.segmentMask(nodes.segmentation, "tumor", nodes.volume))

    # --------------------------------------------------------------- regions

    def build_regions(self, margins: str, exclude_below: float | None = None) -> list[dict]:
        """The Logic's ``buildRegions`` on every loaded scan with one ``RegionSettings``: regions added
        as segments, the settings recorded on each segmentation; ``predict`` scores exactly these
        regions. An empty on-treatment tumor (complete response) has no regions."""
        self._need_volume()
        settings = self.logic.regionSettings(margins, exclude_below)
        work = []
        for scan, nodes in self.scans.items():
            if self.tumor_voxels(scan) == 0 and scan != "ontreatment":
                raise RegionError(f"The tumor segment of the {SCAN_LABELS[scan]} is empty: segment it first (step 2).")
            work.append((scan, nodes))
        rows = []
        for scan, nodes in work:
            label = SCAN_LABELS[scan]
            if scan == "ontreatment" and self.tumor_voxels(scan) == 0:
                rows.append({"scan": label, "region": "(none)", "voxels": 0, "volume_mm3": 0.0, "clipped": "",
                             "warnings": "empty on-treatment tumor: complete response, no regions"})
                continue
            region_set = self.logic.buildRegions(nodes.segmentation, "tumor", nodes.volume, margins,
                                                 excludeBelow=exclude_below)
            rows += [{"scan": label, "region": name, "voxels": report.voxels,
                      "volume_mm3": round(report.volume_mm3, 1), "clipped": f"{report.clipped_fraction:.0%}",
                      "warnings": "; ".join(report.warnings)} for name, report in region_set.reports.items()]
        self.region_settings, self.region_report, self.result = settings, rows, None
        return self.region_report

    # ----------------------------------------------------------------- model

    def models(self) -> list[dict]:
        return [{"title": f"{e['title']} ({e['id']}, {e.get('status') or 'unknown'})", "value": e["id"]}
                for e in self.logic.listModels()]

    def model_card(self, model_id: str) -> list[dict]:
        """The model card's fields (label, text) from ``reporting.model_card``."""
        from AxillaryPredictorLib.reporting.model_card import model_card, status_warning

        document = self._package(model_id).document
        rows = [{"label": label, "text": str(text)} for label, text in model_card(document).items()]
        warning = status_warning(document["status"])
        return ([{"label": "caution", "text": warning}] if warning else []) + rows

    def _package(self, model_id: str) -> Any:
        from AxillaryPredictorLib.packages.registry import find_model

        return find_model(model_id, self.logic.userModelFolder)

    def model_kind(self, model_id: str) -> str:
        """The kind of case (``CASE_KINDS``) the model scores."""
        return model_case_kind(self._package(model_id).document)

    def kind_mismatch(self, model_id: str) -> str:
        """'' when the case is of the kind the model needs, else what to do."""
        needed = self.model_kind(model_id)
        if needed == self.kind:
            return ""
        return (f"Model {model_id} needs a case of kind '{CASE_KINDS[needed].title}'; this case is "
                f"'{CASE_KINDS[self.kind].title}': choose that kind in step 1 and load the case.")

    def clinical_inputs(self, model_id: str) -> list[dict]:
        """The model's clinical inputs, for the page to build one field each (no default value)."""
        return [{**v, "unit": v.get("unit") or "", "levels": list(v.get("levels") or []),
                 "hint": _hint(v)} for v in self.logic.clinicalVariables(model_id)]

    def add_user_model(self, path: str | Path) -> str:
        """Verify a model package (schema, SHA-256) and add it to the user models."""
        return self.logic.loadModelPackage(str(path))

    # --------------------------------------------------------------- predict

    def predict(self, model_id: str, clinical: dict[str, Any], progress: Progress | None = None) -> dict:
        """Predict the case: ``prepare_prediction``, ``run_prediction``, ``finish_prediction`` in turn
        (the page runs the middle one in a worker thread, to show progress while it extracts)."""
        job = self.prepare_prediction(model_id, clinical)
        prediction = self.run_prediction(job, progress)
        return self.finish_prediction(job, prediction)

    def prepare_prediction(self, model_id: str, clinical: dict[str, Any]) -> PredictionJob:
        """Check the case against the model and read it from the scene as ``pipeline.CaseInputs``:
        one scan per view (single, two-view) or a baseline/on-treatment pair (delta). Main thread."""
        from AxillaryPredictorLib.pipeline import CaseInputs

        self._check_ready(model_id, clinical)
        package = self._package(model_id)
        spec = package.document["inputs"]
        node = "node" in spec["regions"]
        scans = {s: self._scan(s, node) for s in CASE_KINDS[self.kind].scans}
        if self.kind == "delta":
            view = spec["views"][0]
            inputs = CaseInputs.paired(self.case_id, {view: scans["baseline"]}, {view: scans["ontreatment"]},
                                       dict(clinical))
        else:
            views = scans if set(scans) == set(spec["views"]) else dict(zip(spec["views"], scans.values(), strict=True))
            inputs = CaseInputs.single(self.case_id, views, dict(clinical))
        return PredictionJob(package, inputs, self.region_settings)

    def _check_ready(self, model_id: str, clinical: dict[str, Any]) -> None:
        self._need_volume()
        if not model_id:
            raise ModelError("Choose a model first (step 4).")
        mismatch = self.kind_mismatch(model_id)
        if mismatch:
            raise ModelError(mismatch)
        missing = [v["label"] or v["name"] for v in self.clinical_inputs(model_id)
                   if clinical.get(v["name"]) in (None, "")]
        if missing:
            raise InputError(f"Set every clinical input first: {', '.join(missing)}.")
        if self.missing_scans():
            raise InputError(f"Load the {' and the '.join(self.missing_scans())} first (step 1).")
        for scan in CASE_KINDS[self.kind].scans:
            if scan != "ontreatment" and self.tumor_voxels(scan) == 0:
                where = "" if self.kind == "single" else f" of the {SCAN_LABELS[scan]}"
                raise RegionError(f"The tumor segment{where} is empty: segment the tumor first (step 2).")

    def _scan(self, scan: str, node: bool) -> Any:
        """The ``pipeline.Scan`` of one scan's volume and segmentation (an empty on-treatment tumor:
        an empty mask, the pipeline's complete response)."""
        from AxillaryPredictorLib.pipeline import Scan
        from AxillaryPredictorLib.scene.nodes import segment_to_image, volume_node_to_image
        from AxillaryPredictorLib.scene.regions import empty_mask, tumor_mask_from_segment

        nodes = self.scans[scan]
        image = volume_node_to_image(nodes.volume)
        empty = scan == "ontreatment" and self.tumor_voxels(scan) == 0
        tumor = empty_mask(image) if empty else tumor_mask_from_segment(nodes.segmentation, "tumor", nodes.volume)
        return Scan(image, tumor, segment_to_image(nodes.segmentation, "node", nodes.volume) if node else None)

    @staticmethod
    def run_prediction(job: PredictionJob, progress: Progress | None = None) -> Any:
        """``pipeline.predict_case`` on the job's case with the regions' settings; ``progress(fraction,
        'Extracting features: 43% — …')`` follows the extraction. Touches no MRML node."""
        from AxillaryPredictorLib.pipeline import predict_case

        delta = job.inputs.is_delta

        def report(fraction: float, message: str) -> None:
            # extract_case gives each timepoint an equal share: the baseline's ends at 0.5
            where = ("baseline " if fraction <= 0.5 else "on-treatment ") if delta else ""
            progress(fraction, f"Extracting features: {fraction:.0%} — {where}{message}")

        prediction = predict_case(job.package, job.inputs, job.settings, workers=1,
                                  progress=report if progress is not None else None)
        if progress is not None:
            progress(1.0, "Features extracted; scoring done.")
        return prediction

    def finish_prediction(self, job: PredictionJob, prediction: Any) -> dict:
        """Add the prediction to the scene (table, nomogram, report text), as the Slicer Logic does. Main thread."""
        from AxillaryPredictorLib.scene.logic import SceneResult

        result = SceneResult(job.package, prediction)
        result.addToScene(self.parts.scene)
        shutil.rmtree(self.work_dir / "report", ignore_errors=True)  # an earlier prediction's report
        self.result = result
        return self.result_summary()

    def result_summary(self) -> dict:
        """Probability, risk group, points and warnings of the last prediction, for the page."""
        p = self.result.prediction
        return {"case_id": p.case_id, "probability": round(p.probability, 4), "percent": f"{p.probability:.1%}",
                "risk_group": p.risk_group, "threshold": p.threshold, "total_points": p.total_points,
                "points": [{"term": k, "points": round(float(v), 2)} for k, v in p.predictor_points.items()],
                "warnings": list(p.warnings), "summary": p.summary()}

    # ---------------------------------------------------------------- report

    def report_files(self) -> dict[str, Path]:
        """report.html, report.pdf, nomogram.png, prediction.json of the last prediction (written once)."""
        if self.result is None:
            raise InputError("Predict first (step 5).")
        folder = self.work_dir / "report"
        if not (folder / "prediction.json").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            self.logic.saveReport(self.result, str(folder))
        return {p.name: p for p in folder.iterdir() if p.is_file()}

    def _file_stem(self, scan: str) -> str:
        return _safe(self.case_id) + ("" if self.kind == "single" else f"-{scan}")

    def export_tumor(self, scan: str | None = None) -> Path:
        """The tumor segment of ``scan`` (default: the active one) as a labelmap NRRD on its image grid
        (``--mask`` / ``--baseline-mask`` … of the command line)."""
        from AxillaryPredictorLib.imaging.io import write_image

        scan = scan or self.active
        if scan not in self.scans:
            raise InputError(f"The {SCAN_LABELS.get(scan, scan)} is not loaded.")
        nodes = self.scans[scan]
        mask = self.logic.segmentMask(nodes.segmentation, "tumor", nodes.volume)
        if not _voxels(mask) and scan != "ontreatment":
            raise RegionError("The tumor segment is empty: nothing to export.")
        return write_image(mask, self.work_dir / f"{self._file_stem(scan)}-tumor.nrrd")

    def export_image(self, scan: str | None = None) -> Path:
        """The image of ``scan`` (default: the active one) as NRRD (``--image`` … of the command line)."""
        from AxillaryPredictorLib.imaging.io import write_image
        from AxillaryPredictorLib.scene.nodes import volume_node_to_image

        scan = scan or self.active
        if scan not in self.scans:
            raise InputError(f"The {SCAN_LABELS.get(scan, scan)} is not loaded.")
        image = volume_node_to_image(self.scans[scan].volume)
        return write_image(image, self.work_dir / f"{self._file_stem(scan)}.nrrd")

    def save_scene(self) -> Path:
        """The scene as a zip of the .mrml file and its data files (what Slicer's 'Save' writes)."""
        from AxillaryPredictorLib.scene.nodes import save_scene

        self._need_volume()
        folder = self.work_dir / "scene"
        shutil.rmtree(folder, ignore_errors=True)
        save_scene(self.parts.scene, folder)
        archive = self.work_dir / f"{_safe(self.case_id)}-scene.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
            for path in sorted(folder.iterdir()):
                out.write(path, path.name)
        return archive


def _voxels(mask: Any) -> int:
    import SimpleITK as sitk

    return int(sitk.GetArrayViewFromImage(mask).astype(bool).sum())


def _describe(image: Any) -> str:
    size = "×".join(str(n) for n in image.GetSize())
    spacing = " × ".join(f"{s:g}" for s in image.GetSpacing())
    return f"{size} voxels of {spacing} mm"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "case"


def _case_id_from(path: Path) -> str:
    """Default case ID: the file name without image extensions (or the folder name)."""
    name = path.name
    for suffix in (".nii.gz", ".nrrd", ".nhdr", ".nii", ".mha", ".mhd", ".zip"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _hint(variable: dict) -> str:
    if variable.get("levels"):
        return "one of: " + ", ".join(variable["levels"])
    if variable.get("range"):
        low, high = variable["range"]
        return f"{low:g} to {high:g}" + (f" {variable['unit']}" if variable.get("unit") else "")
    return ""


def user_message(error: BaseException) -> str:
    """What the page shows for a failure: the message of a user error, a bug notice otherwise."""
    if isinstance(error, (AxillaryPredictorError, FileNotFoundError)):
        return str(error)
    return f"Unexpected {type(error).__name__}: {error} (this is a bug; the server log has the traceback)."
