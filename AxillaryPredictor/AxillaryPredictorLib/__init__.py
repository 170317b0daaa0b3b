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



def lazy_exports(package: str, exports: dict[str, str]):
    """A module ``__getattr__`` that imports ``package.<module>`` on first access of a name in
    ``exports`` (name -> module), so importing a subpackage imports no third-party package."""

    def __getattr__(name: str):  # noqa: N807 - the module-level hook's required name
        if name in exports:
            from importlib import import_module

            return getattr(import_module(f"{package}.{exports[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


__all__ = ["__version__", "lazy_exports"]
