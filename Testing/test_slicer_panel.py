"""The module panel's path on the real MRML scene (slicer-core), with the module's own parameter
defaults: load the sample -> create the tumor segment -> build regions -> predict -> show the
report -> save the scene, leaving no temporary node behind. Plus the scene helpers the panel uses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import slicer_conformance

from AxillaryPredictorLib.dependencies import install_plan, missing_requirements
from AxillaryPredictorLib.phantoms import LesionSpec, make_phantom
from AxillaryPredictorLib.scene.logic import AxillaryPredictorLogicBase
from AxillaryPredictorLib.scene.nodes import (
    add_volume_node,
    load_scene,
    prepare_loaded_segmentation,
    save_scene,
    segment_is_empty,
)
from AxillaryPredictorLib.scene.results import image_node_from_png, report_for_panel

MODULE_FILE = Path(__file__).resolve().parents[1] / "AxillaryPredictor" / "AxillaryPredictor.py"


def _defaults() -> dict:
    return {name: default for name, (_, _, default) in slicer_conformance.parameter_node_fields(MODULE_FILE).items()}


def _nodes(scene) -> dict[str, tuple[str, str]]:
    return {scene.GetNthNode(i).GetID(): (scene.GetNthNode(i).GetClassName(), scene.GetNthNode(i).GetName())
            for i in range(scene.GetNumberOfNodes())}


def _load_sample_as_slicer_does(headless, folder: Path):
    """What Sample Data + ``downloadSampleCase`` do, offline: the image read as a volume, the label
    file read by Slicer's segmentation reader (LoadSegmentationFromFile), its segment named 'tumor'."""
    phantom = make_phantom("dce", seed=4, lesion=LesionSpec(diameter_mm=16))
    label_path = folder / "breast1_label.nrrd"
    sitk.WriteImage(phantom.tumor, str(label_path))
    volume = add_volume_node(headless.scene, phantom.image, "Breast1")
    segmentation = headless.logic("Segmentations").LoadSegmentationFromFile(str(label_path), True,
                                                                            "Breast1 segmentation")
    assert segmentation is not None
    before = [segmentation.GetSegmentation().GetNthSegment(0).GetName()]
    prepare_loaded_segmentation(segmentation, volume, "tumor")
    return volume, segmentation, before


def test_panel_path_with_the_module_defaults_leaves_no_temporary_nodes(headless, tmp_path):
    defaults = _defaults()
    assert defaults["mode"] == "Single timepoint" and defaults["marginsMm"] == "3,5,10"
    scene = headless.scene
    logic = AxillaryPredictorLogicBase(scene)
    initial = _nodes(scene)

    volume, segmentation, loaded_names = _load_sample_as_slicer_does(headless, tmp_path)
    assert loaded_names != ["tumor"] and logic.segmentNames(segmentation) == ["tumor"]

    segmentation, segment_id = logic.createTumorSegment(segmentation, volume, defaults["tumorSegment"])
    assert segment_id == segmentation.GetSegmentation().GetSegmentIdBySegmentName("tumor")  # reused, not cleared

    exclude = [s.strip() for s in defaults["excludeSegments"].split(",") if s.strip()]
    regions = logic.buildRegions(segmentation, defaults["tumorSegment"], volume, defaults["marginsMm"],
                                 excludeBelow=defaults["excludeBelow"] if defaults["useExcludeBelow"] else None,
                                 excludeSegments=exclude)
    assert {"margin3mm", "margin5mm", "margin10mm"} <= set(logic.segmentNames(segmentation))
    assert regions.reports["margin3mm"].voxels > 0

    model = "demo-dce-aln"  # the bundled DCE-MRI model the tutorial picks
    assert model in [m["id"] for m in logic.listModels()]
    views = logic.modelViews(model)
    clinical = {v["name"]: (v["levels"][0] if v.get("levels") else 30) for v in logic.clinicalVariables(model)}
    result = logic.predict(model, {views[0]: (volume, segmentation)}, clinical=clinical,
                           segment=defaults["tumorSegment"], caseId=defaults["caseId"], workers=1)
    assert 0 < result.prediction.probability < 1

    html, images = report_for_panel(result.reportNode.GetText())
    assert images and "data:image" not in html
    assert all(name in html for name in images) and all(png.startswith(b"\x89PNG") for png in images.values())
    assert defaults["caseId"] in html and result.prediction.risk_group in html

    after = _nodes(scene)
    added = {i: after[i] for i in after if i not in initial}
    classes = sorted({c for c, _ in added.values()})
    assert not any(name.startswith("__ap") for _, name in added.values())
    assert "vtkMRMLColorTableNode" not in classes, "temporary colour tables were left in the scene"
    assert "vtkMRMLLabelMapVolumeNode" not in classes
    assert all(defaults["caseId"] in name for c, name in added.values()
               if c in ("vtkMRMLTableNode", "vtkMRMLTextNode", "vtkMRMLVectorVolumeNode"))

    mrml = save_scene(scene, tmp_path / "scene")
    reloaded = load_scene(mrml)
    texts = reloaded.scene.GetNodesByClass("vtkMRMLTextNode")
    assert any(defaults["caseId"] in texts.GetItemAsObject(i).GetName() for i in range(texts.GetNumberOfItems()))
    assert reloaded.scene.GetNumberOfNodesByClass("vtkMRMLColorTableNode") == \
        scene.GetNumberOfNodesByClass("vtkMRMLColorTableNode")


def test_exports_leave_no_colour_tables(headless):
    logic = AxillaryPredictorLogicBase(headless.scene)
    volume, segmentation = logic.loadPhantomCase(seed=0)
    tables = headless.scene.GetNumberOfNodesByClass("vtkMRMLColorTableNode")
    nodes = headless.scene.GetNumberOfNodes()
    for _ in range(3):
        logic.segmentMask(segmentation, "tumor", volume)
    assert headless.scene.GetNumberOfNodesByClass("vtkMRMLColorTableNode") == tables
    assert headless.scene.GetNumberOfNodes() == nodes


def test_segment_is_empty_reads_the_segment_not_its_shared_layer(headless):
    logic = AxillaryPredictorLogicBase(headless.scene)
    _, segmentation = logic.loadPhantomCase(seed=0)  # tumor and node share one labelmap layer
    segmentation.GetSegmentation().AddEmptySegment("", "empty")
    empty_id = segmentation.GetSegmentation().GetSegmentIdBySegmentName("empty")
    tumor_id = segmentation.GetSegmentation().GetSegmentIdBySegmentName("tumor")
    shared = segmentation.GetSegmentation().GetSegment(empty_id).GetRepresentation("Binary labelmap")
    assert shared is segmentation.GetSegmentation().GetSegment(tumor_id).GetRepresentation("Binary labelmap")
    assert segment_is_empty(segmentation, "empty")
    assert not segment_is_empty(segmentation, "tumor")


def test_nomogram_image_is_upright_and_not_mirrored_in_an_axial_view(headless, tmp_path):
    import matplotlib.image as mpimg

    pixels = np.zeros((4, 6, 3), dtype=np.uint8)
    png = tmp_path / "x.png"
    mpimg.imsave(png, pixels)
    node = image_node_from_png(headless.scene, png, "Nomogram x")
    import vtk

    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    top_left = matrix.MultiplyPoint((0, 3, 0, 1))  # first PNG row is stored last (rows run bottom-up)
    top_right = matrix.MultiplyPoint((5, 3, 0, 1))
    bottom_left = matrix.MultiplyPoint((0, 0, 0, 1))
    # axial view: screen left = patient right (+R), screen top = anterior (+A)
    assert top_left[0] > top_right[0] and top_left[1] > bottom_left[1]


def test_missing_requirements_checks_versions():
    assert missing_requirements(["numpy>=1"]) == []
    assert missing_requirements(["numpy>=999"]) == ["numpy>=999"]
    assert missing_requirements(["surely-not-installed-package>=1"]) == ["surely-not-installed-package>=1"]


@pytest.mark.parametrize("pip_ensure", [True, False])
def test_install_plan_for_both_slicer_installers(tmp_path, pip_ensure):
    plan = install_plan(["scikit-learn>=1.6,<2"], tmp_path, pipEnsure=pip_ensure)
    assert plan.command == ("pip_ensure" if pip_ensure else "pip_install")
    constraints = Path(plan.constraints).read_text().splitlines()
    assert any(re.fullmatch(r"numpy==\S+", line) for line in constraints)
    assert any(re.fullmatch(r"scipy==\S+", line) for line in constraints)
    assert plan.requirements == ["scikit-learn>=1.6,<2"]
    assert plan.pipArguments == f'-r "{(tmp_path / "requirements.txt").as_posix()}" -c "{plan.constraints}"'
    assert (tmp_path / "requirements.txt").read_text().strip() == "scikit-learn>=1.6,<2"
    assert "scikit-learn" in plan.question


def test_lbp3d_is_reported_unavailable_without_sph_harm(monkeypatch):
    import scipy.special

    from AxillaryPredictorLib.extraction.engine import lbp3d_unavailable

    assert lbp3d_unavailable() == ""
    monkeypatch.delattr(scipy.special, "sph_harm")
    assert "sph_harm" in lbp3d_unavailable()


def test_parameter_defaults_are_read_from_the_module_file():
    defaults = _defaults()
    assert defaults["caseId"] and defaults["tumorSegment"] == "tumor" and json.loads(defaults["clinicalValues"]) == {}
