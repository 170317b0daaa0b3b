"""The model registry: bundled packages (``resources/models/Models.json``) plus the user's own.

User packages live in a per-user folder: ``$AXILLARY_PREDICTOR_MODELS`` when set, else
``~/.axillary-predictor/models`` (inside Slicer the module may pass its own setting). Every
``*.json`` package there is verified (size, nesting, schema, SHA-256, meaning) when listed and
shown as "user-supplied, unverified" with its status as claimed by the file: the hash proves
integrity, not origin. A file that fails verification is listed as ``invalid`` with the reason
and never breaks listing or predicting with other models. A user file with a bundled model's id
is listed as a ``conflict`` and ignored: the id always means the bundled package.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from AxillaryPredictorLib.errors import AxillaryPredictorError, ModelError
from AxillaryPredictorLib.packages.package import (
    BUNDLED,
    USER,
    USER_SUPPLIED,
    ModelPackage,
    PackageError,
    load_package,
    package_hash,
    status_text,
)

LOG = logging.getLogger(__name__)
#: registry entry statuses of user files that cannot be used
INVALID, CONFLICT = "invalid", "conflict"


def bundled_directory() -> Path:
    return Path(str(resources.files("AxillaryPredictorLib") / "resources" / "models"))


def user_directory() -> Path:
    return Path(os.environ.get("AXILLARY_PREDICTOR_MODELS", Path.home() / ".axillary-predictor" / "models"))


def bundled_index() -> dict[str, dict[str, Any]]:
    """The bundled registry's entries by id."""
    document = json.loads((bundled_directory() / "Models.json").read_text(encoding="utf-8"))
    entries = document["models"] if isinstance(document, dict) else document
    return {e["id"]: e for e in entries}


def document_origin(document: Mapping[str, Any]) -> str:
    """``bundled`` when the bundled registry lists this id with this SHA-256 (and the hash is the
    document's), else ``user``: the registry, shipped with the code, is what vouches for a package."""
    entry = bundled_index().get(str(document.get("id")))
    if entry is None or not entry.get("sha256") or entry["sha256"] != document.get("sha256"):
        return USER
    try:
        return BUNDLED if package_hash(dict(document)) == entry["sha256"] else USER
    except ValueError:
        return USER


def cv_auc(document: Mapping[str, Any]) -> float | None:
    """A package's cross-validated AUC (``performance.cv.auc``), or None when it reports none."""
    cv = (document.get("performance") or {}).get("cv") or {}
    value = cv.get("auc") if isinstance(cv, Mapping) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _bundled_entries() -> list[dict[str, Any]]:
    return [{**e, "path": str(bundled_directory() / e["file"]), "source": BUNDLED, "origin": BUNDLED,
             "verified": True, "origin_text": "bundled", "status_label": e["status"]}
            for e in bundled_index().values()]


def _user_entry(path: Path, bundled_ids: set[str]) -> dict[str, Any]:
    """The registry entry of one user file: a verified package, an invalid file or a conflict."""
    base = {"file": path.name, "path": str(path), "source": USER, "origin": USER, "verified": False,
            "origin_text": USER_SUPPLIED}
    try:
        package = load_package(path)
    except (AxillaryPredictorError, OSError) as error:
        return {**base, "id": path.stem, "title": f"{path.name} (invalid)", "status": INVALID,
                "status_label": INVALID, "reason": str(error)}
    document = package.document
    if package.id in bundled_ids:
        return {**base, "id": package.id, "title": f"{document['title']} (ignored: id of a bundled model)",
                "status": CONFLICT, "status_label": CONFLICT,
                "reason": f"{path} has the id '{package.id}' of a bundled model: the bundled package is used and "
                          "this file is ignored. Give it its own id (then re-seal it)."}
    return {**base, "id": package.id, "version": document.get("version"),
            "title": f"{document['title']} ({USER_SUPPLIED})", "task": document.get("task"),
            "modality": document.get("modality"), "status": status_text(package.status, USER),
            "cv_auc": cv_auc(document),
            "claimed_status": package.status, "status_label": status_text(package.status, USER),
            "sha256": document["sha256"]}


def registry_entries(user_folder: str | Path | None = None) -> list[dict[str, Any]]:
    """Bundled registry entries, then one entry per user file (id, title, status, origin, file ...).

    ``origin`` is ``bundled`` or ``user``, ``verified`` True only for bundled ones; a user entry's
    ``status`` reads "<status> (claimed by the file, not verified)" (``claimed_status``: as written),
    or is ``invalid`` / ``conflict`` with a ``reason``. Never raises for a bad user file."""
    entries = _bundled_entries()
    bundled_ids = {e["id"] for e in entries}
    folder = Path(user_folder) if user_folder else user_directory()
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            if path.is_file():
                entries.append(_user_entry(path, bundled_ids))
    return entries


def find_model(model: str | Path, user_folder: str | Path | None = None) -> ModelPackage:
    """A package by registry id or by path; verified (schema, SHA-256, meaning) on load. A bundled
    id always gives the bundled package (a user file with that id is ignored, with a note)."""
    path = Path(model)
    if path.suffix == ".json" and path.is_file():
        return load_package(path)
    entries = registry_entries(user_folder)
    for entry in entries:
        if entry["id"] != str(model) or entry.get("source") != BUNDLED:
            continue
        package = load_package(entry["path"])
        if entry.get("sha256") and entry["sha256"] != package.document["sha256"]:
            raise ModelError(f"Model '{model}': {entry['file']} is not the package the registry lists (SHA-256 "
                             f"{package.document['sha256'][:12]}… instead of {entry['sha256'][:12]}…); "
                             "reinstall the extension.")
        package.notes = [e["reason"] for e in entries if e["id"] == str(model) and e.get("status") == CONFLICT]
        for note in package.notes:
            LOG.warning("note: %s", note)
        return package
    for entry in entries:
        if entry["id"] == str(model):
            if entry["status"] == INVALID:
                raise PackageError(f"Model '{model}' ({entry['path']}) is invalid: {entry['reason']}")
            return load_package(entry["path"])
    ids = ", ".join(e["id"] for e in entries if e.get("status") not in (INVALID, CONFLICT))
    raise ModelError(f"No model '{model}'. Available: {ids}; or give the path of a model package (.json).")
