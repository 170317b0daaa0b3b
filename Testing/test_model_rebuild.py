"""The bundled model packages are what the tools rebuild, on any machine, and the rebuild never
writes into the source tree."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from AxillaryPredictorLib.packages.package import load_package
from AxillaryPredictorLib.packages.registry import bundled_directory

ROOT = Path(__file__).resolve().parents[1]
SIGNIFICANT_DIGITS = 10  # tools/build_demo_models.py rounds every stored float to this
RELATIVE = 1e-8  # a fit's last digits differ between BLAS/CPUs; ten significant digits do not (but for a straddle)


def _git_status() -> str | None:
    """``git status --porcelain`` of the repository (untracked files included), or None without git."""
    try:
        result = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def _snapshot(folder: Path) -> dict[str, tuple[str, int, int]]:
    """Content digest, mode and modification time of every file in ``folder``."""
    return {path.name: (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mode, path.stat().st_mtime_ns)
            for path in sorted(folder.iterdir()) if path.is_file()}


def _floats(value):
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _floats(item)
    elif isinstance(value, list):
        for item in value:
            yield from _floats(item)


def _differences(rebuilt, bundled, where: str = "$") -> list[str]:
    """Where two package documents differ beyond float noise (``sha256`` fields are checked apart)."""
    if isinstance(rebuilt, float) or isinstance(bundled, float):
        same = isinstance(rebuilt, int | float) and isinstance(bundled, int | float) and math.isclose(
            rebuilt, bundled, rel_tol=RELATIVE, abs_tol=1e-12)
        return [] if same else [f"{where}: {rebuilt!r} vs {bundled!r}"]
    if isinstance(rebuilt, dict) and isinstance(bundled, dict):
        if set(rebuilt) != set(bundled):
            return [f"{where}: keys {sorted(set(rebuilt) ^ set(bundled))} differ"]
        return [d for key in rebuilt if key != "sha256" for d in _differences(rebuilt[key], bundled[key],
                                                                              f"{where}.{key}")]
    if isinstance(rebuilt, list) and isinstance(bundled, list) and len(rebuilt) == len(bundled):
        return [d for i, (a, b) in enumerate(zip(rebuilt, bundled, strict=True))
                for d in _differences(a, b, f"{where}[{i}]")]
    return [] if rebuilt == bundled else [f"{where}: {rebuilt!r} vs {bundled!r}"]


@pytest.mark.slow
def test_bundled_packages_are_what_the_tools_rebuild_and_the_rebuild_leaves_the_repository_alone(tmp_path):
    bundled_folder = bundled_directory()
    before = _snapshot(bundled_folder)
    status_before = _git_status()
    assert {"demo-dce-aln.json", "demo-us-aln.json", "demo-delta-pcr.json", "demo-dbt-aln.json",
            "Models.json"} <= set(before)
    environment = dict(os.environ, SOURCE_DATE_EPOCH="1767225600")
    for script in ("build_demo_models.py", "build_published_models.py"):
        result = subprocess.run([sys.executable, str(ROOT / "tools" / script), "--out", str(tmp_path)],
                                env=environment, capture_output=True, text=True, timeout=1800)
        assert result.returncode == 0, result.stderr[-2000:]

    # nothing in the source tree was written, not even rewritten with the same bytes
    assert _snapshot(bundled_folder) == before
    assert _git_status() == status_before
    assert {p.name for p in tmp_path.glob("*.json")} == {p.name for p in bundled_folder.glob("*.json")}
    for name in sorted(before):
        rebuilt = json.loads((tmp_path / name).read_text(encoding="utf-8"))
        bundled = json.loads((bundled_folder / name).read_text(encoding="utf-8"))
        assert not _differences(rebuilt, bundled), f"{name}: {_differences(rebuilt, bundled)[:5]}"
        # stored floats carry ten significant digits, so their bytes do not depend on the machine
        assert all(float(f"{v:.{SIGNIFICANT_DIGITS}g}") == v for v in _floats(bundled)), name
        if name != "Models.json":
            load_package(tmp_path / name)  # sealed: its hash matches its content
            if rebuilt == bundled:  # equal content: equal bytes (sorted keys, fixed date)
                assert (tmp_path / name).read_bytes() == (bundled_folder / name).read_bytes(), name
    registry = json.loads((tmp_path / "Models.json").read_text(encoding="utf-8"))
    for entry in registry["models"]:
        assert entry["sha256"] == json.loads((tmp_path / entry["file"]).read_text(encoding="utf-8"))["sha256"]

