"""Files written atomically (temporary file + rename), alone or as an all-or-none set, with the
permissions an ordinary new file gets; and CSV text that spreadsheets do not run as formulas."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

#: a text cell starting with one of these is run as a formula by spreadsheets (CSV/formula injection)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def new_file_mode() -> int:
    """The permission bits ``open()`` gives a new file: 0o666 minus the process umask (0o644 under
    umask 022). ``tempfile.mkstemp`` creates files at 0o600, so atomic writes set this instead."""
    try:  # Linux: read it without changing it (os.umask can only be read by setting it)
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _write_beside(path: Path, text: str, newline: str | None = None) -> Path:
    """``text`` in a new hidden temporary file in ``path``'s folder (removed again on failure)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline=newline) as stream:
            stream.write(text)
        os.chmod(temporary, new_file_mode())  # like an ordinary file, not mkstemp's 0o600
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


def formula_safe(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text that a spreadsheet would run as a formula: it
    starts with = + - @ (or a tab / carriage return) and is not a number (``-1.5`` stays as it is)."""
    if not isinstance(value, str) or not value.startswith(FORMULA_PREFIXES):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` as CSV text (no index) with formula-like text cells and column names neutralised
    (``formula_safe``): case IDs and clinical values come from users' files, and these tables are
    opened in spreadsheets. Numeric columns are written as they are."""
    import pandas as pd

    safe = frame.rename(columns=formula_safe)
    for index in range(safe.shape[1]):
        column = safe.iloc[:, index]
        if not pd.api.types.is_numeric_dtype(column.dtype):
            safe.isetitem(index, column.map(formula_safe))
    return safe.to_csv(index=False)
