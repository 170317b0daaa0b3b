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
