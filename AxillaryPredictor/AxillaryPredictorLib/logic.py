"""AxillaryPredictorLogicBase: every method of the Slicer module's Logic.

``AxillaryPredictor.AxillaryPredictorLogic`` is
``class AxillaryPredictorLogic(ScriptedLoadableModuleLogic, AxillaryPredictorLogicBase)``
and adds nothing, so the Logic's behaviour is tested outside Slicer on the headless
scene (``ScriptedLoadableModule`` exists only inside Slicer). Methods use Slicer's
camelCase, take nodes and plain values, raise ``ValueError`` with a clear message on
bad input, never open dialogs, and report progress through an optional callback
``progress(fraction: float, message: str)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

ProgressCallback = Callable[[float, str], None]

#: Colours (RGB 0..1) of the segments the module creates, by role.
SEGMENT_COLORS = {"tumor": (0.85, 0.25, 0.2), "node": (0.95, 0.8, 0.2)}


class AxillaryPredictorLogicBase:
    """Logic methods shared by the Slicer module, the Python console and batch runs."""

    def __init__(self, scene: Any | None = None) -> None:
        """``scene``: the MRML scene to work in (default: ``slicer.mrmlScene`` inside Slicer)."""
        self._scene = scene

    @property
    def scene(self) -> Any:
        if self._scene is None:
            import slicer

            scene = getattr(slicer, "mrmlScene", None)
            if scene is None:
                raise RuntimeError("No MRML scene: pass one, e.g. AxillaryPredictorLogicBase(create_headless_scene()"
                                   ".scene), when running outside Slicer.")
            self._scene = scene
        return self._scene

    # ------------------------------------------------------------------ sample data

    def loadPhantomCase(self, phantom: Any = None, *, preset: str = "dce", seed: int = 0,
                        name: str = "Phantom") -> tuple[Any, Any]:
        """Add a synthetic case to the scene: a volume node and a segmentation node with
        ``tumor`` (and ``node`` when present) segments. Returns (volume, segmentation)."""
        from AxillaryPredictorLib.phantoms import make_phantom
        from AxillaryPredictorLib.scene import add_segmentation_node, add_volume_node, import_label_image

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
        from AxillaryPredictorLib.scene import add_segmentation_node

        if referenceVolumeNode is None:
            raise ValueError("Select the image to segment first.")
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
        from AxillaryPredictorLib.scene import segment_ids

        segmentation = segmentationNode.GetSegmentation()
        return [segmentation.GetSegment(sid).GetName() for sid in segment_ids(segmentationNode)]

    def segmentMask(self, segmentationNode: Any, segment: str, referenceVolumeNode: Any | None = None) -> Any:
        """Binary SimpleITK mask (UInt8 0/1) of a segment on the reference volume's grid."""
        from AxillaryPredictorLib.scene import segment_to_image

        if segmentationNode is None:
            raise ValueError("Select a segmentation node first.")
        return segment_to_image(segmentationNode, segment, referenceVolumeNode)

    def buildRegions(self, segmentationNode: Any, segment: str, referenceVolumeNode: Any,
                     margins: str | Sequence[float] = "3,5,10", *, excludeBelow: float | None = None,
                     excludeSegments: Sequence[str] = (), components: str = "largest",
                     nodeSegment: str | None = None, progress: ProgressCallback | None = None) -> Any:
        """Grow the peritumoral regions around ``segment`` and add each as a segment of
        ``segmentationNode`` (replacing the ones a previous run created; the user's
        segments are never changed). Returns the ``RegionSet`` (images and reports)."""
        from AxillaryPredictorLib.regions import build_region_set, tissue_mask
        from AxillaryPredictorLib.scene import segment_to_image, volume_node_to_image
        from AxillaryPredictorLib.scene_regions import tumor_mask_from_segment, write_region_segments

        if segmentationNode is None:
            raise ValueError("Select the segmentation that holds the tumor segment.")
        _report(progress, 0.05, "Reading the tumor segment")
        tumor = tumor_mask_from_segment(segmentationNode, segment, referenceVolumeNode)
        allowed = None
        if excludeBelow is not None or excludeSegments:
            image = volume_node_to_image(referenceVolumeNode)
            excluded = [segment_to_image(segmentationNode, name, referenceVolumeNode) for name in excludeSegments]
            allowed = tissue_mask(image, excludeBelow, excluded)
        node = segment_to_image(segmentationNode, nodeSegment, referenceVolumeNode) if nodeSegment else None
        _report(progress, 0.3, "Growing the margins")
        regionSet = build_region_set(tumor, margins, allowed_mask=allowed, components=components, node_mask=node)
        _report(progress, 0.7, "Adding the region segments")
        write_region_segments(segmentationNode, regionSet)
        _report(progress, 1.0, "Regions ready")
        return regionSet

    def createClosedSurface(self, segmentationNode: Any) -> int:
        """Create the 3D (closed surface) representation; returns its number of points."""
        from AxillaryPredictorLib.scene import create_closed_surface

        return create_closed_surface(segmentationNode)


def _report(progress: ProgressCallback | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(fraction, message)
