"""What the README and docs/ show a user: the Python examples run (or call methods that exist), the
command-line examples parse, every documented ``AxillaryPredictorLib`` path imports, and nothing points
to a file outside the repository."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MODULE_FILE = ROOT / "AxillaryPredictor" / "AxillaryPredictor.py"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def _python_block(marker: str) -> str:
    found = [b for b in _blocks("python") if marker in b]
    assert len(found) == 1, f"README must have exactly one ```python block with {marker!r}"
    return found[0]


# ------------------------------------------------------------------ the Python examples


@pytest.mark.slow
def test_readme_headless_example_runs(tmp_path):
    """The outside-Slicer example, run as a user would (own process, an empty working folder)."""
    block = _python_block("create_headless_scene")
    check = ("\nimport json\nprint(json.dumps({'segments': logic.segmentNames(segmentation), "
             "'probability': result.prediction.probability, 'model': result.prediction.model_id}))\n")
    (tmp_path / "example.py").write_text(block + check, encoding="utf-8")
    import AxillaryPredictorLib

    lib_parent = str(Path(AxillaryPredictorLib.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([lib_parent, os.environ.get("PYTHONPATH", "")]),
           "MPLBACKEND": "Agg"}
    before = _repository_status()
    run = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["segments"] == ["tumor", "node", "tumor_margin3mm", "margin3mm"]
    assert out["model"] == "demo-dce-aln" and 0 < out["probability"] < 1
    assert _repository_status() == before, "the README example wrote into the repository"


def _repository_status() -> str | None:
    """``git status`` of the checkout (None without git): tests never write into the repository."""
    try:
        return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def _logic_calls(block: str) -> list[ast.Call]:
    """Calls ``logic.<method>(...)`` in ``block`` (``logic`` as the README names the Logic)."""
    return [node for node in ast.walk(ast.parse(block)) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "logic"]


def _module_logic_methods() -> set[str]:
    """Methods the Slicer module's own ``AxillaryPredictorLogic`` defines (read with ast: it needs Slicer)."""
    tree = ast.parse(MODULE_FILE.read_text(encoding="utf-8"))
    logic = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "AxillaryPredictorLogic")
    return {n.name for n in logic.body if isinstance(n, ast.FunctionDef)}


def _incompatible(call: ast.Call, method) -> str | None:
    """Why ``call`` cannot bind to ``method``'s signature, or None."""
    args = [object() for _ in call.args]
    kwargs = {k.arg: object() for k in call.keywords if k.arg}
    try:
        inspect.signature(method).bind(object(), *args, **kwargs)  # object() stands for self
    except TypeError as error:
        return f"logic.{call.func.attr}(...) at README block line {call.lineno}: {error}"
    return None


@pytest.mark.parametrize("marker", ["import AxillaryPredictor\n", "create_headless_scene"])
def test_readme_logic_calls_exist_with_compatible_signatures(marker):
    """The Slicer-console example needs Slicer, so it is checked statically: every Logic method it
    calls exists on ``AxillaryPredictorLogicBase`` (or the module's Logic) and accepts its arguments."""
    from AxillaryPredictorLib.scene.logic import AxillaryPredictorLogicBase

    block = _python_block(marker)
    if marker.startswith("import AxillaryPredictor"):
        assert "AxillaryPredictor.AxillaryPredictorLogic()" in block
        assert "AxillaryPredictorLogic" in {n.name for n in ast.parse(MODULE_FILE.read_text()).body
                                            if isinstance(n, ast.ClassDef)}
    calls = _logic_calls(block)
    assert len(calls) >= 3, "the README example lost its Logic calls"
    own = _module_logic_methods()
    problems = []
    for call in calls:
        name = call.func.attr
        if not hasattr(AxillaryPredictorLogicBase, name):
            if name not in own:
                problems.append(f"logic.{name} exists neither on AxillaryPredictorLogicBase nor in "
                                f"AxillaryPredictor.py's Logic")
            continue
        problems.append(_incompatible(call, getattr(AxillaryPredictorLogicBase, name)))
    problems = [p for p in problems if p]
    assert not problems, "\n".join(problems)


def test_signature_check_catches_a_wrong_call():
    from AxillaryPredictorLib.scene.logic import AxillaryPredictorLogicBase

    call = ast.parse("logic.buildRegions(s, 'tumor', v, '3', nonsense=1)").body[0].value
    assert _incompatible(call, AxillaryPredictorLogicBase.buildRegions)
    call = ast.parse("logic.buildRegions(s, 'tumor', v, '3')").body[0].value
    assert _incompatible(call, AxillaryPredictorLogicBase.buildRegions) is None


# ------------------------------------------------------------------ the command-line examples


def _cli_examples() -> list[list[str]]:
    lines = [line.split("#")[0].strip() for block in _blocks("bash") for line in block.splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith("axillary-predictor ")]


def test_readme_has_cli_examples():
    commands = {argv[0] for argv in _cli_examples()}
    assert {"regions", "extract", "delta", "train", "evaluate", "predict", "cohort"} <= commands


@pytest.mark.parametrize("argv", _cli_examples(), ids=lambda argv: argv[0])
def test_readme_cli_example_parses(argv, capsys):
    """Each command exists, each option the example uses exists and takes the value given (parsed only)."""
    from AxillaryPredictorLib.cli.main import COMMANDS, build_parser, main

    assert argv[0] in COMMANDS, f"README names an unknown command: {argv[0]}"
    with pytest.raises(SystemExit) as exited:
        main([argv[0], "--help"])
    assert exited.value.code == 0 and f"axillary-predictor {argv[0]}" in capsys.readouterr().out
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"README example does not parse: axillary-predictor {shlex.join(argv)}\n"
                    f"{capsys.readouterr().err}")
    assert args._module.__name__ == COMMANDS[argv[0]][0]


def test_cli_example_check_can_fail():
    from AxillaryPredictorLib.cli.main import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["regions", "--image", "a.nrrd", "--mask", "b.nrrd", "--out", "o",
                                   "--no-such-option"])


# ------------------------------------------------------------------ the documented Python API

#: ``from AxillaryPredictorLib.x import a, b`` (also in parentheses over several lines)
_FROM_IMPORT = re.compile(r"from\s+(AxillaryPredictorLib(?:\.\w+)*)\s+import\s+(\([^)]*\)|[\w, ]+)")
#: a dotted path in backticks: `AxillaryPredictorLib.imaging.build_regions(...)`
_DOTTED = re.compile(r"`(AxillaryPredictorLib(?:\.\w+)+)")


def documented_paths() -> list[tuple[str, str]]:
    """(where, dotted path) of every ``AxillaryPredictorLib`` name the README and docs/*.md give."""
    found = []
    for path in [README, *DOCS]:
        text = path.read_text(encoding="utf-8")
        for match in _FROM_IMPORT.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            names = re.findall(r"\w+", match.group(2))
            found += [(f"{path.name}:{line}", f"{match.group(1)}.{name}") for name in names]
        for match in _DOTTED.finditer(text):
            found.append((f"{path.name}:{text.count(chr(10), 0, match.start()) + 1}", match.group(1)))
    return found


def _resolve(dotted: str):
    """Import the longest module prefix of ``dotted``, then follow attributes (as a reader would)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError as error:
            if error.name and not dotted.startswith(error.name):
                raise  # a third-party package is missing, not a wrong path
            continue
        for attribute in parts[cut:]:
            value = getattr(value, attribute)
        return value
    raise ModuleNotFoundError(dotted)


def test_docs_give_the_documented_api():
    """The API the issue promises is named by the docs (so the test below imports it)."""
    paths = {path for _, path in documented_paths()}
    promised = {"AxillaryPredictorLib.evaluation.auc_ci", "AxillaryPredictorLib.evaluation.delong_test",
                "AxillaryPredictorLib.imaging.build_regions", "AxillaryPredictorLib.modeling.icc",
                "AxillaryPredictorLib.extraction.extract", "AxillaryPredictorLib.packages.load_package",
                "AxillaryPredictorLib.reporting.Nomogram", "AxillaryPredictorLib.scene.AxillaryPredictorLogicBase",
                "AxillaryPredictorLib.scene.create_headless_scene"}
    assert promised <= paths, f"no longer documented: {sorted(promised - paths)}"


def test_every_documented_path_imports():
    problems = []
    for where, dotted in documented_paths():
        try:
            _resolve(dotted)
        except (ImportError, AttributeError) as error:
            problems.append(f"{where}: {dotted}: {error}")
    assert not problems, "documented paths that do not import:\n" + "\n".join(problems)


def test_a_wrong_documented_path_fails():
    with pytest.raises((ImportError, AttributeError)):
        _resolve("AxillaryPredictorLib.imaging.no_such_function")
    with pytest.raises((ImportError, AttributeError)):
        _resolve("AxillaryPredictorLib.no_such_package.extract")


def test_every_function_of_the_evaluation_table_is_in_its_import_line():
    """docs/evaluation.md's table and its ``from AxillaryPredictorLib.evaluation import ...`` agree."""
    text = (ROOT / "docs" / "evaluation.md").read_text(encoding="utf-8")
    first_cells = [line.split(" | ")[0] for line in text.splitlines() if line.startswith("| `")]
    tabled = {name for cell in first_cells for name in re.findall(r"`(\w+)\(", cell)}
    imported = {path.rsplit(".", 1)[1] for where, path in documented_paths()
                if where.startswith("evaluation.md") and path.startswith("AxillaryPredictorLib.evaluation.")}
    assert len(tabled) >= 10 and tabled <= imported, f"add to the import line: {sorted(tabled - imported)}"


# ------------------------------------------------------------------ nothing points outside the repository

#: references to files outside the repository (the design notes, the paper PDFs, the work tree);
#: the committed copy of the studies' tables, Testing/fixtures/studies/STUDIES.md, is inside it.
OUTSIDE = re.compile(r"(?:\.\./)*\bshared/|DESIGN\.md|STYLE\.md|R-CONVENTIONS\.md|(?<!fixtures/studies/)STUDIES\.md"
                     r"|\bpapers/|/work/")
SCANNED = ("README.md", "docs", "AxillaryPredictor", "tools", "scripts", "pyproject.toml", "CMakeLists.txt")
TEXT_SUFFIXES = {".md", ".py", ".json", ".yaml", ".yml", ".txt", ".toml", ".sh", ".ui", ".R", ".cfg", ".csv"}


def outside_references() -> list[str]:
    found = []
    for name in SCANNED:
        top = ROOT / name
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.suffix in TEXT_SUFFIXES)
        for path in files:
            if "__pycache__" in path.parts or not path.is_file() or path.stat().st_size > 5_000_000:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                if OUTSIDE.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    return found


def test_nothing_points_outside_the_repository():
    found = outside_references()
    assert not found, ("cite papers by DOI and the design by docs/architecture.md, never a path outside the "
                       "repository:\n" + "\n".join(found))


@pytest.mark.parametrize("line", ["See `../shared/DESIGN.md`.", "(shared/STUDIES.md)", "/work/main/x",
                                  "papers/he2025.pdf", "shared/R-CONVENTIONS.md"])
def test_outside_reference_pattern_catches(line):
    assert OUTSIDE.search(line)


@pytest.mark.parametrize("line", ["Testing/fixtures/studies/STUDIES.md", "the shared-grid engine",
                                  "docs/architecture.md", "shared grid / whole image"])
def test_outside_reference_pattern_allows(line):
    assert not OUTSIDE.search(line)
