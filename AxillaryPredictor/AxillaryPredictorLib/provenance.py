"""Provenance: the versions of the packages that determine feature values and models."""

from __future__ import annotations

from importlib import metadata


def library_versions() -> dict[str, str]:
    """Versions of the packages that determine feature values (importlib.metadata)."""
    versions = {}
    for name in ("axillary-predictor", "pyradiomics", "SimpleITK", "numpy", "PyWavelets", "scipy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    try:
        import radiomics

        versions["pyradiomics (reported by the module)"] = str(radiomics.__version__)
    except ImportError:
        pass
    return versions
