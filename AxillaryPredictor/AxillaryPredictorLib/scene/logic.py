"""AxillaryPredictorLogicBase: every method of the Slicer module's Logic.

``AxillaryPredictor.AxillaryPredictorLogic`` (a ``ScriptedLoadableModuleLogic``) holds an
instance of this class and forwards every method it does not define to it, adding only the
parameter node; it does not inherit from it because ``AxillaryPredictor.py`` may import only
Slicer, Qt, VTK, SimpleITK, numpy and the standard library at file scope (Slicer's extension
review; a first start has no pandas/sklearn yet). So the Logic's behaviour is tested outside
Slicer on the headless scene (``ScriptedLoadableModule`` exists only inside Slicer). Methods use Slicer's
camelCase, take nodes and plain values, raise ``ValueError`` with a clear message on
bad input, never open dialogs, and report progress through an optional callback
``progress(fraction: float, message: str)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from AxillaryPredictorLib.errors import InputError

ProgressCallback = Callable[[float, str], None]

#: Colours (RGB 0..1) of the segments the module creates, by role.
SEGMENT_COLORS = {"tumor": (0.85, 0.25, 0.2), "node": (0.95, 0.8, 0.2)}


class AxillaryPredictorLogicBase:
    """Logic methods shared by the Slicer module, the Python console and batch runs."""

    def __init__(self, scene: Any | None = None, userModelFolder: str | None = None) -> None:
        """``scene``: the MRML scene to work in (default: ``slicer.mrmlScene`` inside Slicer);
        ``userModelFolder``: the user's model packages (default: ``$AXILLARY_PREDICTOR_MODELS``
        or ``~/.axillary-predictor/models``; the Slicer module passes its setting)."""
        self._scene = scene
        self.userModelFolder = userModelFolder

    @property
    def scene(self) -> Any:
        if self._scene is None:
            import slicer

            scene = getattr(slicer, "mrmlScene", None)
            if scene is None:
                raise InputError("No MRML scene: pass one, e.g. AxillaryPredictorLogicBase(create_headless_scene()"
                                   ".scene), when running outside Slicer.")
            self._scene = scene
        return self._scene

    # ------------------------------------------------------------------ sample data

    def loadPhantomCase(self, phantom: Any = None, *, preset: str = "dce", seed: int = 0,
                        name: str = "Phantom") -> tuple[Any, Any]:
        """Add a synthetic case to the scene: a volume node and a segmentation node with
        ``tumor`` (and ``node`` when present) segments. Returns (volume, segmentation)."""
        from AxillaryPredictorLib.phantoms import make_phantom
        from AxillaryPredictorLib.scene.nodes import add_segmentation_node, add_volume_node, import_label_image

        if phantom is None:
            phantom = make_phantom(preset, seed, node=True)
        volume = add_volume_node(self.scene, phantom.image, name)
        segmentation = add_segmentation_node(self.scene, f"{name} segmentation", volume)
        import SimpleITK as sitk

        labels = phantom.tumor
        names = {1: "tumor"}
        colors = {1: SEGMENT_COLORS["tumor"]}
        if phantom.node is not None:
            labels = sitk.Add(phantom.tumor, sitk.Multiply(phantom.node, 2))
            names[2] = "node"
            colors[2] = SEGMENT_COLORS["node"]
        import_label_image(segmentation, labels, names, colors)
        return volume, segmentation

    # ----------------------------------------------------------------- segmentations

    def getSegmentEditorNode(self) -> Any:
        """The module's own segment editor node (one per scene, kept out of the Data module)."""
        node = self.scene.GetSingletonNode("AxillaryPredictor", "vtkMRMLSegmentEditorNode")
        if node is None:
            node = self.scene.CreateNodeByClass("vtkMRMLSegmentEditorNode")
            node.UnRegister(None)
            node.SetSingletonTag("AxillaryPredictor")
            node.SetHideFromEditors(True)
            node = self.scene.AddNode(node)
        return node

    def createTumorSegment(self, segmentationNode: Any | None, referenceVolumeNode: Any,
                           name: str = "tumor") -> tuple[Any, str]:
        """Add an empty, conventionally coloured tumor segment (creating the segmentation
        node when ``segmentationNode`` is None); an existing segment of that name is reused,
        never cleared. Returns (segmentation node, segment ID)."""
        from AxillaryPredictorLib.scene.nodes import add_segmentation_node

        if referenceVolumeNode is None:
            raise InputError("Select the image to segment first.")
        if segmentationNode is None:
            segmentationNode = add_segmentation_node(self.scene, f"{referenceVolumeNode.GetName()} segmentation",
                                                     referenceVolumeNode)
        segmentation = segmentationNode.GetSegmentation()
        existing = segmentation.GetSegmentIdBySegmentName(name)
        if existing:
            return segmentationNode, existing
        segmentId = segmentation.AddEmptySegment("", name, list(SEGMENT_COLORS["tumor"]))
        return segmentationNode, segmentId

    def segmentNames(self, segmentationNode: Any) -> list[str]:
        """Names of the segments of a segmentation node, in order."""
        from AxillaryPredictorLib.scene.nodes import segment_ids

        segmentation = segmentationNode.GetSegmentation()
        return [segmentation.GetSegment(sid).GetName() for sid in segment_ids(segmentationNode)]

    def segmentMask(self, segmentationNode: Any, segment: str, referenceVolumeNode: Any | None = None) -> Any:
        """Binary SimpleITK mask (UInt8 0/1) of a segment on the reference volume's grid."""
        from AxillaryPredictorLib.scene.nodes import segment_to_image

        if segmentationNode is None:
            raise InputError("Select a segmentation node first.")
        return segment_to_image(segmentationNode, segment, referenceVolumeNode)

    def marginFeasibility(self, volumeNode: Any, margins: str) -> str:
        """'' when ``margins`` (e.g. "3,5,10") can be grown at the volume's resolution, else why
        not (shown next to the margins before the user applies them)."""
        from AxillaryPredictorLib.imaging.regions import margin_feasibility

        if volumeNode is None or volumeNode.GetImageData() is None:
            return ""
        return margin_feasibility(margins, volumeNode.GetSpacing(), volumeNode.GetImageData().GetDimensions())

    def regionSettings(self, margins: str | Sequence[float] = "3,5,10", excludeBelow: float | None = None,
                       components: str = "largest") -> Any:
        """The ``pipeline.RegionSettings`` of the panel's values (margins text like "3,5,10")."""
        from AxillaryPredictorLib.imaging.regions import parse_margins
        from AxillaryPredictorLib.pipeline import RegionSettings

        return RegionSettings(tuple(parse_margins(margins)), excludeBelow, components)

    def buildRegions(self, segmentationNode: Any, segment: str, referenceVolumeNode: Any,
                     margins: str | Sequence[float] = "3,5,10", *, excludeBelow: float | None = None,
                     excludeSegments: Sequence[str] = (), components: str = "largest",
                     nodeSegment: str | None = None, progress: ProgressCallback | None = None,
                     targetSegmentationNode: Any | None = None) -> Any:
        """Grow the peritumoral regions around ``segment`` and add each as a segment of
        ``segmentationNode`` — or of ``targetSegmentationNode`` when given — replacing the
        ones a previous run created; the user's segments are never changed. The settings are
        recorded on the segmentation node, and ``predict`` scores regions grown with exactly
        these settings (the same voxels as shown). Returns the ``RegionSet`` (images and reports)."""
        from AxillaryPredictorLib.pipeline import build_case_regions
        from AxillaryPredictorLib.scene.regions import record_region_settings, write_region_segments

        if segmentationNode is None:
            raise InputError("Select the segmentation that holds the tumor segment.")
        settings = self.regionSettings(margins, excludeBelow, components)
        _report(progress, 0.05, "Reading the tumor segment")
        scan = self._scan(referenceVolumeNode, segmentationNode, segment, nodeSegment, excludeSegments)
        _report(progress, 0.3, "Growing the margins")
        regionSet = build_case_regions(scan, settings)
        _report(progress, 0.7, "Adding the region segments")
        target = targetSegmentationNode or segmentationNode
        write_region_segments(target, regionSet)
        record_region_settings(target, settings, segment, excludeSegments)
        if target is not segmentationNode:
            record_region_settings(segmentationNode, settings, segment, excludeSegments)
        _report(progress, 1.0, "Regions ready")
        return regionSet

    def _scan(self, volumeNode: Any, segmentationNode: Any, segment: str = "tumor", nodeSegment: str | None = None,
              excludeSegments: Sequence[str] = (), allowEmpty: bool = False) -> Any:
        """The ``pipeline.Scan`` of a volume and its segmentation (tumor, node, excluded segments)."""
        from AxillaryPredictorLib.pipeline import Scan
        from AxillaryPredictorLib.scene.nodes import segment_to_image, volume_node_to_image
        from AxillaryPredictorLib.scene.regions import empty_mask, tumor_mask_from_segment

        if volumeNode is None or segmentationNode is None:
            raise InputError("Select the image and its segmentation.")
        image = volume_node_to_image(volumeNode)
        tumor = (empty_mask(image) if allowEmpty and self._segmentEmpty(segmentationNode, segment)
                 else tumor_mask_from_segment(segmentationNode, segment, volumeNode))
        node = segment_to_image(segmentationNode, nodeSegment, volumeNode) if nodeSegment else None
        excluded = tuple(segment_to_image(segmentationNode, name, volumeNode) for name in excludeSegments)
        return Scan(image, tumor, node, excluded)

    @staticmethod
    def _segmentEmpty(segmentationNode: Any, segment: str) -> bool:
        from AxillaryPredictorLib.scene.nodes import segment_is_empty

        return segment_is_empty(segmentationNode, segment)

    # -------------------------------------------------------------------- models

    def listModels(self) -> list[dict]:
        """Bundled and user model packages (registry entries: id, title, status ...)."""
        from AxillaryPredictorLib.packages.registry import registry_entries

        return registry_entries(self.userModelFolder)

    def _model(self, modelId: str) -> Any:
        from AxillaryPredictorLib.packages.registry import find_model

        return find_model(modelId, self.userModelFolder)

    def modelViews(self, modelId: str) -> list[str]:
        """The view (or series) names a model needs, in order, e.g. ['CC', 'MLO']."""
        return list(self._model(modelId).document["inputs"]["views"])

    def modelCardHtml(self, modelId: str) -> str:
        """The model card as HTML (status caution, task, inputs, training data, performance, intended use)."""
        from AxillaryPredictorLib.reporting.model_card import model_card_html

        return model_card_html(self._model(modelId).document)

    def modelBackbone(self, modelId: str) -> dict | None:
        """The registry backbone a model's deep features need: name, url, licence, cache path and whether
        it is already fetched; None when the model uses no deep features or the user's own ONNX file."""
        from AxillaryPredictorLib.extraction.deep import cache_directory, load_registry

        deep = self._model(modelId).document["inputs"].get("deep") or {}
        registry = load_registry()
        if deep.get("source") == "file" or deep.get("backbone") not in registry:
            return None
        entry = registry[deep["backbone"]]
        path = cache_directory() / f"{entry['name']}.onnx"
        return {"name": entry["name"], "url": entry["url"], "licence": entry.get("license") or entry.get("licence", ""),
                "path": str(path), "fetched": path.is_file()}

    def fetchBackbone(self, name: str, url: str | None = None) -> str:
        """Download a registry backbone into the user cache and verify its SHA-256 (only ever called
        after the user agreed: weights are never downloaded otherwise). Returns the file's path."""
        from AxillaryPredictorLib.extraction.deep import fetch_backbone

        return str(fetch_backbone(name, url=url))

    def clinicalVariables(self, modelId: str) -> list[dict]:
        """The clinical inputs a model needs (name, kind, unit, levels, range)."""
        return [v.to_dict() for v in self._model(modelId).clinical_variables()]

    def loadModelPackage(self, path: str, userFolder: str | None = None) -> str:
        """Verify a package (schema, SHA-256) and copy it into the user model folder; its id."""
        import shutil
        from pathlib import Path

        from AxillaryPredictorLib.packages.package import load_package
        from AxillaryPredictorLib.packages.registry import user_directory

        package = load_package(path)
        userFolder = userFolder or self.userModelFolder
        folder = Path(userFolder) if userFolder else user_directory()
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, folder / f"{package.id}.json")
        return package.id

    def predict(self, modelId: str, views: dict, clinical: dict | None = None, segment: str = "tumor",
                caseId: str = "case", progress: ProgressCallback | None = None, workers: int | None = None,
                nodeSegment: str = "node", regionSettings: Any = None) -> Any:
        """Predict one case from volume + segmentation nodes per view (``views``: view name
        -> (volume node, segmentation node)); adds a prediction table, the nomogram image
        and the report text to the scene. Regions are grown with ``regionSettings`` (a
        ``pipeline.RegionSettings``), by default the settings ``buildRegions`` recorded on the
        segmentation, so the regions scored are the ones shown. Returns a ``SceneResult``."""
        from AxillaryPredictorLib.pipeline import CaseInputs

        package = self._model(modelId)
        _report(progress, 0.05, "Reading the images and tumor segments")
        wanted = package.document["inputs"]["views"]
        if set(views) != set(wanted) and len(views) == len(wanted):
            views = dict(zip(wanted, views.values(), strict=True))  # the user's views, in the model's order
        needsNode = "node" in package.document["inputs"]["regions"]
        scans, settings = {}, regionSettings
        for view, (volume, segmentation) in views.items():
            if volume is None or segmentation is None:
                raise InputError(f"View '{view}': select its image and segmentation.")
            recorded, excluded = self._recordedSettings(segmentation, segment)
            settings = settings or recorded
            scans[view] = self._scan(volume, segmentation, segment, nodeSegment if needsNode else None, excluded)
        return self._predict(package, CaseInputs.single(caseId, scans, clinical), settings, workers, progress)

    def predictDelta(self, modelId: str, baseline: tuple, ontreatment: tuple, clinical: dict | None = None,
                     segment: str = "tumor", caseId: str = "case", progress: ProgressCallback | None = None,
                     workers: int | None = None, regionSettings: Any = None) -> Any:
        """Predict from a baseline and an on-treatment (volume, segmentation) pair (delta models).
        An empty on-treatment tumor segment is a complete response, not an error. Region settings
        as in ``predict`` (those recorded on the baseline segmentation by default)."""
        from AxillaryPredictorLib.pipeline import CaseInputs

        package = self._model(modelId)
        view = package.document["inputs"]["views"][0]
        recorded, excluded = self._recordedSettings(baseline[1], segment) if baseline[1] is not None else (None, ())
        scans = {}
        for label, (volume, segmentation) in (("baseline", baseline), ("ontreatment", ontreatment)):
            if volume is None or segmentation is None:
                raise InputError(f"Select the {'on-treatment' if label == 'ontreatment' else label} image and its "
                                 "segmentation.")
            scans[label] = {view: self._scan(volume, segmentation, segment, None, excluded,
                                             allowEmpty=label == "ontreatment")}
        inputs = CaseInputs.paired(caseId, scans["baseline"], scans["ontreatment"], clinical)
        return self._predict(package, inputs, regionSettings or recorded, workers, progress)

    def _recordedSettings(self, segmentationNode: Any, segment: str) -> tuple[Any, tuple[str, ...]]:
        """(RegionSettings, excluded segment names) ``buildRegions`` recorded for ``segment``, or (None, ())."""
        from AxillaryPredictorLib.scene.regions import recorded_region_settings

        return recorded_region_settings(segmentationNode, segment)

    def _predict(self, package: Any, inputs: Any, settings: Any, workers: int | None,
                 progress: ProgressCallback | None) -> Any:
        from AxillaryPredictorLib.extraction.engine import scaled_progress
        from AxillaryPredictorLib.pipeline import predict_case

        _report(progress, 0.2, "Extracting features and scoring")
        prediction = predict_case(package, inputs, settings, workers=workers,
                                  progress=scaled_progress(progress, 0.2, 0.8))
        _report(progress, 0.8, "Writing the results to the scene")
        result = SceneResult(package, prediction)
        result.addToScene(self.scene)
        _report(progress, 1.0, prediction.summary())
        return result

    def extractFeatures(self, views: dict, profile: str = "zeng2025-dce-delta", segment: str = "tumor",
                        margins: str = "3,5,10", regions: list[str] | None = None, caseId: str = "case",
                        workers: int | None = 1, progress: ProgressCallback | None = None) -> tuple[Any, Any]:
        """Radiomics features of every region of every view (``views``: view name -> (volume
        node, segmentation node)); adds a table node (region, view, feature, value) to the scene.
        Returns (table node, one-row DataFrame with case_id and the feature columns)."""
        import pandas as pd

        from AxillaryPredictorLib.scene.features import extract_from_scene

        _report(progress, 0.05, "Building regions and extracting features")
        tableNode, result = extract_from_scene(views, segment, margins=margins, regions=regions, profile=profile,
                                               case_id=caseId, workers=workers,
                                               table_name=f"Radiomics features {caseId}")
        _report(progress, 1.0, f"{len(result.features)} features extracted")
        return tableNode, pd.DataFrame([{"case_id": caseId, **result.features}])

    def saveReport(self, result: Any, folder: str) -> dict:
        """Write report.html, report.pdf, nomogram.png and prediction.json to ``folder``."""
        from AxillaryPredictorLib.reporting.prediction_report import write_prediction

        if result is None:
            raise InputError("Run a prediction first.")
        return write_prediction(result.package, result.prediction, folder)

    def exportFeatures(self, result: Any, path: str) -> str:
        """Write the case's features (one row, case_id first) as CSV."""
        import pandas as pd

        from AxillaryPredictorLib.files import write_text_atomic

        if result is None:
            raise InputError("Run a prediction first.")
        frame = pd.DataFrame([{"case_id": result.prediction.case_id, **result.prediction.features}])
        write_text_atomic(path, frame.to_csv(index=False))
        return path

    def runCohort(self, manifestPath: str, outputDir: str, progressCallback: Any = None, command: str = "extract",
                  **options: Any) -> Any:
        """Batch over a manifest (extract | delta | predict), the same code as
        ``axillary-predictor cohort``; returns the run summary."""
        from AxillaryPredictorLib.batch.cohort import run_cohort_command

        return run_cohort_command(command, manifestPath, outputDir, progress=progressCallback, **options)

    def createClosedSurface(self, segmentationNode: Any) -> int:
        """Create the 3D (closed surface) representation; returns its number of points."""
        from AxillaryPredictorLib.scene.nodes import create_closed_surface

        return create_closed_surface(segmentationNode)


def _report(progress: ProgressCallback | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(fraction, message)


class SceneResult:
    """A prediction and the scene nodes that show it (table, nomogram image, report text)."""

    def __init__(self, package: Any, prediction: Any) -> None:
        self.package = package
        self.prediction = prediction
        self.tableNode = None
        self.featuresTableNode = None
        self.nomogramNode = None
        self.reportNode = None

    def summary(self) -> str:
        return self.prediction.summary()

    def addToScene(self, scene: Any) -> None:
        import tempfile
        from pathlib import Path

        import pandas as pd

        from AxillaryPredictorLib.reporting.prediction_report import write_prediction
        from AxillaryPredictorLib.scene.results import image_node_from_png, table_node_from_frame, text_node_with

        p = self.prediction
        rows = [("probability", p.probability), ("risk group", p.risk_group), ("cut-off", p.threshold)]
        rows += [(f"points: {k}", v) for k, v in p.predictor_points.items()]
        if p.total_points is not None:
            rows.append(("total points (Nomo-score)", p.total_points))
        frame = pd.DataFrame({"item": [r[0] for r in rows], "value": [str(r[1]) for r in rows]})
        self.tableNode = table_node_from_frame(scene, frame, f"Prediction {p.case_id}")
        features = pd.DataFrame({"feature": list(p.features), "value": [float(v) for v in p.features.values()]})
        self.featuresTableNode = table_node_from_frame(scene, features, f"Model inputs {p.case_id}")
        with tempfile.TemporaryDirectory() as folder:
            paths = write_prediction(self.package, p, folder)
            html = Path(paths["html"]).read_text(encoding="utf-8")
            self.reportNode = text_node_with(scene, html, f"Report {p.case_id}")
            if "nomogram" in paths:
                self.nomogramNode = image_node_from_png(scene, paths["nomogram"], f"Nomogram {p.case_id}")
