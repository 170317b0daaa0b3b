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
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import *
from slicer.util import VTKObservationMixin

# This file is read by older Slicers too (Python 3.9 in Slicer 5.8), so that the version check
# below can explain why the module does not start: keep its syntax Python 3.9-compatible.


def minimumSlicerVersion():
    """Oldest Slicer this module runs on, (major, minor): the Lib needs Python 3.10+ and
    Slicer 5.8 has Python 3.9.10 (Slicer's SuperBuild), Slicer 5.10 Python 3.12."""
    return (5, 10)


def slicerVersionProblem(version=None):
    """'' when this Slicer is new enough, else the message shown instead of the module panel.
    ``version``: (major, minor), default the running Slicer's."""
    if version is None:
        version = (slicer.app.majorVersion, slicer.app.minorVersion)
    if tuple(version) >= minimumSlicerVersion():
        return ""
    return ("Axillary Predictor needs 3D Slicer {}.{} or later (it uses Python 3.10+); this is Slicer {}.{}. "
            "Install a newer Slicer from https://download.slicer.org.").format(*minimumSlicerVersion(), *version)


#
# AxillaryPredictor
#


class AxillaryPredictor(ScriptedLoadableModule):
    """Module description shown in Slicer's module panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Axillary Predictor"
        self.parent.categories = ["Quantification"]
        self.parent.dependencies = ["Segmentations"]
        self.parent.contributors = ["AxillaryPredictor developers"]
        self.parent.helpText = """
Predicts axillary lymph node (ALN) status in breast cancer from tumor and peritumoral radiomics:
grow 3/5/10 mm margins around the tumor segment, extract pyradiomics features, apply a bundled or
locally trained model and show a nomogram report. Needs 3D Slicer 5.10 or later.
Research use only: not a medical device.
See the <a href="https://github.com/axillary-predictor/SlicerAxillaryPredictor#readme">documentation</a>.
"""
        self.parent.acknowledgementText = """
Implements methods published by He et al. (BMC Med Imaging 2025), Zeng et al. (BMC Cancer 2025),
Zhang et al. (The Oncologist 2025), Lu et al. (2025) and Liu et al. (Front Med 2025).
Feature extraction by pyradiomics (van Griethuysen et al., Cancer Research 2017).
"""
        problem = slicerVersionProblem()
        if problem:
            logging.error(problem)
            self.parent.helpText = problem + "\n" + self.parent.helpText
            return
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
         "07085bb0e36a956de5bd1c1c1b5f8bdf2ce80952125b13cbd352412c108c8950", "Breast1 segmentation"),
    ]


def registerSampleData():
    """Add pyradiomics' breast DCE-MRI case to the Sample Data module (downloaded only when
    the user asks for it, verified by SHA-256). The label file is read as a segmentation and
    its segment is named ``tumor`` by ``downloadSampleCase``."""
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
        loadFileTypes=["VolumeFile", "SegmentationFile"],
        customDownloader=downloadSampleCase,
    )


def downloadSampleCase(source=None):
    """Download the sample case into Slicer's cache (SHA-256 checked), load the image as a volume
    and the label as a segmentation whose segment is named ``tumor``. Returns (volume, segmentation)."""
    import SampleData

    from AxillaryPredictorLib.scene.nodes import prepare_loaded_segmentation

    sampleDataLogic = SampleData.SampleDataLogic()
    (imageUrl, imageName, imageDigest, volumeName), (labelUrl, labelName, labelDigest, segmentationName) = \
        sampleDataFiles()
    imagePath = sampleDataLogic.downloadFileIntoCache(imageUrl, imageName, f"SHA256:{imageDigest}")
    labelPath = sampleDataLogic.downloadFileIntoCache(labelUrl, labelName, f"SHA256:{labelDigest}")
    volumeNode = slicer.util.loadVolume(imagePath, {"name": volumeName})
    segmentationNode = slicer.util.loadSegmentation(labelPath, {"name": segmentationName})
    prepare_loaded_segmentation(segmentationNode, volumeNode, "tumor")
    slicer.util.setSliceViewerLayers(background=volumeNode, fit=True)
    return volumeNode, segmentationNode


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
    """Worker processes for runs inside Slicer: all cores on Linux (fork); one elsewhere, where a
    new process would start the Slicer executable instead of Python."""
    return None if sys.platform.startswith("linux") else 1


def ensureRequirements(ask=None):
    """Install the module's Python requirements (missing, or at a version outside the range)
    and keep the packages Slicer ships at their versions (constraint file). Returns True when
    everything is installed.

    ``ask``: confirm with the user first; by default only when Slicer has a main window, since
    a dialog would block the Python console's scripts and ``--no-main-window`` runs. Uses
    ``slicer.packaging.pip_ensure`` where it exists (Slicer 5.12+), else ``slicer.util.pip_install``.
    """
    from AxillaryPredictorLib.dependencies import install_plan, missing_requirements, read_requirements

    requirements = read_requirements(requirementsPath())
    missing = missing_requirements(requirements)
    if not missing:
        return True
    if ask is None:
        ask = slicer.util.mainWindow() is not None
    packaging = getattr(slicer, "packaging", None)
    with tempfile.TemporaryDirectory() as folder:
        plan = install_plan(missing, folder, pipEnsure=hasattr(packaging, "pip_ensure"))
        if plan.command == "pip_ensure":
            packaging.pip_ensure(plan.requirements, constraints=plan.constraints, prompt_install=ask,
                                 requester="Axillary Predictor", skip_in_testing=False)
        else:
            if ask and not slicer.util.confirmOkCancelDisplay(plan.question):
                return False
            slicer.util.pip_install(plan.pipArguments)
    return not missing_requirements(requirements)


#
# AxillaryPredictorParameterNode
#


@parameterNodeWrapper
class AxillaryPredictorParameterNode:
    """Every setting of the module, stored in the scene (saved and restored with it).

    mode - a single timepoint, or baseline + on-treatment scans (delta radiomics).
    caseId - names the result nodes and the report, so that each patient keeps their own.
    view1Name/view2Name - view or series names ([A-Za-z0-9-]+), e.g. CC and MLO.
    view1Volume ... ontreatmentSegmentation - the images and their segmentations.
    tumorSegment - name of the tumor segment in each segmentation.
    marginsMm - peritumoral margins in mm, comma-separated.
    useExcludeBelow/excludeBelow - keep voxels darker than this (air) out of the margins.
    excludeSegments - segments kept out of the margins, comma-separated.
    modelId - the chosen model package; clinicalValues - the clinical inputs as JSON.
    phantomSeed - seed of the synthetic sample case.
    """

    mode: Annotated[str, Choice(["Single timepoint", "Baseline + on-treatment"])] = "Single timepoint"
    caseId: str = "case1"
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

    #: Text of a clinical choice the user has not made yet.
    NOT_CHOSEN = "(choose)"

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self.ui = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._clinicalEditors = {}
        self._lastResult = None
        self._cancelRequested = False

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        problem = slicerVersionProblem()
        if problem:
            label = qt.QLabel(problem)
            label.wordWrap = True
            self.layout.addWidget(label)
            return
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
        self.ui.fetchBackboneButton.connect("clicked(bool)", self.onFetchBackbone)
        self.ui.runButton.connect("clicked(bool)", self.onRun)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.ui.saveReportButton.connect("clicked(bool)", self.onSaveReport)
        self.ui.exportFeaturesButton.connect("clicked(bool)", self.onExportFeatures)
        self.ui.loadPhantomButton.connect("clicked(bool)", self.onLoadPhantomButton)

        self.initializeParameterNode()
        if self._requirementsReady():
            self.refreshModelList()

    def _requirementsReady(self) -> bool:
        """Install the Python packages on first use (asks first); False when they are missing.
        Called again by every action that needs them, so a declined install can be retried."""
        ready = False
        try:
            ready = ensureRequirements()
        except Exception as error:  # shown to the user; the panel stays usable for a retry
            logging.exception("Installing the Python requirements failed")
            slicer.util.errorDisplay(f"Failed to install the required Python packages: {error}")
        if not ready:
            self.ui.statusLabel.text = ("The Python packages this module needs are not installed yet; reopen the "
                                        "module or press Predict to install them.")
        return ready

    def cleanup(self) -> None:
        self.removeObservers()
        if self.ui:
            self._releaseSegmentEditor()

    def enter(self) -> None:
        if not self.ui:
            return
        self.ui.segmentEditorWidget.installKeyboardShortcuts()
        self.initializeParameterNode()
        if self.ui.modelComboBox.count == 0 and self._requirementsReady():
            self.refreshModelList()  # recovers after a declined or failed install

    def exit(self) -> None:
        if not self.ui:
            return
        self._releaseSegmentEditor()
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateGUIState)

    def _releaseSegmentEditor(self) -> None:
        """As Slicer's Segment Editor module does on exit: stop the active effect (a Paint
        effect would keep painting in other modules), its shortcuts and view observers."""
        self.ui.segmentEditorWidget.setActiveEffect(None)
        self.ui.segmentEditorWidget.uninstallKeyboardShortcuts()
        self.ui.segmentEditorWidget.removeViewObservations()

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)
        self.ui.segmentEditorWidget.setSegmentationNode(None)
        self.ui.segmentEditorWidget.removeViewObservations()
        self._lastResult = None
        self.ui.reportBrowser.clear()

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.view1Volume:
            firstVolumeNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolumeNode and not firstVolumeNode.IsA("vtkMRMLLabelMapVolumeNode"):
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
        return bool(self._parameterNode) and self._parameterNode.mode == "Baseline + on-treatment"

    def _editedPair(self):
        """(volume, segmentation) the Segment Editor and the region builder work on."""
        p = self._parameterNode
        return (p.baselineVolume, p.baselineSegmentation) if self._isDeltaMode() else (p.view1Volume,
                                                                                        p.view1Segmentation)

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
        missingClinical = self._missingClinical()
        self.ui.runButton.enabled = bool(ready and self.ui.modelComboBox.currentData and not missingClinical)
        if self.ui.runButton.enabled:
            self.ui.runButton.toolTip = "Run the prediction"
        elif ready and missingClinical:
            self.ui.runButton.toolTip = "Enter the clinical inputs first: " + ", ".join(missingClinical)
        else:
            self.ui.runButton.toolTip = "Select the images, their segmentations and a model first"
        volume, segmentation = self._editedPair()
        self.ui.applyRegionsButton.enabled = bool(volume and segmentation)
        feasibility = self.logic.marginFeasibility(volume, p.marginsMm)
        if feasibility:
            self.ui.regionsStatusLabel.text = feasibility
            self.ui.applyRegionsButton.enabled = False
        self._updateSegmentEditor(volume, segmentation)

    def _updateSegmentEditor(self, volume, segmentation) -> None:
        """The source volume is set only once a segmentation is (otherwise the editor logs an error)."""
        editor = self.ui.segmentEditorWidget
        if editor.segmentationNode() != segmentation:
            editor.setSegmentationNode(segmentation)
        if segmentation and volume and editor.sourceVolumeNode() != volume:
            editor.setSourceVolumeNode(volume)

    # ------------------------------------------------------------------ inputs

    def onCreateTumorSegment(self) -> None:
        with slicer.util.tryWithErrorDisplay("Failed to create the tumor segment.", waitCursor=True):
            p = self._parameterNode
            volume, segmentation = self._editedPair()
            if not volume:
                raise ValueError("Select the image to segment first.")
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
        """Fill the model list without firing a change per item, so the model stored in the
        parameter node (e.g. from a saved scene) stays selected."""
        combo = self.ui.modelComboBox
        wasBlocked = combo.blockSignals(True)
        try:
            combo.clear()
            try:
                models = self.logic.listModels()
            except Exception as error:  # registry problems must not break the module panel
                self.ui.statusLabel.text = f"Could not read the model registry: {error}"
                return
            for entry in models:
                combo.addItem(f"{entry['title']} [{entry['status']}]", entry["id"])
            stored = self._parameterNode.modelId if self._parameterNode else ""
            index = combo.findData(stored) if stored else -1
            combo.currentIndex = index if index >= 0 else 0
        finally:
            combo.blockSignals(wasBlocked)
        self.onModelChanged(combo.currentIndex)

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
            self._showBackbone(modelId)
        self._updateGUIState()

    def _showBackbone(self, modelId: str) -> None:
        """The fetch button appears for models whose deep features need a registry backbone not yet fetched."""
        backbone = self.logic.modelBackbone(modelId)
        self.ui.fetchBackboneButton.visible = backbone is not None and not backbone["fetched"]
        if backbone is not None:
            self.ui.fetchBackboneButton.text = f"Fetch deep-feature backbone {backbone['name']}..."

    def onFetchBackbone(self) -> None:
        modelId = self._parameterNode.modelId if self._parameterNode else ""
        backbone = self.logic.modelBackbone(modelId) if modelId else None
        if backbone is None or backbone["fetched"]:
            return
        question = (f"Model {modelId} needs the ImageNet backbone {backbone['name']} ({backbone['licence']}).\n\n"
                    f"Download it from\n{backbone['url']}\ninto {backbone['path']}?\n\n"
                    "The file is checked against its published SHA-256 before every use.")
        if not slicer.util.confirmOkCancelDisplay(question, windowTitle="Download backbone"):
            return
        with slicer.util.tryWithErrorDisplay("The backbone could not be downloaded.", waitCursor=True):
            path = self.logic.fetchBackbone(backbone["name"])
            self.ui.statusLabel.text = f"Backbone {backbone['name']} saved to {path}"
        self._showBackbone(modelId)

    def onLoadModel(self) -> None:
        path = qt.QFileDialog.getOpenFileName(self.parent, "Load model package", "", "Model package (*.json)")
        if not path:
            return
        with slicer.util.tryWithErrorDisplay("This model package cannot be used.", waitCursor=True):
            modelId = self.logic.loadModelPackage(path)
            self._parameterNode.modelId = modelId
            self.refreshModelList()

    def _buildClinicalForm(self, variables) -> None:
        """One editor per clinical input. A categorical input starts unset ("(choose)"): a
        default level would be a silent clinical statement, so Predict waits for a choice."""
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
                editor.addItems([self.NOT_CHOSEN] + [str(level) for level in variable["levels"]])
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
            if text not in ("", self.NOT_CHOSEN):
                values[name] = text
        return values

    def _missingClinical(self) -> list:
        values = self._clinicalValues()
        return [name for name in self._clinicalEditors if name not in values]

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
                caseId = p.caseId.strip() or "case"
                if self._isDeltaMode():
                    result = self.logic.predictDelta(
                        p.modelId, (p.baselineVolume, p.baselineSegmentation),
                        (p.ontreatmentVolume, p.ontreatmentSegmentation), clinical=clinical,
                        segment=p.tumorSegment, caseId=caseId, progress=self._progress, workers=guiWorkers())
                else:
                    views = {p.view1Name: (p.view1Volume, p.view1Segmentation)}
                    if p.view2Volume and p.view2Segmentation:
                        views[p.view2Name] = (p.view2Volume, p.view2Segmentation)
                    result = self.logic.predict(p.modelId, views, clinical=clinical, segment=p.tumorSegment,
                                                caseId=caseId, progress=self._progress, workers=guiWorkers())
                self._lastResult = result
                self.ui.resultLabel.text = result.summary()
                self._showReport(result)
                self.ui.saveReportButton.enabled = True
                self.ui.exportFeaturesButton.enabled = True
        finally:
            self.ui.cancelButton.enabled = False
            self._updateGUIState()

    def _showReport(self, result) -> None:
        """The case report (probability, risk group, nomogram, contributions, warnings) in the panel."""
        from AxillaryPredictorLib.scene.results import report_for_panel

        html, images = report_for_panel(result.reportNode.GetText())
        document = self.ui.reportBrowser.document()
        for name, data in images.items():
            image = qt.QImage()
            image.loadFromData(qt.QByteArray(data))
            document.addResource(qt.QTextDocument.ImageResource, qt.QUrl(name), image)
        self.ui.reportBrowser.setHtml(html)
        self.ui.resultsCollapsibleButton.collapsed = False

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

    def runCohort(self, manifestPath, outputDir, progressCallback=None, command="extract", **options):
        """Batch over a manifest, as ``axillary-predictor cohort``. Inside Slicer on Windows and
        macOS a worker process would start Slicer itself, so the cases run in this process there."""
        options.setdefault("workers", guiWorkers())
        return self._base.runCohort(manifestPath, outputDir, progressCallback, command, **options)


#
# AxillaryPredictorTest
#


class AxillaryPredictorTest(ScriptedLoadableModuleTest):
    """Self-test run by Slicer; calls the same Lib routines as the headless pytest suite."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.assertTrue(ensureRequirements(ask=False), "the module's Python requirements could not be installed")
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
        self.assertIn("SelfTest", result.reportNode.GetText())
        self.delayDisplay("Test passed")
