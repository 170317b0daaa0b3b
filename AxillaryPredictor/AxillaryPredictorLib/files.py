"""Files written atomically (temporary file + rename), alone or as an all-or-none set."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path


def _write_beside(path: Path, text: str, newline: str | None = None) -> Path:
    """``text`` in a new hidden temporary file in ``path``'s folder (removed again on failure)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline=newline) as stream:
            stream.write(text)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Path(temporary)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` through a temporary file in the same folder + rename (never partial)."""
    path = Path(path)
    temporary = _write_beside(path, text)
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_texts_atomic(files: Sequence[tuple[str | Path, str]]) -> list[Path]:
    """Write several files as one set, never a partial or mismatched one.

    Every text first goes to a temporary file beside its target; only when all are written are
    they renamed onto their targets, in the given order, the LAST one last — and that last target
    is removed before the first rename, so while it exists the set is complete and from one run.
    On any failure the temporary files and every target (including those of a previous run) are
    removed, so no stale set is left that could be taken for this run's result; then the error is
    raised again. (A killed process can leave hidden ``.<name>.*.tmp`` files, never a target.)"""
    targets = [Path(path) for path, _ in files]
    temporaries: list[Path] = []
    try:
        for path, (_, text) in zip(targets, files, strict=True):
            temporaries.append(_write_beside(path, text, newline=""))  # bytes = text, on any OS
        if targets:
            remove_files(targets[-1:])
        for temporary, path in zip(temporaries, targets, strict=True):
            os.replace(temporary, path)
    except BaseException:
        remove_files(temporaries + targets)
        raise
    return targets


def remove_files(paths: Sequence[str | Path]) -> None:
    """Remove these files if they exist (folders and other non-files are left alone)."""
    for path in map(Path, paths):
        if path.is_file() or path.is_symlink():
            path.unlink(missing_ok=True)
