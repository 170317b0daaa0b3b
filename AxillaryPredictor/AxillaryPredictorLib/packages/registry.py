"""The model registry: bundled packages (``resources/models/Models.json``) plus the user's own.

User packages live in a per-user folder: ``$AXILLARY_PREDICTOR_MODELS`` when set, else
``~/.axillary-predictor/models`` (inside Slicer the module may pass its own setting). Every
``*.json`` package there is listed beside the bundled ones (verified when loaded).
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from AxillaryPredictorLib.errors import ModelError
from AxillaryPredictorLib.packages.package import ModelPackage, load_package


def bundled_directory() -> Path:
    return Path(str(resources.files("AxillaryPredictorLib") / "resources" / "models"))


def user_directory() -> Path:
    return Path(os.environ.get("AXILLARY_PREDICTOR_MODELS", Path.home() / ".axillary-predictor" / "models"))


def registry_entries(user_folder: str | Path | None = None) -> list[dict[str, Any]]:
    """Bundled registry entries, then one entry per user package (id, title, status, file ...)."""
    document = json.loads((bundled_directory() / "Models.json").read_text(encoding="utf-8"))
    entries = document["models"] if isinstance(document, dict) else document
    entries = [{**e, "path": str(bundled_directory() / e["file"]), "source": "bundled"} for e in entries]
    folder = Path(user_folder) if user_folder else user_directory()
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                entries.append({"id": data["id"], "file": path.name, "path": str(path), "version": data.get("version"),
                                "title": data.get("title", data["id"]), "task": data.get("task"),
                                "modality": data.get("modality"), "status": data.get("status"), "source": "user"})
            except (OSError, ValueError, KeyError):
                entries.append({"id": path.stem, "file": path.name, "path": str(path), "title": path.stem,
                                "status": "unreadable", "source": "user"})
    return entries


def find_model(model: str | Path, user_folder: str | Path | None = None) -> ModelPackage:
    """A package by registry id or by path; verified (schema, SHA-256) on load."""
    path = Path(model)
    if path.suffix == ".json" and path.is_file():
        return load_package(path)
    for entry in registry_entries(user_folder):
        if entry["id"] == str(model):
            package = load_package(entry["path"])
            if entry.get("sha256") and entry["sha256"] != package.document["sha256"]:
                raise ModelError(f"Model '{model}': {entry['file']} is not the package the registry lists (SHA-256 "
                                 f"{package.document['sha256'][:12]}… instead of {entry['sha256'][:12]}…); "
                                 "reinstall the extension.")
            return package
    ids = ", ".join(e["id"] for e in registry_entries(user_folder))
    raise ModelError(f"No model '{model}'. Available: {ids}; or give the path of a model package (.json).")
