"""Conformance of the Slicer module to Slicer's own source at the declared minimum version (5.10).

No Slicer binary runs in CI. Each rule in ``slicer_conformance`` encodes one finding of the review
of the module against Slicer's source; it runs on the current files (it must pass) and on the
pre-fix copies in ``fixtures/slicer_before`` (it must report a failure, proving it can fail).
Slicer facts come from ``fixtures/slicer_api/slicer-v5.10.0.json`` (built from Slicer's source at
tag v5.10.0 by ``fixtures/slicer_api/build_slicer_api.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import slicer_conformance as rules

ROOT = Path(__file__).resolve().parents[1]
MODULE = ROOT / "AxillaryPredictor"
BEFORE = Path(__file__).parent / "fixtures" / "slicer_before"
SCHEMA = Path(__file__).parent / "fixtures" / "schemas" / "slicer-extension-catalog-entry-schema-v1.0.2.json"
FACTS = rules.slicer_facts((5, 10))
ADAPTERS = sorted((MODULE / "AxillaryPredictorLib" / "scene").glob("*.py"))

FILES = {
    "current": {"module": MODULE / "AxillaryPredictor.py", "ui": MODULE / "Resources" / "UI" / "AxillaryPredictor.ui",
                "requirements": MODULE / "Resources" / "requirements.txt",
                "index": ROOT / "Resources" / "ExtensionsIndex" / "AxillaryPredictor.json"},
    "before": {"module": BEFORE / "AxillaryPredictor.py.txt", "ui": BEFORE / "AxillaryPredictor.ui",
               "requirements": BEFORE / "requirements.txt", "index": BEFORE / "AxillaryPredictor.json"},
}


def gui_bindings(files):
    """Base/Python/slicer/parameterNodeWrapper/guiConnectors.py (v5.10.0): ``canRepresent`` of each
    connector; QComboBoxToStringableConnector.create raises RuntimeError without a Choice annotation
    (L418-431), inside connectGui, i.e. at the panel's setup()."""
    return rules.gui_bindings(files["module"], files["ui"])


def sample_data_file_types(files):
    """Modules/Scripted/SampleData/SampleData.py (v5.10.0) ``loadNode`` passes the file type to
    ``coreIOManager().loadNodes``; the types are the ``fileType()`` of Slicer's readers (e.g.
    Modules/Loadable/Segmentations/qSlicerSegmentationsReader.cxx: "SegmentationFile")."""
    return rules.sample_data_file_types(files["module"], FACTS)


def index_entry(files):
    """Slicer/ExtensionsIndex scripts/check_description_files.py (main, 07f1d1b): check_json_file_format,
    check_json_schema, check_category, check_scm_url_syntax, check_extension_name,
    check_git_repository_name, check_license_file, check_cmakelists_content (project name)."""
    return rules.index_entry(files["index"], ROOT, SCHEMA)


def python_version(files):
    """CMakeLists.txt (v5.10.0 L210): Slicer_REQUIRED_PYTHON_VERSION "3.12.10"; (v5.8.1 L216): "3.9.10"."""
    return rules.python_version(files["module"], ROOT / "pyproject.toml")


def editor_release(files):
    """Modules/Scripted/SegmentEditor/SegmentEditor.py (v5.10.0) enter/exit/onSceneStartClose."""
    return rules.editor_release(files["module"])


def requirement_caps(files):
    """SuperBuild/External_python-*.cmake (v5.10.0): the pip packages Slicer ships (scipy 1.13.1 ...)."""
    return rules.requirement_caps(files["requirements"], FACTS)


def slicer_api(files):
    """Headers (Libs/MRML, Modules/Loadable/Segmentations ...) and Python sources (Base/Python/slicer/util.py,
    Modules/Scripted/SampleData/SampleData.py) at v5.10.0, recorded in the fixture with the commit."""
    return rules.slicer_api(files["module"], ADAPTERS, files["ui"])


RULES = [gui_bindings, sample_data_file_types, index_entry, python_version, editor_release, requirement_caps,
         slicer_api]


def test_fixture_records_the_tag_it_was_built_from():
    assert FACTS["tag"] == "v5.10.0"
    assert FACTS["commit"] == "a2b6d082be04274a849884fbb1e85634a9df90fb"
    assert FACTS["python"] == "3.12.10"
    assert "SegmentationFile" in FACTS["file_types"] and "LabelMapVolumeFile" not in FACTS["file_types"]
    assert "slicer.packaging" not in FACTS["python_modules"]  # arrives in 5.12: the module keeps a fallback


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_rule_passes_on_the_current_files(rule):
    assert rule(FILES["current"]) == []


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_rule_reports_the_failure_in_the_files_before_the_fix(rule):
    assert rule(FILES["before"]), f"{rule.__name__} found nothing wrong in the pre-fix files"


def test_api_rule_catches_a_method_missing_at_the_minimum_version(tmp_path):
    module = tmp_path / "Module.py"
    module.write_text("def minimumSlicerVersion():\n"
                      "    return (5, 10)\n"
                      "def f(node, slicer):\n"
                      "    slicer.util.notAFunction()\n"
                      "    node.SetMasterVolumeNodeNowGone(None)\n"
                      "    node.GetSegmentation()\n", encoding="utf-8")
    failures = rules.slicer_api(module, [], FILES["current"]["ui"])
    assert len(failures) == 2
    assert "notAFunction" in failures[0] and "SetMasterVolumeNodeNowGone" in failures[1]


def test_gui_rule_rejects_a_widget_no_connector_takes(tmp_path):
    ui = tmp_path / "x.ui"
    ui.write_text("<ui><widget class='QComboBox' name='a'><property name='SlicerParameterName'><string>marginsMm"
                  "</string></property></widget><widget class='QSpinBox' name='b'><property "
                  "name='SlicerParameterName'><string>tumorSegment</string></property></widget></ui>")
    failures = rules.gui_bindings(FILES["current"]["module"], ui)
    assert len(failures) == 2 and "Choice" in failures[0] and "QSpinBox" in failures[1]
