"""The page of ``axillary-predictor serve``: trame-slicer's slice and 3D views beside the six steps.

Each button calls one ``WebSession`` method inside ``_guard``: a user error (``AxillaryPredictorError``,
missing file) becomes the red message on the page, anything else is logged with its traceback and
shown as a bug; the server keeps running either way. No computation happens here.

Predict reads the case from the scene and writes the result to it in the server's main thread (which
owns the MRML scene and the views) and runs the extraction in a worker thread, so the page can show
its progress; other actions wait until it is done.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import tempfile
from pathlib import Path
from typing import Any

from trame.app import TrameApp
from trame.widgets import html
from trame.widgets import vuetify3 as v3
from trame_vuetify.ui.vuetify3 import SinglePageWithDrawerLayout

from AxillaryPredictorLib.web.session import (
    CASE_KINDS,
    IMAGE_SUFFIXES,
    SCAN_LABELS,
    SegmentEditorParts,
    WebSession,
    user_message,
)

LOG = logging.getLogger(__name__)

#: Downloads of the Report step: kind -> (file name pattern, MIME type).
DOWNLOADS = {"html": ("report.html", "text/html"), "pdf": ("report.pdf", "application/pdf"),
             "json": ("prediction.json", "application/json"), "tumor": ("tumor.nrrd", "application/octet-stream"),
             "image": ("image.nrrd", "application/octet-stream"), "scene": ("scene.zip", "application/zip")}

_BUTTON = {"variant": "tonal", "density": "comfortable", "classes": "ma-1"}


class AxillaryPredictorWebApp(TrameApp):
    """One trame-slicer application (one MRML scene) serving the AxillaryPredictor workflow."""

    def __init__(self, server: Any = None, work_dir: str | Path | None = None) -> None:
        super().__init__(server)
        from trame_slicer.core import LayoutManager, SlicerApp
        from trame_slicer.rca_view import register_rca_factories

        self.slicer = SlicerApp()
        register_rca_factories(self.slicer.view_manager, self.server)
        self.layout_manager = LayoutManager(self.slicer.scene, self.slicer.view_manager, self.server)
        self.layout_manager.register_layout_dict(LayoutManager.default_grid_configuration())
        self.layout_manager.set_layout("Axial Primary")
        parts = SegmentEditorParts(self.slicer.scene, self.slicer.segmentation_editor, self._show_volume)
        self.session = WebSession(parts, work_dir or tempfile.mkdtemp(prefix="axillary-predictor-web-"))
        self._predicting = False
        self._init_state()
        self._build_ui()

    # ----------------------------------------------------------------- state

    def _init_state(self) -> None:
        s = self.state
        s.trame__title = "AxillaryPredictor"
        s.update({"error": "", "message": "Load a case to start.", "busy": False, "loaded": False,
                  "progress": 0, "kind": self.session.kind, "scans": self.session.scan_status(), "active_scan": "scan",
                  "active_label": "scan", "scan_suffix": "", "kind_hint": "",
                  "kinds": [{"title": k.title, "value": name} for name, k in CASE_KINDS.items()],
                  "case_id": "", "image_path": "", "segmentation_path": "", "segment_name": "",
                  "edited_segment": "tumor", "threshold_low": 400.0, "threshold_high": 2000.0, "tumor_voxels": 0,
                  "tool": "none",
                  "margins": "3", "exclude_below": "", "regions": [], "regions_built": False,
                  "models": self.session.models(), "model_id": None, "model_card": [], "clinical_inputs": [],
                  "clinical": {}, "can_predict": False, "result": None, "nomogram_src": "",
                  "download_names": {k: name for k, (name, _) in DOWNLOADS.items()}, "user_model_path": ""})

    def _update_can_predict(self) -> None:
        s = self.state
        inputs_set = all(s.clinical.get(v["name"]) not in (None, "") for v in s.clinical_inputs)
        scans_ready = all(v["loaded"] and (v["tumor_voxels"] > 0 or v["scan"] == "ontreatment") for v in s.scans)
        s.can_predict = bool(s.loaded and s.model_id and inputs_set and scans_ready and not s.kind_hint)

    def _show_volume(self, volume: Any) -> None:
        self.slicer.display_manager.show_volume_in_slice_background(volume)
        self.slicer.display_manager.reset_views()

    def _guard(self, action: Any, *args: Any) -> Any:
        """Run a session action; its result message or its error goes to the page."""
        self.state.error = ""
        if self._predicting:
            self.state.error = "A prediction is running: wait until it is done."
            return None
        try:
            result = action(*args)
        except Exception as error:  # the page shows every failure, the server keeps serving
            self._fail(action, error)
            return None
        if isinstance(result, str) and result:
            self.state.message = result
        return result

    def _fail(self, action: Any, error: Exception) -> None:
        if not isinstance(error, (ValueError, FileNotFoundError)):
            LOG.exception("web action %s failed", getattr(action, "__name__", action), exc_info=error)
        self.state.error = user_message(error)

    def _after_case_change(self) -> None:
        s, session = self.state, self.session
        s.case_id = session.case_id
        s.edited_segment = "tumor"
        s.regions, s.regions_built, s.result, s.nomogram_src = [], False, None, ""
        s.kind_hint = (self._guard(session.kind_mismatch, s.model_id) or "") if s.model_id else ""
        self._refresh_tumor()

    def _refresh_tumor(self) -> None:
        s, session = self.state, self.session
        s.loaded = session.volume is not None
        s.kind, s.active_scan, s.active_label = session.kind, session.active, SCAN_LABELS[session.active]
        s.scan_suffix = "" if session.kind == "single" else f"-{session.active}"
        s.scans = session.scan_status()
        s.tumor_voxels = session.tumor_voxels() if session.volume is not None else 0
        self._update_can_predict()

    # ---------------------------------------------------------------- actions

    def set_kind(self, kind: str) -> None:
        if self._guard(self.session.set_kind, kind):  # '': the case is already of that kind
            self._after_case_change()
        self.state.kind = self.session.kind  # the selector shows the session's kind, also when refused

    def select_scan(self, scan: str) -> None:
        if self._guard(self.session.select_scan, scan) is not None:
            self.state.edited_segment = "tumor"
            self._refresh_tumor()
        self.state.active_scan = self.session.active

    def load_synthetic(self) -> None:
        if self._guard(self.session.load_synthetic) is not None:
            self._after_case_change()

    def load_path(self) -> None:
        if self._guard(self.session.load_image_file, self.state.image_path) is not None:
            self._after_case_change()

    def load_segmentation_path(self) -> None:
        if self._guard(self.session.load_segmentation_file, self.state.segmentation_path,
                       self.state.segment_name) is not None:
            self._refresh_tumor()

    def upload(self, kind: str, files: list[dict] | None) -> None:
        """An uploaded image ('image') or segmentation ('segmentation') file, written to the session folder."""
        from trame.app.file_upload import ClientFile

        self.state.error = ""
        if not files:
            return
        client_file = ClientFile(files[0])
        folder = self.session.work_dir / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / Path(client_file.name).name
        path.write_bytes(client_file.content)
        if kind == "image":
            if not path.name.lower().endswith(IMAGE_SUFFIXES):
                self.state.error = (f"{path.name} is not an image this app reads: upload "
                                    f"{', '.join(IMAGE_SUFFIXES)} (a DICOM series as a .zip).")
                return
            if self._guard(self.session.load_image_file, path) is not None:
                self._after_case_change()
        elif self._guard(self.session.load_segmentation_file, path, self.state.segment_name) is not None:
            self._refresh_tumor()
        if self.state.error:  # name the file as the user knows it, not where the server put it
            self.state.error = self.state.error.replace(str(path), path.name)

    def edit_segment(self, name: str) -> None:
        if self._guard(self.session.edit_segment, name) is not None:
            self.state.edited_segment = name

    def threshold(self) -> None:
        low, high = _number(self.state.threshold_low), _number(self.state.threshold_high)
        if low is None or high is None:
            self.state.error = "Give the threshold's minimum and maximum as numbers."
            return
        self._guard(self.session.threshold, low, high)
        self._refresh_tumor()

    def segment_action(self, name: str) -> None:
        action = {"islands": self.session.keep_largest_island, "undo": self.session.undo,
                  "redo": self.session.redo}[name]
        self._guard(action)
        self._refresh_tumor()

    def set_tool(self, tool: str) -> None:
        self.state.tool = tool
        self._guard(self.session.set_paint_tool, tool)
        self._refresh_tumor()

    def build_regions(self) -> None:
        exclude = str(self.state.exclude_below or "").strip()
        value = _number(exclude) if exclude else None
        if exclude and value is None:
            self.state.error = f"The tissue threshold must be a number, not '{exclude}'."
            return
        regions = self._guard(self.session.build_regions, str(self.state.margins), value)
        if regions is not None:
            self.state.regions, self.state.regions_built, self.state.result = regions, True, None
            self.state.message = f"{len(regions)} regions built and shown as segments."

    def choose_model(self, model_id: str | None) -> None:
        s = self.state
        s.model_id = model_id
        s.model_card = (self._guard(self.session.model_card, model_id) or []) if model_id else []
        s.clinical_inputs = (self._guard(self.session.clinical_inputs, model_id) or []) if model_id else []
        s.clinical = {}
        s.kind_hint = ""
        needed = self._guard(self.session.model_kind, model_id) if model_id else None
        if needed and needed != self.session.kind and not self.session.scans:
            self.set_kind(needed)  # nothing loaded yet: the Load step asks for what the model needs
        elif needed:
            s.kind_hint = self.session.kind_mismatch(model_id)
        self._update_can_predict()

    def add_user_model(self) -> None:
        model_id = self._guard(self.session.add_user_model, self.state.user_model_path)
        if model_id:
            self.state.models = self.session.models()
            self.state.message = f"Model {model_id} verified and added."
            self.choose_model(model_id)

    def set_clinical(self, name: str, value: Any) -> None:
        self.state.clinical = {**self.state.clinical, name: "" if value is None else str(value)}
        self._update_can_predict()

    async def predict(self) -> None:
        """Read the case (main thread), extract and score it in a worker thread while the page shows
        the progress, then add the result to the scene (main thread)."""
        s = self.state
        if s.busy:
            return
        with s:
            s.busy, s.error, s.progress, s.message = True, "", 0, "Reading the case…"
        await asyncio.sleep(0.05)  # let the page show the progress bar
        job = self._guard(self.session.prepare_prediction, s.model_id, dict(s.clinical))
        prediction = await self._run_prediction(job) if job is not None else None
        summary = self._guard(self.session.finish_prediction, job, prediction) if prediction is not None else None
        with s:
            s.busy = False
            if summary is not None:
                s.result = summary
                s.message = summary["summary"]
                s.nomogram_src = self._nomogram_src()

    async def _run_prediction(self, job: Any) -> Any:
        loop = asyncio.get_running_loop()

        def progress(fraction: float, message: str) -> None:  # called in the worker thread
            loop.call_soon_threadsafe(self._show_progress, fraction, message)

        self._predicting = True
        try:
            return await asyncio.to_thread(self.session.run_prediction, job, progress)
        except Exception as error:  # shown on the page like every other failure
            self._fail(self.session.run_prediction, error)
            return None
        finally:
            self._predicting = False

    def _show_progress(self, fraction: float, message: str) -> None:
        LOG.info("predict %3.0f%% %s", 100 * fraction, message)
        with self.state:
            self.state.progress = round(100 * fraction)
            self.state.message = message

    def _nomogram_src(self) -> str:
        files = self._guard(self.session.report_files) or {}
        if "nomogram.png" not in files:
            return ""
        return "data:image/png;base64," + base64.b64encode(files["nomogram.png"].read_bytes()).decode("ascii")

    def download(self, kind: str) -> Any:
        """The bytes of one Report file as a trame attachment (``utils.download`` on the page)."""
        path = self._guard(self._download_path, kind)
        if path is None:
            return None
        return self.server.protocol.addAttachment(Path(path).read_bytes())

    def _download_path(self, kind: str) -> Path:
        session = self.session
        if kind == "tumor":
            return session.export_tumor()
        if kind == "image":
            return session.export_image()
        if kind == "scene":
            return session.save_scene()
        return session.report_files()[DOWNLOADS[kind][0]]

    # -------------------------------------------------------------------- page

    def _build_ui(self) -> None:
        with SinglePageWithDrawerLayout(self.server, full_height=True) as layout:
            layout.title.set_text("AxillaryPredictor — axillary lymph node status from breast imaging")
            layout.root.theme = "light"
            layout.drawer.width = 440
            with layout.drawer, html.Div(classes="pa-2"):
                self._messages()
                self._load_step()
                self._segment_step()
                self._regions_step()
                self._model_step()
                self._predict_step()
                self._report_step()
            with layout.content:
                self.layout_manager.initialize_layout_grid(layout)
        self.ui = layout

    def _messages(self) -> None:
        v3.VAlert(v_if=("error",), type="error", density="compact", text=("error",), classes="mb-2 ap-error")
        v3.VAlert(v_if=("message && !error",), type="info", density="compact", text=("message",),
                  classes="mb-2 ap-message", variant="tonal")
        v3.VProgressLinear(v_if=("busy",), model_value=("progress",), indeterminate=("progress === 0",),
                           color="primary", height=8, classes="mb-2 ap-progress")

    def _step(self, number: int, title: str) -> Any:
        card = v3.VCard(classes="mb-3", variant="outlined")
        with card:
            v3.VCardTitle(f"{number}. {title}", classes="text-subtitle-1 font-weight-bold")
        return card

    def _load_step(self) -> None:
        with self._step(1, "Load"), v3.VCardText():
            v3.VSelect(label="Kind of case (as the model needs)", items=("kinds",), model_value=("kind",),
                       density="compact", hide_details=True, classes="mb-2 ap-kind",
                       update_modelValue=(self.set_kind, "[$event]"))
            self._scan_selector()
            v3.VBtn("Load the synthetic case", click=self.load_synthetic, prepend_icon="mdi-flask", **_BUTTON)
            v3.VTextField(v_model=("image_path",), label="Image path on the server (NRRD, NIfTI, MHA, DICOM folder)",
                          density="compact", hide_details=True, classes="mt-2")
            v3.VBtn("Load path", click=self.load_path, **_BUTTON)
            v3.VFileInput(label="Upload an image", density="compact", hide_details=True, classes="mt-2 ap-upload-image",
                          update_modelValue=(self.upload, "['image', $event ? [].concat($event) : []]"))
            html.Div("Optional: an existing tumor segmentation (labelmap, .seg.nrrd, DICOM SEG)",
                     classes="text-caption mt-2")
            v3.VTextField(v_model=("segmentation_path",), label="Segmentation path on the server", density="compact",
                          hide_details=True)
            v3.VTextField(v_model=("segment_name",), label="Segment name (.seg.nrrd / DICOM SEG with several)",
                          density="compact", hide_details=True)
            v3.VBtn("Load segmentation", click=self.load_segmentation_path, disabled=("!loaded",), **_BUTTON)
            v3.VFileInput(label="Upload a segmentation", density="compact", hide_details=True,
                          classes="mt-2 ap-upload-segmentation", disabled=("!loaded",),
                          update_modelValue=(self.upload, "['segmentation', $event ? [].concat($event) : []]"))
            html.Div("Case: {{ case_id || '(none)' }}", classes="text-body-2 mt-2 ap-case")
            with html.Div(v_if=("scans.length > 1",), classes="text-body-2 ap-scans"):
                html.Div("{{ v.label }}: {{ v.loaded ? v.name + ', tumor ' + v.tumor_voxels + ' voxels' : "
                         "'not loaded' }}", v_for="v in scans", key="v.scan")

    def _scan_selector(self) -> None:
        """Which scan of a two-scan case is shown, loaded into and segmented."""
        html.Div("Scan shown, loaded into and edited:", v_if=("scans.length > 1",), classes="text-caption")
        with v3.VBtnToggle(v_if=("scans.length > 1",), model_value=("active_scan",), mandatory=True,
                           density="compact", classes="mb-2 ap-scan",
                           update_modelValue=(self.select_scan, "[$event]")):
            v3.VBtn("{{ v.label }}", v_for="v in scans", key="v.scan", value=("v.scan",))

    def _segment_step(self) -> None:
        with self._step(2, "Segment the tumor (segment 'tumor')"), v3.VCardText():
            self._scan_selector()
            html.Div("Segment edited by the tools below:", classes="text-caption")
            with v3.VBtnToggle(model_value=("edited_segment",), mandatory=True, density="compact", classes="mb-2",
                               update_modelValue=(self.edit_segment, "[$event]"), disabled=("!loaded",)):
                v3.VBtn("tumor", value="tumor")
                v3.VBtn("node (optional)", value="node")
            with v3.VRow(dense=True):
                with v3.VCol():
                    v3.VTextField(v_model=("threshold_low",), label="Threshold minimum", type="number",
                                  density="compact", hide_details=True)
                with v3.VCol():
                    v3.VTextField(v_model=("threshold_high",), label="Threshold maximum", type="number",
                                  density="compact", hide_details=True)
            v3.VBtn("Apply threshold", click=self.threshold, disabled=("!loaded",), **_BUTTON)
            v3.VBtn("Keep largest island", click=(self.segment_action, "['islands']"), disabled=("!loaded",),
                    **_BUTTON)
            with html.Div():
                v3.VBtn("Paint", click=(self.set_tool, "['paint']"), disabled=("!loaded",),
                        color=("tool === 'paint' ? 'primary' : undefined",), **_BUTTON)
                v3.VBtn("Erase", click=(self.set_tool, "['erase']"), disabled=("!loaded",),
                        color=("tool === 'erase' ? 'primary' : undefined",), **_BUTTON)
                v3.VBtn("Stop painting", click=(self.set_tool, "['none']"), disabled=("!loaded",), **_BUTTON)
                v3.VBtn("Undo", click=(self.segment_action, "['undo']"), disabled=("!loaded",),
                        prepend_icon="mdi-undo", **_BUTTON)
                v3.VBtn("Redo", click=(self.segment_action, "['redo']"), disabled=("!loaded",),
                        prepend_icon="mdi-redo", **_BUTTON)
            html.Div("Tumor: {{ tumor_voxels }} voxels", classes="text-body-2 mt-1 ap-tumor-voxels")

    def _regions_step(self) -> None:
        with self._step(3, "Regions"), v3.VCardText():
            with v3.VRow(dense=True):
                with v3.VCol():
                    v3.VTextField(v_model=("margins",), label="Margins (mm), e.g. 3,5,10", density="compact",
                                  hide_details=True)
                with v3.VCol():
                    v3.VTextField(v_model=("exclude_below",), label="Tissue threshold (optional)", density="compact",
                                  hide_details=True)
            v3.VBtn("Build regions", click=self.build_regions, disabled=("!loaded || tumor_voxels === 0",), **_BUTTON)
            with html.Table(v_if=("regions_built",), classes="text-body-2 ap-regions", style="width: 100%"):
                with html.Tr():
                    for head in ("scan", "region", "voxels", "mm³", "clipped", "warnings"):
                        html.Th(head, style="text-align: left")
                with html.Tr(v_for="r in regions", key="r.scan + r.region"):
                    for key in ("scan", "region", "voxels", "volume_mm3", "clipped", "warnings"):
                        html.Td(f"{{{{ r.{key} }}}}")

    def _model_step(self) -> None:
        with self._step(4, "Model"), v3.VCardText():
            v3.VSelect(label="Model", items=("models",), model_value=("model_id",), density="compact",
                       hide_details=True, classes="ap-model",
                       update_modelValue=(self.choose_model, "[$event]"))
            with v3.VRow(dense=True, classes="mt-1"):
                with v3.VCol(cols=8):
                    v3.VTextField(v_model=("user_model_path",), label="Your model package (.json path)",
                                  density="compact", hide_details=True)
                with v3.VCol(cols=4):
                    v3.VBtn("Add", click=self.add_user_model, **_BUTTON)
            v3.VAlert(v_if=("kind_hint",), type="warning", density="compact", text=("kind_hint",),
                      classes="mt-2 ap-kind-hint", variant="tonal")
            with (html.Table(v_if=("model_card.length",), classes="text-body-2 mt-2 ap-model-card"),
                  html.Tr(v_for="row in model_card", key="row.label")):
                    html.Td("{{ row.label }}", style="vertical-align: top; padding-right: 8px; font-weight: bold")
                    html.Td("{{ row.text }}")
            with html.Div(v_for="v in clinical_inputs", key="v.name", classes="mt-2"):
                v3.VSelect(v_if=("v.levels.length",), items=("v.levels",), model_value=("clinical[v.name]",),
                           label=("v.label + (v.unit ? ' (' + v.unit + ')' : '')",), hint=("v.hint",),
                           persistent_hint=True, density="compact", classes=("'ap-clinical-' + v.name",),
                           update_modelValue=(self.set_clinical, "[v.name, $event]"))
                v3.VTextField(v_else=True, type="number", model_value=("clinical[v.name]",),
                              label=("v.label + (v.unit ? ' (' + v.unit + ')' : '')",), hint=("v.hint",),
                              persistent_hint=True, density="compact", classes=("'ap-clinical-' + v.name",),
                              update_modelValue=(self.set_clinical, "[v.name, $event]"))

    def _predict_step(self) -> None:
        with self._step(5, "Predict"), v3.VCardText():
            v3.VBtn("Predict", click=self.predict, disabled=("!can_predict || busy",), color="primary",
                    prepend_icon="mdi-calculator", classes="ma-1")
            html.Div("Predict is enabled once every scan the model needs is loaded with its tumor segmented, "
                     "a model is chosen and every clinical input is set.", v_if=("!can_predict",),
                     classes="text-caption")
            with html.Div(v_if=("result",), classes="ap-result"):
                html.Div("{{ result.summary }}", classes="text-body-1 font-weight-bold mt-2 ap-summary")
                html.Div("Probability {{ result.percent }} · risk group {{ result.risk_group }}"
                         " · total points {{ result.total_points === null ? '—' : result.total_points.toFixed(1) }}",
                         classes="text-body-2")
                with html.Table(v_if=("result.points.length",), classes="text-body-2 mt-1"):
                    with html.Tr():
                        html.Th("term", style="text-align: left")
                        html.Th("points", style="text-align: left")
                    with html.Tr(v_for="t in result.points", key="t.term"):
                        html.Td("{{ t.term }}")
                        html.Td("{{ t.points }}")
                html.Img(v_if=("nomogram_src",), src=("nomogram_src",), style="width: 100%", classes="mt-2")
                with html.Ul(v_if=("result.warnings.length",), classes="text-body-2 text-warning"):
                    html.Li("{{ w }}", v_for="w in result.warnings", key="w")

    def _report_step(self) -> None:
        with self._step(6, "Report"), v3.VCardText():
            for kind, label in (("html", "Report (HTML)"), ("pdf", "Report (PDF)"), ("json", "Prediction (JSON)")):
                self._download_button(kind, label, "!result")
            for kind, label in (("scene", "Scene (MRML, zip)"), ("tumor", "Tumor segmentation (NRRD)"),
                                ("image", "Image (NRRD)")):
                self._download_button(kind, label, "!loaded")
            html.Div("The segmentation and image are the shown scan's ({{ active_label }}).",
                     v_if=("scans.length > 1",), classes="text-caption")

    def _download_button(self, kind: str, label: str, disabled: str) -> None:
        name = self.server.controller.trigger_name(self.download)
        mime = DOWNLOADS[kind][1]
        suffix = " + scan_suffix" if kind in ("tumor", "image") else ""
        click = (f"utils.download((case_id || 'case'){suffix} + '-' + download_names.{kind}, "
                 f"trigger('{name}', ['{kind}']), '{mime}')")
        v3.VBtn(label, click=click, disabled=(disabled,), prepend_icon="mdi-download", **_BUTTON)


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
