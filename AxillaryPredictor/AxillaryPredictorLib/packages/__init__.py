"""Model packages: JSON schema, load/save/hash, the one scorer, the registry of bundled and user
packages, recalibration of published signatures. Imports ``modeling`` and ``evaluation``."""

from AxillaryPredictorLib.packages.package import ModelPackage, PackageError, load_package, save_package
from AxillaryPredictorLib.packages.registry import find_model, registry_entries

__all__ = ["ModelPackage", "PackageError", "find_model", "load_package", "registry_entries", "save_package"]
