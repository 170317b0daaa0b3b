"""Conformance rules: our Slicer module against Slicer's own source at the declared minimum version.

No Slicer binary runs in CI, so each rule reads our files (module, .ui, requirements, index entry)
and the facts ``Testing/fixtures/slicer_api/build_slicer_api.py`` extracted from Slicer's source
at a tag. Every rule takes file paths and returns a list of failures ('' list: conforms), so the
same rule runs on today's files and on the pre-fix copies in ``Testing/fixtures/slicer_before``.
"""

from __future__ import annotations

import ast
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"

# ------------------------------------------------------------------------- helpers


def slicer_facts(version: tuple[int, int]) -> dict | None:
    """Facts about Slicer ``vMAJOR.MINOR.0`` from the committed fixture, or None."""
    path = FIXTURES / "slicer_api" / f"slicer-v{version[0]}.{version[1]}.0.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def declared_minimum(module_path: Path) -> tuple[int, int] | None:
    """The module's ``minimumSlicerVersion()`` (a function returning a literal; None when absent)."""
    for node in ast.parse(module_path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef) and node.name == "minimumSlicerVersion":
            returned = next(n for n in ast.walk(node) if isinstance(n, ast.Return))
            return tuple(ast.literal_eval(returned.value))
    return None


def parameter_node_fields(module_path: Path) -> dict[str, tuple[str, list[str], object]]:
    """Fields of the ``@parameterNodeWrapper`` class: name -> (base type, annotation names, default)."""
    tree = ast.parse(module_path.read_text(encoding="utf-8"))
    constants = {t.id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                 for t in n.targets if isinstance(t, ast.Name) and _is_literal(n.value)}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(getattr(d, "id", "") == "parameterNodeWrapper"
                                                  for d in node.decorator_list):
            fields = {}
            for item in node.body:
                if isinstance(item, ast.AnnAssign):
                    base, annotations = _annotation(item.annotation)
                    default = _default(item.value, constants) if item.value is not None else None
                    fields[item.target.id] = (base, annotations, default)
            return fields
    return {}


def _is_literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


def _default(node: ast.AST, constants: dict) -> object:
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in constants:
        return constants[node.value.id][ast.literal_eval(node.slice)]
    return ast.literal_eval(node)


def _annotation(node: ast.AST) -> tuple[str, list[str]]:
    if isinstance(node, ast.Subscript) and getattr(node.value, "id", "") == "Annotated":
        elements = node.slice.elts
        base = ast.unparse(elements[0])
        names = [ast.unparse(e.func) if isinstance(e, ast.Call) else ast.unparse(e) for e in elements[1:]]
        return base, names
    return ast.unparse(node), []


def ui_widgets(ui_path: Path) -> dict[str, tuple[str, dict[str, object]]]:
    """Widget name -> (class, properties) of a Qt Designer file; stringlist properties as lists."""
    widgets = {}
    for widget in ET.parse(ui_path).getroot().iter("widget"):
        properties = {}
        for prop in widget.findall("property"):
            child = next(iter(prop)) if len(prop) else None
            if child is None:
                continue
            properties[prop.get("name")] = ([s.text for s in child.findall("string")] if child.tag == "stringlist"
                                            else child.text)
        widgets[widget.get("name")] = (widget.get("class"), properties)
    return widgets


# ------------------------------------------------------------------------- rules


#: (base type, widget class) pairs Slicer 5.10's parameter-node GUI connectors accept, read from the
#: ``canRepresent`` methods in Base/Python/slicer/parameterNodeWrapper/guiConnectors.py at v5.10.0;
#: "Choice" marks the combo-box connector that raises RuntimeError without a Choice annotation.
_FLOAT_WIDGETS = {"QDoubleSpinBox", "ctkSliderWidget", "qMRMLSliderWidget", "ctkDoubleSlider", "ctkDoubleSpinBox",
                  "qMRMLSpinBox"}
CONNECTORS_5_10 = {
    "bool": {"QCheckBox", "ctkCheckBox", "QPushButton", "ctkCheckablePushButton"},
    "int": {"QSlider", "QSpinBox"} | _FLOAT_WIDGETS,
    "float": _FLOAT_WIDGETS,
    "str": {"QLineEdit", "QLabel", "QTextEdit"},
    "node": {"qMRMLNodeComboBox"},
}
COMBO_WIDGETS = {"QComboBox", "ctkComboBox"}


def gui_bindings(module_path: Path, ui_path: Path) -> list[str]:
    """Every widget bound with ``SlicerParameterName`` pairs with its field's type as a 5.10 connector allows."""
    fields = parameter_node_fields(module_path)
    failures = []
    for name, (widget_class, properties) in ui_widgets(ui_path).items():
        parameter = properties.get("SlicerParameterName")
        if parameter is None:
            continue
        if parameter not in fields:
            failures.append(f"{name}: no parameter node field '{parameter}'")
            continue
        base, annotations, _ = fields[parameter]
        kind = "node" if base.startswith("vtkMRML") else base
        if widget_class in COMBO_WIDGETS and kind in ("str", "int", "float", "bool"):
            if "Choice" not in annotations:
                failures.append(f"{name}: a {widget_class} bound to '{parameter}: {base}' needs a Choice annotation "
                                "(QComboBoxToStringableConnector raises RuntimeError)")
        elif widget_class not in CONNECTORS_5_10.get(kind, set()):
            failures.append(f"{name}: no Slicer 5.10 connector binds a {widget_class} to '{parameter}: {base}'")
        if widget_class == "QSlider" and "WithinRange" not in annotations:
            failures.append(f"{name}: a QSlider needs a bounded int (WithinRange)")
    return failures


def _string_list_keywords(module_path: Path, function: str, keywords: tuple[str, ...]) -> list[str]:
    values = []
    for node in ast.walk(ast.parse(module_path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith(function):
            for keyword in node.keywords:
                if keyword.arg in keywords and _is_literal(keyword.value):
                    value = ast.literal_eval(keyword.value)
                    values += [value] if isinstance(value, str) else list(value)
    return values


def sample_data_file_types(module_path: Path, facts: dict) -> list[str]:
    """Every ``loadFileType(s)`` given to Sample Data names a file type a Slicer reader registers."""
    used = _string_list_keywords(module_path, "registerCustomSampleDataSource", ("loadFileType", "loadFileTypes"))
    used += _string_list_keywords(module_path, "downloadFromURL", ("loadFileType", "loadFileTypes"))
    return [f"file type '{t}' exists in no Slicer {facts['tag']} reader" for t in used
            if t is not None and t not in facts["file_types"]]


#: ACCEPTED_EXTENSION_CATEGORIES of scripts/check_description_files.py in Slicer/ExtensionsIndex
#: (main at commit 07f1d1b2781c7dd9f6e2a9f5521b3ed43631724c).
INDEX_CATEGORIES = (
    "Active Learning", "Analysis", "Auto3dgm", "BigImage", "Cardiac", "Chest Imaging Platform", "Conda",
    "Converters", "DICOM", "DSCI", "Developer Tools", "Diffusion", "Examples", "Exporter", "FTV Segmentation",
    "Filtering", "Filtering.Morphology", "Filtering.Vesselness", "Holographic Display", "Image Synthesis", "IGT",
    "Informatics", "Netstim", "Neuroimaging", "Nuclear Medicine", "Orthodontics", "Osteotomy Planning",
    "Otolaryngology", "Photogrammetry", "Pipelines", "Planning", "Printing", "Quantification", "Radiotherapy",
    "Registration", "Remote", "Rendering", "SPHARM", "Segmentation", "Sequences", "Shape Analysis",
    "Shape Regression", "Shape Visualization", "Simulation", "SlicerCMF", "SlicerMorph", "Spectral Imaging",
    "Supervisely", "Surface Models", "SurfaceLearner", "Tomographic Reconstruction", "Tracking", "Tractography",
    "Training", "Ultrasound", "Utilities", "Vascular Modeling Toolkit", "Virtual Reality",
)
LICENSE_NAMES = ("LICENSE", "LICENCE", "License.txt", "license.txt", "LICENSE.txt", "COPYING", "COPYING.txt")


def index_entry(entry_path: Path, repository: Path, schema_path: Path) -> list[str]:
    """The ExtensionsIndex checks that need no network: JSON format (LF only), schema, category,
    scm_url scheme, extension and repository names, LICENSE and the CMake project name."""
    import jsonschema

    failures = []
    raw = entry_path.read_bytes()
    if b"\r" in raw:
        failures.append("non-LF line endings")
    entry = json.loads(raw)
    errors = [e.message for e in jsonschema.Draft7Validator(json.loads(schema_path.read_text())).iter_errors(entry)]
    failures += [f"schema: {e}" for e in errors]
    if entry.get("category") not in INDEX_CATEGORIES:
        failures.append(f"category '{entry.get('category')}' is not accepted by the ExtensionsIndex check")
    name = entry_path.stem
    if name.lower().startswith("slicer"):
        failures.append(f"extension name '{name}' starts with 'Slicer'")
    url = entry.get("scm_url", "")
    if url.split("://")[0] not in ("git", "https"):
        failures.append(f"scm_url scheme of '{url}' is not git or https")
    repo_name = url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    if not repo_name.startswith("Slicer"):
        failures.append(f"repository name '{repo_name}' does not start with 'Slicer'")
    if not any((repository / n).is_file() for n in LICENSE_NAMES):
        failures.append("no LICENSE file at the repository root")
    cmake = (repository / "CMakeLists.txt").read_text(encoding="utf-8")
    project = re.search(r"project\s*\(\s*([^\s)]+)", cmake, re.IGNORECASE)
    if not project or project.group(1) != name:
        failures.append(f"CMake project name does not match the extension name '{name}'")
    category = re.search(r'set\(EXTENSION_CATEGORY\s+"([^"]+)"\)', cmake)
    if not category or category.group(1) != entry.get("category"):
        failures.append("EXTENSION_CATEGORY in CMakeLists.txt differs from the index entry's category")
    return failures


def python_version(module_path: Path, pyproject_path: Path) -> list[str]:
    """The Python the Lib needs (``requires-python``) is at most the Python of the declared minimum
    Slicer (``Slicer_REQUIRED_PYTHON_VERSION``, top-level CMakeLists.txt), and the module file itself
    parses on Python 3.9 (Slicer 5.8), so that its version check can tell an older Slicer's user why."""
    minimum = declared_minimum(module_path)
    if minimum is None:
        return ["the module declares no minimumSlicerVersion() (users of older Slicers get a crash, not a message)"]
    facts = slicer_facts(minimum)
    if facts is None:
        return [f"no Slicer facts for the declared minimum {minimum}"]
    needed = re.search(r'requires-python\s*=\s*">=\s*(\d+)\.(\d+)', pyproject_path.read_text()).groups()
    slicer_python = tuple(int(p) for p in facts["python"].split(".")[:2])
    failures = []
    if tuple(int(p) for p in needed) > slicer_python:
        failures.append(f"the Lib needs Python {'.'.join(needed)}, Slicer {facts['tag']} has {facts['python']}")
    try:
        ast.parse(module_path.read_text(encoding="utf-8"), feature_version=(3, 9))
    except SyntaxError as error:
        failures.append(f"the module file does not parse on Python 3.9: {error}")
    return failures


def _method_calls(function: ast.FunctionDef) -> set[str]:
    return {ast.unparse(n.func) + "(" + ", ".join(ast.unparse(a) for a in n.args) + ")"
            for n in ast.walk(function) if isinstance(n, ast.Call)}


def editor_release(module_path: Path) -> list[str]:
    """The embedded Segment Editor is released as Slicer's Segment Editor module does it
    (Modules/Scripted/SegmentEditor/SegmentEditor.py at v5.10.0, ``enter``/``exit``/``onSceneStartClose``):
    exit stops the active effect, its shortcuts and view observations; scene close drops the
    segmentation and the view observations; enter installs the shortcuts again."""
    tree = ast.parse(module_path.read_text(encoding="utf-8"))
    widget = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name.endswith("Widget"))
    methods = {n.name: n for n in widget.body if isinstance(n, ast.FunctionDef)}

    def calls(name: str, seen: frozenset = frozenset()) -> set[str]:  # follows self.<helper>() calls
        found = _method_calls(methods[name]) if name in methods else set()
        for call in list(found):
            helper = re.fullmatch(r"self\.(\w+)\(\)", call)
            if helper and helper.group(1) in methods and helper.group(1) not in seen:
                found |= calls(helper.group(1), seen | {name})
        return found

    required = {
        "exit": ("setActiveEffect(None)", "uninstallKeyboardShortcuts()", "removeViewObservations()"),
        "onSceneStartClose": ("setSegmentationNode(None)", "removeViewObservations()"),
        "enter": ("installKeyboardShortcuts()",),
    }
    failures = []
    for method, needed in required.items():
        made = calls(method)
        for call in needed:
            if not any(c.endswith("segmentEditorWidget." + call) for c in made):
                failures.append(f"{method}() does not call segmentEditorWidget.{call}")
    return failures


def requirement_caps(requirements_path: Path, facts: dict) -> list[str]:
    """No requirement caps (``<``, ``<=``, ``==``, ``~=``) a package Slicer ships: pip would replace
    Slicer's copy, which is already imported (SuperBuild/External_python-*.cmake)."""
    from packaging.requirements import Requirement

    shipped = {name.lower().replace("_", "-") for name in facts["shipped_packages"]}
    failures = []
    for line in requirements_path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        caps = [s for s in requirement.specifier if s.operator in ("<", "<=", "==", "~=", "===")]
        if requirement.name.lower().replace("_", "-") in shipped and caps:
            failures.append(f"'{line}' caps {requirement.name}, which Slicer {facts['tag']} ships")
    return failures


#: VTK-proper methods the adapters call (vtkImageData, vtkTable, arrays, matrices, collections):
#: out of scope, as are Qt and CTK; everything else in CamelCase must be a Slicer class's method.
VTK_PROPER = {
    "AddColumn", "GetColumn", "GetColumnName", "GetDimensions", "GetElement", "GetExtent", "GetItemAsObject",
    "GetNumberOfColumns", "GetNumberOfComponents", "GetNumberOfItems", "GetNumberOfPoints", "GetNumberOfTuples",
    "GetNumberOfValues", "GetPointData", "GetScalarRange", "GetScalars", "GetValue", "InsertNextValue",
    "SetDimensions", "SetElement", "SetNumberOfComponents", "SetScalars", "GetSpacing", "GetNumberOfRows",
    "SetNumberOfValues", "SetValue", "GetName", "IsLinear",
}
#: SimpleITK image methods (``image.GetSize()`` ...): not Slicer's, out of scope
SITK_PROPER = {"GetDimension", "GetDirection", "SetDirection", "GetSize", "CopyInformation", "GetOrigin", "SetOrigin",
               "SetSpacing"}
#: modules whose calls are not Slicer API (Qt, CTK, VTK proper, SimpleITK, numpy, pandas, stdlib)
OUT_OF_SCOPE_ROOTS = {"qt", "ctk", "vtk", "sitk", "pd", "np", "tempfile", "os", "json", "logging", "sys", "re",
                      "math", "numpy_support", "metadata", "Path", "shutil", "html", "mpimg"}
#: Qt methods of Slicer's application and widgets (QApplication, QWidget, QObject)
QT_METHODS = {"connect", "processEvents", "userSettings", "layoutManager"}


def _class_methods(facts: dict, name: str) -> set[str]:
    methods: set[str] = set()
    while name in facts["classes"]:
        methods |= set(facts["classes"][name]["methods"])
        name = facts["classes"][name]["base"]
    return methods


def _guarded_slicer_names(tree: ast.AST) -> set[str]:
    """``slicer`` attributes read with ``getattr(slicer, name, default)``: optional by design."""
    return {n.args[1].value for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func) == "getattr"
            and len(n.args) == 3 and ast.unparse(n.args[0]) == "slicer" and isinstance(n.args[1], ast.Constant)}


def slicer_api(module_path: Path, adapter_paths: list[Path], ui_path: Path) -> list[str]:
    """Every Slicer API the module and the scene adapters call exists at the declared minimum version:
    ``slicer.util``/``SampleData``/``slicer.parameterNodeWrapper`` names (their Python sources), methods
    of ``qMRML*``/``qSlicer*`` widgets named in the .ui and of ``slicer.app``/``slicer.mrmlScene``, every
    CamelCase method (a MRML/Slicer class's, from the headers) and the .ui properties of Slicer widgets."""
    minimum = declared_minimum(module_path)
    facts = slicer_facts(minimum) if minimum else None
    if facts is None:
        return [f"no declared minimum Slicer version with source facts (declared: {minimum})"]
    modules = facts["python_modules"]
    all_methods = set(facts["vtk_object_methods"]).union(*(c["methods"] for c in facts["classes"].values()))
    widgets = ui_widgets(ui_path)
    failures = []
    for path in [module_path, *adapter_paths]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        guarded = _guarded_slicer_names(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "slicer.parameterNodeWrapper":
                names = set(modules["slicer.parameterNodeWrapper.validators"]["names"]) | set(
                    modules["slicer.parameterNodeWrapper.wrapper"]["names"])
                failures += [f"{path.name}: slicer.parameterNodeWrapper.{a.name} is missing"
                             for a in node.names if a.name not in names]
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner, method = ast.unparse(node.func.value), node.func.attr
            problem = _check_call(owner, method, facts, modules, widgets, all_methods, guarded)
            if problem:
                failures.append(f"{path.name}:{node.lineno}: {problem}")
    for name, (widget_class, properties) in widgets.items():
        if widget_class in facts["classes"]:
            known = _class_methods(facts, widget_class)
            failures += [f"{name}: {widget_class} has no property '{p}'" for p in properties
                         if p not in known and p != "SlicerParameterName" and not _qt_property(p)]
    return failures


def _qt_property(name: str) -> bool:
    return name in {"toolTip", "enabled", "geometry", "text", "minimumSize", "collapsed"}


def _check_call(owner: str, method: str, facts: dict, modules: dict, widgets: dict, all_methods: set,
                guarded: set) -> str:
    if owner.split(".")[0].split("(")[0] in OUT_OF_SCOPE_ROOTS:
        return ""
    if owner == "SampleData":
        return "" if method in modules["SampleData"]["names"] else f"SampleData.{method} does not exist"
    if owner == "slicer.util" and method not in modules["slicer.util"]["names"]:
        return f"slicer.util.{method} does not exist"
    if owner.startswith("slicer.") and owner.split(".")[1] in guarded:
        return ""
    if owner == "SampleData.SampleDataLogic" or owner.endswith("SampleDataLogic()"):
        if method not in modules["SampleData"]["class_methods"].get("SampleDataLogic", []):
            return f"SampleDataLogic.{method} does not exist"
        return ""
    if owner == "slicer.app" and method not in _class_methods(facts, "qSlicerApplication") | QT_METHODS:
        return f"slicer.app.{method} does not exist"
    if owner == "slicer.mrmlScene" and method not in _class_methods(facts, "vtkMRMLScene"):
        return f"slicer.mrmlScene.{method} does not exist"
    widget = re.fullmatch(r"self\.ui\.(\w+)", owner)
    if widget and widget.group(1) in widgets:
        widget_class = widgets[widget.group(1)][0]
        if widget_class in facts["classes"] and method not in _class_methods(facts, widget_class) | QT_METHODS:
            return f"{widget_class}.{method} does not exist"
    if method[:1].isupper() and method not in all_methods | VTK_PROPER | SITK_PROPER:
        return f"{owner}.{method}: no Slicer class at {facts['tag']} has this method"
    return ""
