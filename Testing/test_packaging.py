"""Packaging checks: what Slicer's Extension Manager and extension review rely on."""

from __future__ import annotations

import ast
import json
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULE_DIR = ROOT / "AxillaryPredictor"
MODULE_FILE = MODULE_DIR / "AxillaryPredictor.py"
ALLOWED_FILE_SCOPE_IMPORTS = {"slicer", "vtk", "qt", "ctk", "SimpleITK", "numpy"}
def _cmake_listed_files() -> set[str]:
    text = (MODULE_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    listed = set()
    for block in re.findall(r"set\(MODULE_PYTHON_(?:SCRIPTS|RESOURCES)(.*?)\)", text, re.S):
        for token in block.split():
            listed.add(token.replace("${MODULE_NAME}", "AxillaryPredictor"))
    return listed


def _module_files() -> set[str]:
    files = set()
    for path in MODULE_DIR.rglob("*"):
        relative = path.relative_to(MODULE_DIR)
        if path.is_dir() or "__pycache__" in relative.parts or relative.parts[0] == "Testing":
            continue
        if path.name == "CMakeLists.txt" or path.suffix == ".pyc":
            continue
        files.add(relative.as_posix())
    return files


def test_every_module_file_is_listed_in_cmakelists():
    listed = _cmake_listed_files()
    files = _module_files()
    assert files - listed == set(), "add these files to AxillaryPredictor/CMakeLists.txt"
    assert listed - files == set(), "CMakeLists.txt lists files that do not exist"


def test_top_level_cmakelists_follows_the_extension_template():
    text = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    for needle in ("project(AxillaryPredictor)", "EXTENSION_HOMEPAGE", "EXTENSION_CONTRIBUTORS",
                   "EXTENSION_DESCRIPTION", "EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS",
                   "set(EXTENSION_DEPENDS SlicerRadiomics)", "find_package(Slicer REQUIRED)",
                   "include(${Slicer_USE_FILE})", "add_subdirectory(AxillaryPredictor)",
                   "include(${Slicer_EXTENSION_GENERATE_CONFIG})", "include(${Slicer_EXTENSION_CPACK})"):
        assert needle in text, needle
    module = (MODULE_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "slicerMacroBuildScriptedModule(" in module and "WITH_GENERIC_TESTS" in module
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in module


def test_extension_index_entry_validates_and_matches_project_name():
    entry_path = ROOT / "Resources" / "ExtensionsIndex" / "AxillaryPredictor.json"
    entry = json.loads(entry_path.read_text(encoding="utf-8"))
    schema = json.loads((ROOT / "Testing/fixtures/schemas/slicer-extension-catalog-entry-schema-v1.0.2.json")
                        .read_text(encoding="utf-8"))
    jsonschema.validate(entry, schema)
    assert entry["build_dependencies"] == ["SlicerRadiomics"]
    project = re.search(r"project\((\w+)\)", (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")).group(1)
    assert entry_path.stem == project
    bad = dict(entry, unexpected=True)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_license_is_apache_2():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0" in text


@pytest.mark.parametrize("path", ["Resources/Icons/AxillaryPredictor.png",
                                  "AxillaryPredictor/Resources/Icons/AxillaryPredictor.png"])
def test_icons_are_128_px_png(path):
    data = (ROOT / path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (128, 128)


def _file_scope_nodes():
    return ast.parse(MODULE_FILE.read_text(encoding="utf-8")).body


def test_module_file_runs_no_code_at_import():
    allowed = (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for index, node in enumerate(_file_scope_nodes()):
        is_docstring = index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        assert isinstance(node, allowed) or is_docstring, f"code at file scope, line {node.lineno}"
        if isinstance(node, ast.ClassDef):
            for decorator in node.decorator_list:
                assert isinstance(decorator, ast.Name), f"decorator call at line {node.lineno}"


def test_module_file_imports_only_allowed_packages_at_file_scope():
    stdlib = sys.stdlib_module_names
    for node in _file_scope_nodes():
        if isinstance(node, ast.Import):
            roots = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            roots = [(node.module or "").split(".")[0]]
        else:
            continue
        for root in roots:
            assert root in stdlib or root in ALLOWED_FILE_SCOPE_IMPORTS, f"file-scope import of {root}"


def test_module_file_classes_follow_the_template():
    classes = {node.name: node for node in _file_scope_nodes() if isinstance(node, ast.ClassDef)}
    expected_bases = {
        "AxillaryPredictor": ["ScriptedLoadableModule"],
        "AxillaryPredictorWidget": ["ScriptedLoadableModuleWidget", "VTKObservationMixin"],
        "AxillaryPredictorLogic": ["ScriptedLoadableModuleLogic"],
        "AxillaryPredictorTest": ["ScriptedLoadableModuleTest"],
    }
    for name, bases in expected_bases.items():
        assert [ast.unparse(b) for b in classes[name].bases] == bases
    parameter_node = classes["AxillaryPredictorParameterNode"]
    assert [ast.unparse(d) for d in parameter_node.decorator_list] == ["parameterNodeWrapper"]


#: What ``from slicer.ScriptedLoadableModule import *`` brings (its ``__all__``; qt/ctk/vtk are NOT exported).
STAR_IMPORTED = {"ScriptedLoadableModule", "ScriptedLoadableModuleWidget", "ScriptedLoadableModuleLogic",
                 "ScriptedLoadableModuleTest"}


def _undefined_names(source: str) -> set[str]:
    """Names read in ``source`` that nothing in it binds (coarse: any binding anywhere counts)."""
    import builtins

    tree = ast.parse(source)
    bound = set(dir(builtins)) | STAR_IMPORTED | {"__file__", "__name__"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            bound.add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return used - bound


def test_module_file_uses_no_undefined_name():
    """ruff cannot see through the star import (F405 is off for this file): e.g. ``qt`` must be imported."""
    source = (MODULE_DIR / "AxillaryPredictor.py").read_text(encoding="utf-8")
    assert _undefined_names(source) == set()
    assert _undefined_names(source.replace("import qt\n", "")) == {"qt"}  # the check can fail


BLOCKER = """
import importlib.abc, sys
BLOCKED = {"pandas", "sklearn", "radiomics", "xgboost", "matplotlib", "scipy", "yaml", "jsonschema",
           "SimpleITK", "numpy", "vtk", "slicer"}
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked: {name}")
sys.meta_path.insert(0, Blocker())
import AxillaryPredictorLib, AxillaryPredictorLib.scene.logic, AxillaryPredictorLib.dependencies
print("imported", AxillaryPredictorLib.__version__)
"""


def test_lib_and_logic_import_without_third_party_packages():
    result = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "imported" in result.stdout


def test_blocker_really_blocks_third_party_imports():
    script = BLOCKER + "\nimport AxillaryPredictorLib.phantoms\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode != 0 and "blocked" in result.stderr


def test_ui_file_parses_and_has_every_widget_the_code_uses():
    tree = ET.parse(MODULE_DIR / "Resources" / "UI" / "AxillaryPredictor.ui")
    names = {w.get("name") for w in tree.iter("widget")}
    used = set(re.findall(r"self\.ui\.(\w+)", MODULE_FILE.read_text(encoding="utf-8")))
    assert used and used <= names, f"missing in .ui: {used - names}"
    bound = {p.find("string").text for p in tree.iter("property") if p.get("name") == "SlicerParameterName"}
    fields = {node.target.id for cls in _file_scope_nodes() if isinstance(cls, ast.ClassDef)
              and cls.name == "AxillaryPredictorParameterNode"
              for node in cls.body if isinstance(node, ast.AnnAssign)}
    assert bound <= fields, f"ui binds unknown parameters: {bound - fields}"


def test_requirements_choose_xgboost_build_per_platform():
    from AxillaryPredictorLib.dependencies import read_requirements, requirement_name

    path = MODULE_DIR / "Resources" / "requirements.txt"
    linux = {requirement_name(r) for r in read_requirements(path, "Linux")}
    mac = {requirement_name(r) for r in read_requirements(path, "Darwin")}
    assert "xgboost-cpu" in linux and "xgboost" not in linux
    assert "xgboost" in mac and "xgboost-cpu" not in mac
    assert {"pandas", "scikit-learn", "matplotlib"} <= linux
    assert not linux & {"numpy", "SimpleITK", "vtk"}, "Slicer owns these; never install them"


def test_missing_requirements_and_slicer_pins():
    from AxillaryPredictorLib.dependencies import missing_requirements, slicer_constraints

    assert missing_requirements(["numpy>=1", "surely-not-installed-package-xyz>=1"]) == [
        "surely-not-installed-package-xyz>=1"]
    pins = slicer_constraints()
    assert any(p.startswith("numpy==") for p in pins) and any(p.startswith("SimpleITK==") for p in pins)


def test_console_script_and_readme_commands():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'axillary-predictor = "AxillaryPredictorLib.cli:main"' in pyproject
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "bash scripts/demo.sh" in readme and "bash scripts/test.sh" in readme
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_every_logic_method_the_widget_calls_exists_in_the_lib():
    from AxillaryPredictorLib.scene.logic import AxillaryPredictorLogicBase

    used = set(re.findall(r"self\.logic\.(\w+)\(", MODULE_FILE.read_text(encoding="utf-8")))
    used |= set(re.findall(r"logic\.(\w+)\(", MODULE_FILE.read_text(encoding="utf-8")))
    slicer_provided = {"getParameterNode"}  # ScriptedLoadableModuleLogic
    missing = {name for name in used - slicer_provided if not hasattr(AxillaryPredictorLogicBase, name)}
    assert not missing, f"add these methods to AxillaryPredictorLogicBase: {sorted(missing)}"


def test_sample_data_is_pinned_by_commit_and_sha256():
    """The Sample Data entry downloads pyradiomics' breast1 case at a pinned commit, checked by SHA-256
    (values from the issue), and only when the user asks (registration, not download, at startup)."""
    source = (MODULE_DIR / "AxillaryPredictor.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "sampleDataFiles")
    namespace: dict = {}
    exec(compile(ast.Module([function], type_ignores=[]), "sampleDataFiles", "exec"), namespace)  # pure function
    files = {name: (url, digest) for url, name, digest, _ in namespace["sampleDataFiles"]()}
    base = "https://raw.githubusercontent.com/AIM-Harvard/pyradiomics/8ed579383b44806651c463d5e691f3b2b57522ab/data"
    assert files == {
        "breast1_image.nrrd": (f"{base}/breast1_image.nrrd",
                               "0e8b668f3ce9b9aacff20dc3c216866f43069ff96b269fb45b76f5e205a431e2"),
        "breast1_label.nrrd": (f"{base}/breast1_label.nrrd",
                               "07085bb0e36a956de5bd1c1c1b5f8bdf2ce80952125b13cbd352412c108c8950"),
    }
    register = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "registerSampleData")
    keywords = {k.arg for call in ast.walk(register) if isinstance(call, ast.Call) for k in call.keywords}
    assert {"uris", "checksums", "fileNames", "loadFileTypes"} <= keywords  # loadFileType is deprecated (5.10)
