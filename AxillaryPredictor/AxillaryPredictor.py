import logging
import os
import tempfile
from typing import Annotated

import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.parameterNodeWrapper import WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import *
from slicer.util import VTKObservationMixin

#
# AxillaryPredictor
#


class AxillaryPredictor(ScriptedLoadableModule):
    """Module description shown in Slicer's module panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Axillary Predictor"
        self.parent.categories = ["Radiomics"]
        self.parent.dependencies = ["Segmentations"]
        self.parent.contributors = ["AxillaryPredictor developers"]
        self.parent.helpText = """
Predicts axillary lymph node (ALN) status in breast cancer from tumor and peritumoral radiomics:
grow 3/5/10 mm margins around the tumor segment, extract pyradiomics features, apply a bundled or
locally trained model and show a nomogram report. Research use only: not a medical device.
See the <a href="https://github.com/axillary-predictor/SlicerAxillaryPredictor#readme">documentation</a>.
"""
        self.parent.acknowledgementText = """
Implements methods published by He et al. (BMC Med Imaging 2025), Zeng et al. (BMC Cancer 2025),
Zhang et al. (The Oncologist 2025), Lu et al. (2025) and Liu et al. (Front Med 2025).
Feature extraction by pyradiomics (van Griethuysen et al., Cancer Research 2017).
"""


#
# Dependencies
#


def requirementsPath():
    return os.path.join(os.path.dirname(__file__), "Resources", "requirements.txt")


def ensureRequirements():
    """Install the module's Python requirements on first use, keeping Slicer's own
    numpy, SimpleITK and vtk (they are pinned by a constraint file). Returns True when
    everything is installed."""
    from AxillaryPredictorLib.dependencies import missing_requirements, read_requirements, slicer_constraints

    requirements = read_requirements(requirementsPath())
    if not missing_requirements(requirements):
        return True
    with tempfile.TemporaryDirectory() as folder:
        constraintsPath = os.path.join(folder, "constraints.txt")
        with open(constraintsPath, "w") as constraintsFile:
            constraintsFile.write("\n".join(slicer_constraints()) + "\n")
        packaging = getattr(slicer, "packaging", None)
        if packaging is not None and hasattr(packaging, "pip_ensure"):
            from packaging.requirements import Requirement

            packaging.pip_ensure([Requirement(r) for r in requirements], constraints=constraintsPath,
                                 requester="Axillary Predictor")
        else:
            if not slicer.util.confirmOkCancelDisplay(
                    "Axillary Predictor needs these Python packages, which will be downloaded and installed "
                    "now:\n\n" + "\n".join(missing_requirements(requirements))):
                return False
            requirementsFile = os.path.join(folder, "requirements.txt")
            with open(requirementsFile, "w") as f:
                f.write("\n".join(requirements) + "\n")
            slicer.util.pip_install(f'-r "{requirementsFile}" -c "{constraintsPath}"')
    return not missing_requirements(requirements)


#
# AxillaryPredictorParameterNode
#


@parameterNodeWrapper
class AxillaryPredictorParameterNode:
    """Every setting of the module, stored in the scene (saved and restored with it).

    inputVolume - the image the tumor was segmented on.
    segmentation - the segmentation node holding the tumor segment.
    tumorSegment - name of the tumor segment.
    marginsMm - peritumoral margins in mm, comma-separated.
    phantomSeed - seed of the synthetic sample case.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    segmentation: vtkMRMLSegmentationNode
    tumorSegment: str = "tumor"
    marginsMm: str = "3,5,10"
    phantomSeed: Annotated[int, WithinRange(0, 100000)] = 0


#
# AxillaryPredictorWidget
#


class AxillaryPredictorWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """User interface: collects inputs, calls the Logic, shows results. No computation."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/AxillaryPredictor.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = AxillaryPredictorLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.loadPhantomButton.connect("clicked(bool)", self.onLoadPhantomButton)
        self.ui.checkSegmentButton.connect("clicked(bool)", self.onCheckSegmentButton)

        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtonStates)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            firstVolumeNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolumeNode:
                self._parameterNode.inputVolume = firstVolumeNode

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtonStates)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtonStates)
            self._updateButtonStates()

    def _updateButtonStates(self, caller=None, event=None) -> None:
        ready = bool(self._parameterNode and self._parameterNode.inputVolume and self._parameterNode.segmentation)
        self.ui.checkSegmentButton.enabled = ready
        self.ui.checkSegmentButton.toolTip = (
            "Check the tumor segment" if ready else "Select a volume and a segmentation first")

    def onLoadPhantomButton(self) -> None:
        with slicer.util.tryWithErrorDisplay("Failed to load the synthetic case.", waitCursor=True):
            if not ensureRequirements():
                return
            volumeNode, segmentationNode = self.logic.loadPhantomCase(seed=self._parameterNode.phantomSeed)
            self._parameterNode.inputVolume = volumeNode
            self._parameterNode.segmentation = segmentationNode
            slicer.util.setSliceViewerLayers(background=volumeNode, fit=True)
            self.ui.statusLabel.text = f"Loaded synthetic case '{volumeNode.GetName()}' (demonstration data)."

    def onCheckSegmentButton(self) -> None:
        with slicer.util.tryWithErrorDisplay("Failed to read the tumor segment.", waitCursor=True):
            mask = self.logic.segmentMask(self._parameterNode.segmentation, self._parameterNode.tumorSegment,
                                          self._parameterNode.inputVolume)
            import SimpleITK as sitk

            stats = sitk.StatisticsImageFilter()
            stats.Execute(mask)
            voxels = int(stats.GetSum())
            spacing = mask.GetSpacing()
            volumeMm3 = voxels * spacing[0] * spacing[1] * spacing[2]
            self.ui.statusLabel.text = f"Tumor segment: {voxels} voxels, {volumeMm3:.0f} mm³."


#
# AxillaryPredictorLogic
#


class AxillaryPredictorLogic(ScriptedLoadableModuleLogic):
    """Thin facade over ``AxillaryPredictorLib.logic.AxillaryPredictorLogicBase``, which holds
    every Logic method (camelCase, tested headless on the real MRML scene).

    Attribute look-ups the Logic does not define go to a base instance created here,
    so that loading this file never imports the Lib or its third-party packages (a first
    start in Slicer may not have them installed yet).
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        from AxillaryPredictorLib.logic import AxillaryPredictorLogicBase

        self._base = AxillaryPredictorLogicBase(slicer.mrmlScene)

    def __getattr__(self, name):
        base = self.__dict__.get("_base")
        if base is None:
            raise AttributeError(name)
        return getattr(base, name)

    def getParameterNode(self):
        return AxillaryPredictorParameterNode(super().getParameterNode())


#
# AxillaryPredictorTest
#


class AxillaryPredictorTest(ScriptedLoadableModuleTest):
    """Self-test run by Slicer; calls the same Lib routines as the headless pytest suite."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_PhantomSegmentRoundTrip()

    def test_PhantomSegmentRoundTrip(self):
        """A synthetic case loads into the scene and its tumor segment exports unchanged."""
        import numpy as np
        import SimpleITK as sitk
        from AxillaryPredictorLib.phantoms import make_phantom

        self.delayDisplay("Loading a synthetic case")
        phantom = make_phantom("dce", seed=0, node=True)
        logic = AxillaryPredictorLogic()
        volumeNode, segmentationNode = logic.loadPhantomCase(phantom, name="SelfTestPhantom")
        self.assertEqual(logic.segmentNames(segmentationNode), ["tumor", "node"])
        mask = logic.segmentMask(segmentationNode, "tumor", volumeNode)
        self.assertTrue(np.array_equal(sitk.GetArrayFromImage(mask), sitk.GetArrayFromImage(phantom.tumor)))
        logging.info("AxillaryPredictor self-test passed")
        self.delayDisplay("Test passed")
