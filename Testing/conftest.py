"""Shared pytest fixtures: a headless Slicer scene on the real slicer-core, phantoms."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def headless():
    """A fresh MRML scene with Slicer's application and module logics registered."""
    from AxillaryPredictorLib.scene.nodes import create_headless_scene

    slicer_app = create_headless_scene()
    yield slicer_app
    slicer_app.scene.Clear(1)


# ------------------------------------------------- the suite never writes into the repository

_REPOSITORY_STATUS = pytest.StashKey[str]()


def _git_status() -> str | None:
    """``git status --porcelain`` of this checkout (untracked files included), None without git."""
    import subprocess
    from pathlib import Path

    try:
        result = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                                cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):  # the main process (not an xdist worker)
        status = _git_status()
        if status is not None:
            session.config.stash[_REPOSITORY_STATUS] = status


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when `git status` changed while it ran: tests write only to tmp_path."""
    before = session.config.stash.get(_REPOSITORY_STATUS, None)
    after = _git_status() if before is not None else None
    if after is None or after == before:
        return
    changed = sorted(set(after.splitlines()) ^ set(before.splitlines()))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_line(f"error: the test run changed the repository (tests must write only to tmp_path): "
                            f"{changed[:10]}", red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
