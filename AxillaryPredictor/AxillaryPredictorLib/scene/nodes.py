"""MRML scene adapters: SimpleITK images <-> volume and segmentation nodes.

Works in three places with the same code: inside Slicer (``slicer.mrmlScene``), in
``Slicer --no-main-window`` runs, and outside Slicer on a headless scene built by
:func:`create_headless_scene` from the PyPI package ``slicer-core`` (Kitware's build
of Slicer's non-Qt core). ``slicer`` and ``vtk`` are imported inside functions so
that importing this module never needs them.

Geometry: SimpleITK images are in LPS, MRML nodes in RAS; the IJK-to-RAS matrix of
a node is ``diag(-1, -1, 1) @ [direction * spacing | origin]`` of the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from AxillaryPredictorLib.errors import InputError

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])

#: Module logics a headless scene registers, in Slicer's own start-up order.
HEADLESS_MODULE_LOGICS = ("Colors", "Volumes", "Terminologies", "Segmentations", "SubjectHierarchy")


@dataclass
class HeadlessSlicer:
    """A MRML scene with the application logic and module logics registered the way
    Slicer's application does it, so that segmentations convert between
    representations exactly as in Slicer."""

    scene: Any
    app_logic: Any
    module_logics: dict[str, Any] = field(default_factory=dict)

    def logic(self, name: str) -> Any:
        """Module logic by Slicer module name (``"Segmentations"``, ``"Volumes"`` ...)."""
        return self.module_logics[name]


def terminology_directory() -> Path:
    """Folder with the minimal terminology contexts the Terminologies logic loads.

    Slicer ships large DICOM terminology files; the headless scene needs only valid
    files with the expected names, otherwise the logic logs errors at start-up.
    """
    return Path(str(resources.files("AxillaryPredictorLib") / "resources" / "terminologies"))


def create_headless_scene() -> HeadlessSlicer:
    """Build a scene + ``vtkSlicerApplicationLogic`` + Colors, Volumes, Terminologies,
    Segmentations and SubjectHierarchy logics (needs the ``slicer-core`` package)."""
    import slicer
    import vtk

    scene = slicer.vtkMRMLScene()
    app_logic = slicer.vtkSlicerApplicationLogic()
    app_logic.SetMRMLScene(scene)
    app_logic.GetColorLogic().SetMRMLScene(scene)
    app_logic.GetColorLogic().AddDefaultColorNodes()
    app_logic.SetSliceLogics(vtk.vtkCollection())
    app_logic.SetViewLogics(vtk.vtkCollection())

    headless = HeadlessSlicer(scene=scene, app_logic=app_logic)
    factories = {
        "Colors": slicer.vtkMRMLColorLogic,
        "Volumes": slicer.vtkSlicerVolumesLogic,
        "Terminologies": slicer.vtkSlicerTerminologiesModuleLogic,
        "Segmentations": slicer.vtkSlicerSegmentationsModuleLogic,
        "SubjectHierarchy": slicer.vtkSlicerSubjectHierarchyModuleLogic,
    }
    for name in HEADLESS_MODULE_LOGICS:
        logic = factories[name]()
        if name == "Terminologies":
            logic.SetModuleShareDirectory(terminology_directory().as_posix())
        logic.SetMRMLScene(scene)
        logic.SetMRMLApplicationLogic(app_logic)
        app_logic.SetModuleLogic(name, logic)
        headless.module_logics[name] = logic
    return headless


def _segmentations_logic() -> Any:
    import slicer

    return slicer.vtkSlicerSegmentationsModuleLogic


# ---------------------------------------------------------------------------- volumes


def _ijk_to_ras(image: sitk.Image) -> np.ndarray:
    direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
    matrix = np.eye(4)
    matrix[:3, :3] = LPS_TO_RAS @ direction @ np.diag(image.GetSpacing())
    matrix[:3, 3] = LPS_TO_RAS @ np.array(image.GetOrigin(), dtype=float)
    return matrix


def _as_3d(image: sitk.Image) -> sitk.Image:
    """MRML volumes are 3D: a 2D image becomes a single-slice volume."""
    if image.GetDimension() == 3:
        return image
    if image.GetDimension() != 2:
        raise InputError(f"Only 2D and 3D images are supported, got {image.GetDimension()}D.")
    array = sitk.GetArrayViewFromImage(image)[np.newaxis]
    out = sitk.GetImageFromArray(array.copy())
    spacing = (*image.GetSpacing(), 1.0)
    origin = (*image.GetOrigin(), 0.0)
    d2 = np.array(image.GetDirection()).reshape(2, 2)
    direction = np.eye(3)
    direction[:2, :2] = d2
    out.SetSpacing(spacing)
    out.SetOrigin(origin)
    out.SetDirection(direction.ravel().tolist())
    return out


def _set_node_image(node: Any, image: sitk.Image) -> None:
    import vtk
    from vtk.util import numpy_support

    image = _as_3d(image)
    array = sitk.GetArrayFromImage(image)  # (k, j, i)
    if array.ndim != 3:
        raise InputError("Vector images are not supported by this adapter; convert to scalar first.")
    image_data = vtk.vtkImageData()
    image_data.SetDimensions(array.shape[2], array.shape[1], array.shape[0])
    vtk_array = numpy_support.numpy_to_vtk(np.ascontiguousarray(array).ravel(), deep=True)
    vtk_array.SetName("ImageScalars")
    image_data.GetPointData().SetScalars(vtk_array)
    matrix = vtk.vtkMatrix4x4()
    ijk_to_ras = _ijk_to_ras(image)
    for row in range(4):
        for col in range(4):
            matrix.SetElement(row, col, ijk_to_ras[row, col])
    node.SetIJKToRASMatrix(matrix)
    node.SetAndObserveImageData(image_data)


def add_volume_node(scene: Any, image: sitk.Image, name: str, *, labelmap: bool = False) -> Any:
    """Add ``image`` to ``scene`` as a scalar (or labelmap) volume node with its geometry."""
    class_name = "vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode"
    node = scene.AddNewNodeByClass(class_name, name)
    _set_node_image(node, image)
    node.CreateDefaultDisplayNodes()
    return node


def volume_node_to_image(node: Any) -> sitk.Image:
    """SimpleITK image (LPS) with the voxels and geometry of a volume node.

    A volume under a non-identity parent transform is refused: harden the transform
    first (Slicer: Data module, right-click > Harden transform) so the geometry is explicit.
    """
    import vtk
    from vtk.util import numpy_support

    if node is None or node.GetImageData() is None:
        raise InputError("The volume node has no image data; load or create the volume first.")
    if node.GetParentTransformNode() is not None and not node.GetParentTransformNode().IsLinear():
        raise InputError(f"Volume '{node.GetName()}' is under a non-linear transform; harden it first.")
    if node.GetParentTransformNode() is not None:
        raise InputError(f"Volume '{node.GetName()}' is under a transform; harden it first.")
    image_data = node.GetImageData()
    dims = image_data.GetDimensions()
    scalars = image_data.GetPointData().GetScalars()
    if scalars.GetNumberOfComponents() != 1:
        raise InputError(f"Volume '{node.GetName()}' has {scalars.GetNumberOfComponents()} components; "
                         "only scalar volumes are supported.")
    array = numpy_support.vtk_to_numpy(scalars).reshape(dims[2], dims[1], dims[0]).copy()
    image = sitk.GetImageFromArray(array)
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    m = np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])
    lps = LPS_TO_RAS @ m[:3, :3]
    spacing = np.linalg.norm(lps, axis=0)
    image.SetSpacing(spacing.tolist())
    image.SetDirection((lps / spacing).ravel().tolist())
    image.SetOrigin((LPS_TO_RAS @ m[:3, 3]).tolist())
    return image


# ----------------------------------------------------------------------- segmentations


def add_segmentation_node(scene: Any, name: str, reference_volume: Any | None = None) -> Any:
    """New segmentation node whose labelmap geometry follows ``reference_volume``."""
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    node.CreateDefaultDisplayNodes()
    if reference_volume is not None:
        node.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume)
    return node


def import_label_image(
    segmentation_node: Any,
    label_image: sitk.Image,
    segment_names: dict[int, str] | None = None,
    colors: dict[int, tuple[float, float, float]] | None = None,
) -> dict[int, str]:
    """Import each non-zero label of ``label_image`` as a segment; return label -> segment ID.

    Uses ``vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode`` as
    Slicer's Segmentations module does; segments are named from ``segment_names``.
    """
    scene = segmentation_node.GetScene()
    labels = [int(v) for v in np.unique(sitk.GetArrayViewFromImage(label_image)) if v != 0]
    if not labels:
        raise InputError("The label image is empty: nothing to import as a segment.")
    temp = add_volume_node(scene, sitk.Cast(label_image, sitk.sitkInt16), "__ap_import__", labelmap=True)
    try:
        segmentation = segmentation_node.GetSegmentation()
        before = set(_segment_ids(segmentation_node))
        if not _segmentations_logic().ImportLabelmapToSegmentationNode(temp, segmentation_node):
            raise InputError("Slicer could not import the labelmap into the segmentation node.")
        new_ids = [sid for sid in _segment_ids(segmentation_node) if sid not in before]
    finally:
        remove_nodes(scene, [temp])
    # Slicer imports segments in increasing label order.
    mapping = dict(zip(labels, new_ids, strict=True))
    for label, segment_id in mapping.items():
        segment = segmentation.GetSegment(segment_id)
        if segment_names and label in segment_names:
            segment.SetName(segment_names[label])
        if colors and label in colors:
            segment.SetColor(*colors[label])
    return mapping


def _segment_ids(segmentation_node: Any) -> list[str]:
    import vtk

    ids = vtk.vtkStringArray()
    segmentation_node.GetSegmentation().GetSegmentIDs(ids)
    return [ids.GetValue(i) for i in range(ids.GetNumberOfValues())]


def _node_ids(scene: Any, class_name: str) -> set[str]:
    nodes = scene.GetNodesByClass(class_name)
    return {nodes.GetItemAsObject(i).GetID() for i in range(nodes.GetNumberOfItems())}


def remove_nodes(scene: Any, nodes: list[Any]) -> None:
    """Remove temporary nodes with their display and storage nodes (RemoveNode alone leaves
    those in the scene, where they would be saved)."""
    for node in nodes:
        if node is None or node.GetScene() is None:
            continue
        companions = []
        if node.IsA("vtkMRMLDisplayableNode"):
            companions += [node.GetNthDisplayNode(i) for i in range(node.GetNumberOfDisplayNodes())]
        if node.IsA("vtkMRMLStorableNode"):
            companions += [node.GetNthStorageNode(i) for i in range(node.GetNumberOfStorageNodes())]
        scene.RemoveNode(node)
        for companion in companions:
            if companion is not None and companion.GetScene() is not None:
                scene.RemoveNode(companion)


def prepare_loaded_segmentation(segmentation_node: Any, reference_volume: Any, segment_name: str = "tumor") -> str:
    """Make a segmentation read from a label file ready for the module: its geometry follows
    the image, and its only segment is named ``segment_name`` (a label file's segment is named
    after its label value). Returns the segment ID."""
    ids = _segment_ids(segmentation_node)
    if len(ids) != 1:
        names = [segmentation_node.GetSegmentation().GetSegment(i).GetName() for i in ids]
        raise InputError(f"Expected one segment in '{segmentation_node.GetName()}', found {len(ids)}: "
                         f"{', '.join(names) or '(none)'}.")
    segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume)
    segment = segmentation_node.GetSegmentation().GetSegment(ids[0])
    segment.SetName(segment_name)
    segment.SetColor(0.85, 0.25, 0.2)
    return ids[0]


def segment_ids(segmentation_node: Any) -> list[str]:
    """IDs of every segment in a segmentation node, in display order."""
    return _segment_ids(segmentation_node)


def find_segment_id(segmentation_node: Any, name_or_id: str) -> str:
    """Segment ID for a segment name or ID; clear error listing the segments otherwise."""
    segmentation = segmentation_node.GetSegmentation()
    if segmentation.GetSegment(name_or_id) is not None:
        return name_or_id
    segment_id = segmentation.GetSegmentIdBySegmentName(name_or_id)
    if segment_id:
        return segment_id
    names = [segmentation.GetSegment(sid).GetName() for sid in _segment_ids(segmentation_node)]
    raise InputError(f"No segment named '{name_or_id}' in '{segmentation_node.GetName()}'. "
                     f"Available segments: {', '.join(names) or '(none)'}.")


def segment_is_empty(segmentation_node: Any, segment: str) -> bool:
    """True when the segment has no voxels (e.g. the tumor was erased: complete response).

    Segments share labelmap layers: the segment's voxels are those of its own label value
    in the layer, so another segment on the same layer does not make this one non-empty."""
    from vtk.util import numpy_support

    segmentation = segmentation_node.GetSegmentation()
    segment_object = segmentation.GetSegment(find_segment_id(segmentation_node, segment))
    representation = segment_object.GetRepresentation(segmentation.GetSourceRepresentationName())
    if representation is None:
        return True
    if representation.IsA("vtkPolyData"):
        return representation.GetNumberOfPoints() == 0
    extent = representation.GetExtent()
    scalars = representation.GetPointData().GetScalars()
    if extent[0] > extent[1] or extent[2] > extent[3] or extent[4] > extent[5] or scalars is None:
        return True
    return not bool((numpy_support.vtk_to_numpy(scalars) == segment_object.GetLabelValue()).any())


def segment_to_image(segmentation_node: Any, segment: str, reference_volume: Any | None = None) -> sitk.Image:
    """Binary UInt8 mask (0/1) of one segment on the geometry of ``reference_volume``
    (or of the segmentation's own reference geometry when none is given)."""
    import vtk

    scene = segmentation_node.GetScene()
    segment_id = find_segment_id(segmentation_node, segment)
    colour_tables = _node_ids(scene, "vtkMRMLColorTableNode")
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__ap_export__")
    try:
        ids = vtk.vtkStringArray()
        ids.InsertNextValue(segment_id)
        logic = _segmentations_logic()
        if reference_volume is not None:
            ok = logic.ExportSegmentsToLabelmapNode(segmentation_node, ids, labelmap, reference_volume)
        else:
            ok = logic.ExportSegmentsToLabelmapNode(segmentation_node, ids, labelmap)
        if not ok:
            raise InputError(f"Slicer could not export segment '{segment}' to a labelmap.")
        image = volume_node_to_image(labelmap)
    finally:
        remove_nodes(scene, [labelmap])
        # the export adds a colour table for the labelmap ("<segmentation>_ColorTable"); it
        # would pile up, one per export, and be saved with the scene
        remove_nodes(scene, [scene.GetNodeByID(i) for i in _node_ids(scene, "vtkMRMLColorTableNode") - colour_tables])
    mask = sitk.Cast(sitk.NotEqual(image, 0), sitk.sitkUInt8)
    return mask


def create_closed_surface(segmentation_node: Any) -> int:
    """Build the closed-surface representation (3D view); returns the number of points."""
    segmentation_node.CreateClosedSurfaceRepresentation()
    segmentation = segmentation_node.GetSegmentation()
    points = 0
    for segment_id in _segment_ids(segmentation_node):
        polydata = segmentation.GetSegment(segment_id).GetRepresentation("Closed surface")
        points += polydata.GetNumberOfPoints() if polydata is not None else 0
    return points


def save_node(node: Any, path: str | Path) -> Path:
    """Write a storable node (volume, segmentation, table ...) with its default storage node."""
    path = Path(path)
    storage = node.GetStorageNode()
    if storage is None:
        node.AddDefaultStorageNode()
        storage = node.GetStorageNode()
    storage.SetFileName(path.as_posix())
    if not storage.WriteData(node):
        raise OSError(f"Could not write '{node.GetName()}' to {path}.")
    return path


def _safe_file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "node"


def save_scene(scene: Any, folder: str | Path, file_name: str = "scene.mrml") -> Path:
    """Write every storable data node (volumes, segmentations, tables, texts ...) next to
    a ``.mrml`` file, as Slicer's "Save" does; returns the path of the ``.mrml`` file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    nodes = scene.GetNodesByClass("vtkMRMLStorableNode")
    for index in range(nodes.GetNumberOfItems()):
        node = nodes.GetItemAsObject(index)
        if node.GetHideFromEditors() and not node.IsA("vtkMRMLTextNode"):
            continue
        storage = node.GetStorageNode()
        if storage is None:
            if not node.AddDefaultStorageNode():
                continue
            storage = node.GetStorageNode()
        if storage is None:
            continue
        stem = _safe_file_name(node.GetName())
        while stem in used:
            stem += "_"
        used.add(stem)
        path = folder / f"{stem}.{storage.GetDefaultWriteFileExtension()}"
        storage.SetFileName(path.as_posix())
        if not storage.WriteData(node):
            raise OSError(f"Could not write node '{node.GetName()}' to {path}.")
    mrml = folder / file_name
    scene.SetRootDirectory(folder.as_posix())
    scene.SetURL(mrml.as_posix())
    if not scene.Commit():
        raise OSError(f"Could not write the scene file {mrml}.")
    return mrml


def load_scene(path: str | Path, headless: HeadlessSlicer | None = None) -> HeadlessSlicer:
    """Read a ``.mrml`` scene and its data files into a (new) headless scene."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No scene file at {path}.")
    headless = headless or create_headless_scene()
    headless.scene.SetURL(path.as_posix())
    if not headless.scene.Import():
        raise OSError(f"Slicer could not read the scene {path}.")
    return headless
