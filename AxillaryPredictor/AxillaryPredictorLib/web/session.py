"""One user's case in the web app: the MRML scene of trame-slicer and the module's Logic on it.

The page (``web/app.py``) only shows state and forwards clicks here. Everything a user does goes
through code the other front-ends use: segment-editor effects are trame-slicer's (Slicer's own
segmentation logic), regions and predictions are ``scene.logic.AxillaryPredictorLogicBase``'s
``buildRegions`` / ``predict`` (the one case pipeline), reports are ``reporting.write_prediction``.
Bad input raises an ``AxillaryPredictorError`` whose message the page shows.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from AxillaryPredictorLib.errors import AxillaryPredictorError, InputError, ModelError, RegionError

#: Image files the Load step accepts (a DICOM series is a folder given by path, or a .zip upload).
IMAGE_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd", ".zip")

#: The synthetic case the Load step offers (``phantoms.make_phantom`` preset and seed).
SYNTHETIC_CASE = {"preset": "dce", "seed": 0, "case_id": "synthetic-dce-0"}


@dataclass
class SegmentEditorParts:
    """What the session needs from trame-slicer's ``SlicerApp`` (kept apart so tests can pass fakes)."""

    scene: Any
    editor: Any          # trame_slicer.core.SegmentationEditor
    show_volume: Any     # callable(volume_node): show it in the slice views


class WebSession:
    """The case being worked on: its volume, segmentation, regions, model and prediction."""

    def __init__(self, parts: SegmentEditorParts, work_dir: str | Path | None = None,
                 user_model_folder: str | None = None) -> None:
        from AxillaryPredictorLib.scene.logic import AxillaryPredictorLogicBase

        self.parts = parts
        self.logic = AxillaryPredictorLogicBase(parts.scene, user_model_folder)
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="axillary-predictor-web-"))
        self.volume = None
        self.segmentation = None
        self.case_id = ""
        self.region_settings = None
        self.region_report: list[dict] = []
        self.result = None

    # ------------------------------------------------------------------ load

    def load_synthetic(self) -> str:
        """Load the bundled synthetic breast DCE case (image only: the tumor is for the user to segment)."""
        from AxillaryPredictorLib.phantoms import make_phantom

        phantom = make_phantom(SYNTHETIC_CASE["preset"], SYNTHETIC_CASE["seed"], node=True)
        return self._set_image(phantom.image, SYNTHETIC_CASE["case_id"])

    def load_image_file(self, path: str | Path, case_id: str | None = None) -> str:
        """Load an image file (NRRD, NIfTI, MHA) or a DICOM folder / .zip of a DICOM series."""
        from AxillaryPredictorLib.imaging.io import read_image

        path = Path(str(path).strip())
        if not str(path) or str(path) == ".":
            raise InputError("Give the path of an image file or DICOM folder on the server.")
        if path.is_file() and path.name.lower().endswith(".zip"):
            path = self._unzip(path)
        image = read_image(path)
        if image.GetDimension() != 3:
            raise InputError(f"{path.name} is a {image.GetDimension()}D image; load a 3D volume.")
        return self._set_image(image, case_id or _case_id_from(path))

    def load_segmentation_file(self, path: str | Path, segment: str | None = None) -> str:
        """Load an existing tumor segmentation (labelmap, .seg.nrrd, DICOM SEG) on the loaded image's grid."""
        from AxillaryPredictorLib.imaging.io import read_mask
        from AxillaryPredictorLib.scene.nodes import volume_node_to_image

        volume = self._need_volume()
        mask = read_mask(Path(str(path).strip()), segment=segment or None, reference=volume_node_to_image(volume))
        if not _voxels(mask):
            raise RegionError(f"The segmentation {Path(path).name} is empty: it has no tumor voxel.")
        self._replace_tumor(mask)
        return f"Segmentation {Path(path).name} loaded as segment 'tumor' ({_voxels(mask)} voxels)."

    def _set_image(self, image: Any, case_id: str) -> str:
        from AxillaryPredictorLib.scene.nodes import add_volume_node, remove_nodes

        remove_nodes(self.parts.scene, [self.volume, self.segmentation])
        self.volume = add_volume_node(self.parts.scene, image, case_id or "case")
        self.segmentation, _ = self.logic.createTumorSegment(None, self.volume)
        self.case_id, self.region_settings, self.region_report, self.result = case_id, None, [], None
        self._activate_editor()
        self.parts.show_volume(self.volume)
        size = "×".join(str(n) for n in image.GetSize())
        spacing = " × ".join(f"{s:g}" for s in image.GetSpacing())
        return f"Loaded {case_id}: {size} voxels of {spacing} mm."

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
            raise InputError("Load an image first (step 1).")
        return self.volume

    # --------------------------------------------------------------- segment

    def _activate_editor(self) -> None:
        """Point trame-slicer's segment editor at the tumor segment, with a fresh undo stack."""
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
        return f"Editing segment '{name}'."

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
        return f"Threshold {low:g} to {high:g}: {self.tumor_voxels()} tumor voxels."

    def keep_largest_island(self) -> str:
        """Slicer's Islands effect, 'keep largest island', on the edited segment."""
        from trame_slicer.segmentation import SegmentationEffectIslands, SegmentationIslandsMode

        self._need_volume()
        effect = self.parts.editor.set_active_effect_type(SegmentationEffectIslands)
        effect.apply(SegmentationIslandsMode.KEEP_LARGEST_ISLAND)
        self.parts.editor.deactivate_effect()
        return f"Kept the largest island: {self.tumor_voxels()} tumor voxels."

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

    def tumor_voxels(self) -> int:
        """Voxels of the tumor segment on the image grid."""
        return _voxels(self.logic.segmentMask(self.segmentation, "tumor", self._need_volume()))

    # --------------------------------------------------------------- regions

    def build_regions(self, margins: str, exclude_below: float | None = None) -> list[dict]:
        """The Logic's ``buildRegions``: regions added as segments; the settings are recorded on
        the segmentation and ``predict`` scores exactly these regions."""
        self._need_volume()
        region_set = self.logic.buildRegions(self.segmentation, "tumor", self.volume, margins,
                                             excludeBelow=exclude_below)
        self.region_settings = self.logic.regionSettings(margins, exclude_below)
        self.region_report = [{"region": name, "voxels": report.voxels, "volume_mm3": round(report.volume_mm3, 1),
                               "clipped": f"{report.clipped_fraction:.0%}", "warnings": "; ".join(report.warnings)}
                              for name, report in region_set.reports.items()]
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

    def clinical_inputs(self, model_id: str) -> list[dict]:
        """The model's clinical inputs, for the page to build one field each (no default value)."""
        return [{**v, "unit": v.get("unit") or "", "levels": list(v.get("levels") or []),
                 "hint": _hint(v)} for v in self.logic.clinicalVariables(model_id)]

    def add_user_model(self, path: str | Path) -> str:
        """Verify a model package (schema, SHA-256) and add it to the user models."""
        return self.logic.loadModelPackage(str(path))

    # --------------------------------------------------------------- predict

    def predict(self, model_id: str, clinical: dict[str, Any], progress: Any = None) -> dict:
        """The Logic's ``predict`` on the loaded case with the regions' recorded settings."""
        self._need_volume()
        if not model_id:
            raise ModelError("Choose a model first (step 4).")
        missing = [v["label"] or v["name"] for v in self.clinical_inputs(model_id)
                   if clinical.get(v["name"]) in (None, "")]
        if missing:
            raise InputError(f"Set every clinical input first: {', '.join(missing)}.")
        if self.tumor_voxels() == 0:
            raise RegionError("The tumor segment is empty: segment the tumor first (step 2).")
        inputs = self._package(model_id).document["inputs"]
        if inputs.get("timepoints") or len(inputs["views"]) != 1:
            raise ModelError(f"Model {model_id} needs {' and '.join(inputs.get('timepoints') or inputs['views'])}: "
                             "the web app scores single-scan, single-view models; use the command line or "
                             "Slicer for this model.")
        views = {inputs["views"][0]: (self.volume, self.segmentation)}
        self.result = self.logic.predict(model_id, views, dict(clinical), caseId=self.case_id,
                                         progress=progress, regionSettings=self.region_settings, workers=1)
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

    def export_tumor(self) -> Path:
        """The tumor segment as a labelmap NRRD on the image grid (``--mask`` of the command line)."""
        from AxillaryPredictorLib.imaging.io import write_image

        mask = self.logic.segmentMask(self.segmentation, "tumor", self._need_volume())
        if not _voxels(mask):
            raise RegionError("The tumor segment is empty: nothing to export.")
        return write_image(mask, self.work_dir / f"{_safe(self.case_id)}-tumor.nrrd")

    def export_image(self) -> Path:
        """The loaded image as NRRD (``--image`` of the command line)."""
        from AxillaryPredictorLib.imaging.io import write_image
        from AxillaryPredictorLib.scene.nodes import volume_node_to_image

        return write_image(volume_node_to_image(self._need_volume()), self.work_dir / f"{_safe(self.case_id)}.nrrd")

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
