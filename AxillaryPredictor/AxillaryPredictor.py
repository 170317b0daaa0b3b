import json
import logging
import os
import sys
import tempfile
from typing import Annotated

import qt
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
        # Register the sample data once Slicer has started (Sample Data module).
        slicer.app.connect("startupCompleted()", registerSampleData)


#
# Sample data
#

def sampleDataFiles():
    """pyradiomics' small breast DCE-MRI case (BSD-3-Clause) at a pinned commit:
    (URL, file name, SHA-256, node name) per file."""
    base = "https://raw.githubusercontent.com/AIM-Harvard/pyradiomics/8ed579383b44806651c463d5e691f3b2b57522ab/data"
    return [
        (f"{base}/breast1_image.nrrd", "breast1_image.nrrd",
         "0e8b668f3ce9b9aacff20dc3c216866f43069ff96b269fb45b76f5e205a431e2", "Breast1"),
        (f"{base}/breast1_label.nrrd", "breast1_label.nrrd",
         "07085bb0e36a956de5bd1c1c1b5f8bdf2ce80952125b13cbd352412c108c8950", "Breast1 tumor"),
    ]


def registerSampleData():
    """Add pyradiomics' breast DCE-MRI case to the Sample Data module (downloaded only when
    the user asks for it, verified by SHA-256)."""
    import SampleData

    files = sampleDataFiles()
    iconsPath = os.path.join(os.path.dirname(__file__), "Resources", "Icons")
    SampleData.SampleDataLogic.registerCustomSampleDataSource(
        category="Axillary Predictor",
        sampleName="Breast DCE-MRI (pyradiomics breast1)",
        thumbnailFileName=os.path.join(iconsPath, "AxillaryPredictor.png"),
        uris=[url for url, _, _, _ in files],
        fileNames=[name for _, name, _, _ in files],
        checksums=[f"SHA256:{digest}" for _, _, digest, _ in files],
        nodeNames=[node for _, _, _, node in files],
        loadFileType=["VolumeFile", "LabelMapVolumeFile"],
    )


#
# Dependencies
#


def requirementsPath():
    return os.path.join(os.path.dirname(__file__), "Resources", "requirements.txt")


def userModelFolder():
    """The user model folder: the Slicer setting AxillaryPredictor/UserModelFolder, else the
    Lib's default ($AXILLARY_PREDICTOR_MODELS or ~/.axillary-predictor/models)."""
    folder = slicer.app.userSettings().value("AxillaryPredictor/UserModelFolder", "") if hasattr(slicer, "app") else ""
    return folder or None


def guiWorkers():
    """Worker processes for interactive runs: all cores on Linux (fork); one elsewhere, where a
    new process would start the Slicer executable instead of Python."""
    return None if sys.platform.startswith("linux") else 1


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

    mode - "Single timepoint" or "Baseline + on-treatment".
    view1Name/view2Name - view or series names ([A-Za-z0-9-]+), e.g. CC and MLO.
    view1Volume ... ontreatmentSegmentation - the images and their segmentations.
    tumorSegment - name of the tumor segment in each segmentation.
    marginsMm - peritumoral margins in mm, comma-separated.
    useExcludeBelow/excludeBelow - keep voxels darker than this (air) out of the margins.
    excludeSegments - segments kept out of the margins, comma-separated.
    modelId - the chosen model package; clinicalValues - the clinical inputs as JSON.
    phantomSeed - seed of the synthetic sample case.
    """

    mode: str = "Single timepoint"
    view1Name: str = "CC"
    view1Volume: vtkMRMLScalarVolumeNode
    view1Segmentation: vtkMRMLSegmentationNode
    view2Name: str = "MLO"
    view2Volume: vtkMRMLScalarVolumeNode
    view2Segmentation: vtkMRMLSegmentationNode
    baselineVolume: vtkMRMLScalarVolumeNode
    baselineSegmentation: vtkMRMLSegmentationNode
    ontreatmentVolume: vtkMRMLScalarVolumeNode
    ontreatmentSegmentation: vtkMRMLSegmentationNode
    tumorSegment: str = "tumor"
    marginsMm: str = "3,5,10"
    useExcludeBelow: bool = False
    excludeBelow: float = -500.0
    excludeSegments: str = ""
    modelId: str = ""
    clinicalValues: str = "{}"
    phantomSeed: Annotated[int, WithinRange(0, 100000)] = 0


#
# AxillaryPredictorWidget
#


class AxillaryPredictorWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """User interface: collects inputs, calls the Logic, shows results. No computation here."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._clinicalEditors = {}
        self._lastResult = None
        self._cancelRequested = False

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/AxillaryPredictor.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = AxillaryPredictorLogic()
        self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(self.logic.getSegmentEditorNode())
        self.ui.clinicalFormWidget.setLayout(qt.QFormLayout())

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.createTumorSegmentButton.connect("clicked(bool)", self.onCreateTumorSegment)
        self.ui.applyRegionsButton.connect("clicked(bool)", self.onApplyRegions)
        self.ui.modelComboBox.connect("currentIndexChanged(int)", self.onModelChanged)
        self.ui.loadModelButton.connect("clicked(bool)", self.onLoadModel)
        self.ui.runButton.connect("clicked(bool)", self.onRun)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.ui.saveReportButton.connect("clicked(bool)", self.onSaveReport)
        self.ui.exportFeaturesButton.connect("clicked(bool)", self.onExportFeatures)
        self.ui.loadPhantomButton.connect("clicked(bool)", self.onLoadPhantomButton)

        self.initializeParameterNode()
        if self._requirementsReady():
            self.refreshModelList()

    def _requirementsReady(self) -> bool:
        """Install the Python packages on first use (asks first); False when they are missing."""
        with slicer.util.tryWithErrorDisplay("Failed to install the required Python packages."):
            if ensureRequirements():
                return True
        self.ui.statusLabel.text = ("The Python packages this module needs are not installed yet; reopen the module "
                                    "to install them.")
        return False

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateGUIState)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.view1Volume:
            firstVolumeNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolumeNode:
                self._parameterNode.view1Volume = firstVolumeNode

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateGUIState)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateGUIState)
            self._updateGUIState()

    def _isDeltaMode(self) -> bool:
        return bool(self._parameterNode) and self._parameterNode.mode.startswith("Baseline")

    def _updateGUIState(self, caller=None, event=None) -> None:
        if not self._parameterNode:
            return
        delta = self._isDeltaMode()
        for name in ("view1Volume", "view1Segmentation", "view2Volume", "view2Segmentation"):
            getattr(self.ui, name + "Selector").enabled = not delta
        for name in ("baselineVolume", "baselineSegmentation", "ontreatmentVolume", "ontreatmentSegmentation"):
            getattr(self.ui, name + "Selector").enabled = delta
        p = self._parameterNode
        ready = (p.baselineVolume and p.baselineSegmentation and p.ontreatmentVolume and p.ontreatmentSegmentation
                 ) if delta else (p.view1Volume and p.view1Segmentation)
        self.ui.runButton.enabled = bool(ready and self.ui.modelComboBox.currentData)
        self.ui.runButton.toolTip = "Run the prediction" if self.ui.runButton.enabled else (
            "Select the images, their segmentations and a model first")
        self.ui.applyRegionsButton.enabled = bool(p.view1Volume and p.view1Segmentation) or bool(
            p.baselineVolume and p.baselineSegmentation)
        feasibility = self.logic.marginFeasibility(p.baselineVolume if delta else p.view1Volume, p.marginsMm)
        if feasibility:
            self.ui.regionsStatusLabel.text = feasibility
            self.ui.applyRegionsButton.enabled = False
        self.ui.segmentEditorWidget.setSegmentationNode(p.baselineSegmentation if delta else p.view1Segmentation)
        self.ui.segmentEditorWidget.setSourceVolumeNode(p.baselineVolume if delta else p.view1Volume)

    # ------------------------------------------------------------------ inputs

    def onCreateTumorSegment(self) -> None:
        with slicer.util.tryWithErrorDisplay("Failed to create the tumor segment.", waitCursor=True):
            p = self._parameterNode
            volume = p.baselineVolume if self._isDeltaMode() else p.view1Volume
            if not volume:
                raise ValueError("Select the image to segment first.")
            segmentation = p.baselineSegmentation if self._isDeltaMode() else p.view1Segmentation
            segmentation, segmentId = self.logic.createTumorSegment(segmentation, volume, p.tumorSegment)
            if self._isDeltaMode():
                p.baselineSegmentation = segmentation
            else:
                p.view1Segmentation = segmentation
            self.ui.segmentEditorWidget.setCurrentSegmentID(segmentId)
            self.ui.statusLabel.text = f"Created segment '{p.tumorSegment}': draw the tumor with the effects above."

    def onApplyRegions(self) -> None:
        if not self._requirementsReady():
            return
        with slicer.util.tryWithErrorDisplay("Failed to build the peritumoral regions.", waitCursor=True):
            p = self._parameterNode
            pairs = [(p.baselineVolume, p.baselineSegmentation), (p.ontreatmentVolume, p.ontreatmentSegmentation)] \
                if self._isDeltaMode() else [(p.view1Volume, p.view1Segmentation), (p.view2Volume, p.view2Segmentation)]
            messages = []
            for volume, segmentation in pairs:
                if not (volume and segmentation):
                    continue
                report = self.logic.buildRegions(
                    segmentation, p.tumorSegment, volume, p.marginsMm,
                    excludeBelow=p.excludeBelow if p.useExcludeBelow else None,
                    excludeSegments=[s.strip() for s in p.excludeSegments.split(",") if s.strip()])
                messages.append(f"{segmentation.GetName()}:\n{report.describe()}")
            self.ui.regionsStatusLabel.text = "\n".join(messages)

    # ------------------------------------------------------------------- model

    def refreshModelList(self) -> None:
        self.ui.modelComboBox.clear()
        try:
            models = self.logic.listModels()
        except Exception as error:  # registry problems must not break the module panel
            self.ui.statusLabel.text = f"Could not read the model registry: {error}"
            return
        for entry in models:
            self.ui.modelComboBox.addItem(f"{entry['title']} [{entry['status']}]", entry["id"])
        if self._parameterNode and self._parameterNode.modelId:
            index = self.ui.modelComboBox.findData(self._parameterNode.modelId)
            if index >= 0:
                self.ui.modelComboBox.currentIndex = index

    def onModelChanged(self, index) -> None:
        modelId = self.ui.modelComboBox.itemData(index)
        if not modelId or not self._parameterNode:
            return
        self._parameterNode.modelId = modelId
        with slicer.util.tryWithErrorDisplay("Failed to read the model package."):
            self.ui.modelCardTextBrowser.setHtml(self.logic.modelCardHtml(modelId))
            views = self.logic.modelViews(modelId)  # name the inputs as the model does (e.g. CC, MLO; DCE3)
            self._parameterNode.view1Name = views[0]
            if len(views) > 1:
                self._parameterNode.view2Name = views[1]
            self._buildClinicalForm(self.logic.clinicalVariables(modelId))
        self._updateGUIState()

    def onLoadModel(self) -> None:
        path = qt.QFileDialog.getOpenFileName(self.parent, "Load model package", "", "Model package (*.json)")
        if not path:
            return
        with slicer.util.tryWithErrorDisplay("This model package cannot be used.", waitCursor=True):
            modelId = self.logic.loadModelPackage(path)
            self.refreshModelList()
            self.ui.modelComboBox.currentIndex = self.ui.modelComboBox.findData(modelId)

    def _buildClinicalForm(self, variables) -> None:
        layout = self.ui.clinicalFormWidget.layout()
        while layout.count():
            item = layout.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self._clinicalEditors = {}
        stored = json.loads(self._parameterNode.clinicalValues or "{}")
        for variable in variables:
            label = variable.get("label", variable["name"]) + (f" ({variable['unit']})" if variable.get("unit") else "")
            if variable.get("levels"):
                editor = qt.QComboBox()
                editor.addItems([str(level) for level in variable["levels"]])
                if variable["name"] in stored:
                    editor.setCurrentText(str(stored[variable["name"]]))
                editor.connect("currentIndexChanged(int)", self._storeClinicalValues)
            else:
                editor = qt.QLineEdit()
                low, high = (variable.get("range") or [None, None])[:2]
                editor.placeholderText = f"{low} to {high}" if low is not None else "number"
                editor.text = str(stored.get(variable["name"], ""))
                editor.connect("editingFinished()", self._storeClinicalValues)
            editor.toolTip = variable.get("description", "")
            layout.addRow(label + ":", editor)
            self._clinicalEditors[variable["name"]] = editor

    def _clinicalValues(self) -> dict:
        values = {}
        for name, editor in self._clinicalEditors.items():
            text = editor.currentText if isinstance(editor, qt.QComboBox) else editor.text.strip()
            if text != "":
                values[name] = text
        return values

    def _storeClinicalValues(self, *args) -> None:
        if self._parameterNode:
            self._parameterNode.clinicalValues = json.dumps(self._clinicalValues())

    # --------------------------------------------------------------------- run

    def _progress(self, fraction: float, message: str) -> None:
        self.ui.progressBar.value = int(100 * fraction)
        self.ui.statusLabel.text = message
        slicer.app.processEvents()
        if self._cancelRequested:
            raise RuntimeError("Cancelled by the user.")

    def onCancel(self) -> None:
        self._cancelRequested = True

    def onRun(self) -> None:
        if not self._requirementsReady():
            return
        p = self._parameterNode
        self._cancelRequested = False
        self.ui.cancelButton.enabled = True
        self.ui.runButton.enabled = False
        try:
            with slicer.util.tryWithErrorDisplay("Prediction failed.", waitCursor=True):
                clinical = self._clinicalValues()
                if self._isDeltaMode():
                    result = self.logic.predictDelta(
                        p.modelId, (p.baselineVolume, p.baselineSegmentation),
                        (p.ontreatmentVolume, p.ontreatmentSegmentation), clinical=clinical,
                        segment=p.tumorSegment, progress=self._progress, workers=guiWorkers())
                else:
                    views = {p.view1Name: (p.view1Volume, p.view1Segmentation)}
                    if p.view2Volume and p.view2Segmentation:
                        views[p.view2Name] = (p.view2Volume, p.view2Segmentation)
                    result = self.logic.predict(p.modelId, views, clinical=clinical, segment=p.tumorSegment,
                                                progress=self._progress, workers=guiWorkers())
                self._lastResult = result
                self.ui.resultLabel.text = result.summary()
                self.logic.showResult(result)
                self.ui.saveReportButton.enabled = True
                self.ui.exportFeaturesButton.enabled = True
        finally:
            self.ui.cancelButton.enabled = False
            self._updateGUIState()

    def onSaveReport(self) -> None:
        folder = qt.QFileDialog.getExistingDirectory(self.parent, "Save report to folder")
        if not folder:
            return
        with slicer.util.tryWithErrorDisplay("Failed to save the report.", waitCursor=True):
            paths = self.logic.saveReport(self._lastResult, folder)
            self.ui.statusLabel.text = f"Report saved: {paths['html']} and {paths['pdf']}"

    def onExportFeatures(self) -> None:
        path = qt.QFileDialog.getSaveFileName(self.parent, "Export features", "features.csv", "CSV (*.csv)")
        if not path:
            return
        with slicer.util.tryWithErrorDisplay("Failed to export the features.", waitCursor=True):
            self.logic.exportFeatures(self._lastResult, path)
            self.ui.statusLabel.text = f"Features written to {path}"

    # ----------------------------------------------------------------- sample

    def onLoadPhantomButton(self) -> None:
        if not self._requirementsReady():
            return
        with slicer.util.tryWithErrorDisplay("Failed to load the synthetic case.", waitCursor=True):
            volumeNode, segmentationNode = self.logic.loadPhantomCase(seed=self._parameterNode.phantomSeed)
            self._parameterNode.view1Volume = volumeNode
            self._parameterNode.view1Segmentation = segmentationNode
            slicer.util.setSliceViewerLayers(background=volumeNode, fit=True)
            self.ui.statusLabel.text = f"Loaded synthetic case '{volumeNode.GetName()}' (demonstration data)."


#
# AxillaryPredictorLogic
#


class AxillaryPredictorLogic(ScriptedLoadableModuleLogic):
    """Thin facade over ``AxillaryPredictorLib.scene.logic.AxillaryPredictorLogicBase``, which holds
    every Logic method (camelCase, tested headless on the real MRML scene).

    Attribute look-ups the Logic does not define go to a base instance created here,
    so that loading this file never imports the Lib or its third-party packages (a first
    start in Slicer may not have them installed yet).
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        from AxillaryPredictorLib.scene.logic import AxillaryPredictorLogicBase

        self._base = AxillaryPredictorLogicBase(slicer.mrmlScene, userModelFolder())

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
        self.setUp()
        self.test_RegionsAndPrediction()

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

    def test_RegionsAndPrediction(self):
        """Regions and a prediction with the bundled demonstration model on a synthetic case
        (no network): the same Lib routines the headless pytest suite runs."""
        from AxillaryPredictorLib.phantoms import LesionSpec, make_phantom

        self.delayDisplay("Building regions and predicting on a synthetic case")
        logic = AxillaryPredictorLogic()
        volumeNode, segmentationNode = logic.loadPhantomCase(
            make_phantom("dce", seed=4, lesion=LesionSpec(diameter_mm=16)), name="SelfTestCase")
        regionSet = logic.buildRegions(segmentationNode, "tumor", volumeNode, "3")
        self.assertIn("margin3mm", logic.segmentNames(segmentationNode))
        self.assertGreater(regionSet.reports["margin3mm"].voxels, 0)
        result = logic.predict("demo-dce-aln", {"DCE3": (volumeNode, segmentationNode)},
                               clinical={"ki67": 30, "us_aln": "negative"}, caseId="SelfTest")
        self.assertTrue(0.0 < result.prediction.probability < 1.0)
        self.assertIsNotNone(result.nomogramNode)
        self.delayDisplay("Test passed")
