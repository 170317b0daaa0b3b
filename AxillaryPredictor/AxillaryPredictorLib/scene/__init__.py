"""Scene: MRML adapters (volume, segmentation, table, text nodes <-> SimpleITK images and frames)
and ``AxillaryPredictorLogicBase``, the Slicer module's Logic. Runs inside Slicer or on a headless
scene from ``slicer-core``. Names are imported on first use: importing ``scene.logic`` inside Slicer
needs no third-party package."""

from AxillaryPredictorLib import lazy_exports

_EXPORTS = {"AxillaryPredictorLogicBase": "logic", "create_headless_scene": "nodes", "load_scene": "nodes",
            "save_scene": "nodes"}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
