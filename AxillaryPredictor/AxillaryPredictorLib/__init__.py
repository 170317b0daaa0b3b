"""AxillaryPredictorLib: all computation behind the AxillaryPredictor Slicer module.

Importing this package imports nothing beyond the standard library, so that the
Slicer module can be loaded before its Python dependencies are installed. Import
the submodules (``regions``, ``features``, ``phantoms`` ...) where they are used.
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("axillary-predictor")
except _metadata.PackageNotFoundError:  # running from a source tree inside Slicer
    __version__ = "0.1.0"

__all__ = ["__version__"]
