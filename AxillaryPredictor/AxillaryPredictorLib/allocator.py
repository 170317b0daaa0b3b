"""glibc's allocator set for array-heavy work while a case runs, then memory handed back.

Dask's nanny starts every worker with ``MALLOC_TRIM_THRESHOLD_=65536`` (its
``distributed.nanny.pre-spawn-environ``) so that freed memory goes back to the operating
system. Setting that variable switches off glibc's dynamic mmap threshold: every array
above 128 KiB is then mapped and unmapped again on each allocation, and each reuse
page-faults afresh. For a radiomics case (hundreds of MB of short-lived arrays from
SimpleITK, numpy and pyradiomics) that costs about 15% of the compute and ten times the
page faults (measured: 830 000 vs 55 000 minor faults for three DBT cases).

``case_allocator()`` gives glibc its largest default thresholds for the duration of a
case (arrays up to 32 MiB reuse the heap, as an unconfigured process would after
warming up), then restores the configured values and calls ``malloc_trim(0)`` so the
worker still hands its freed memory back between cases. Where neither variable is set,
or glibc is absent (macOS, Windows, musl), it does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import threading
from collections.abc import Iterator

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: glibc's default mmap and trim thresholds, and the largest value its dynamic adjustment reaches (64-bit)
DEFAULT_MMAP_THRESHOLD = DEFAULT_TRIM_THRESHOLD = 128 * 1024
DYNAMIC_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024
CASE_TRIM_THRESHOLD = 2 * DYNAMIC_MMAP_THRESHOLD_MAX  # glibc keeps trim = 2 x mmap threshold
ENVIRONMENT = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")

_lock = threading.Lock()
_depth = 0


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def configured_thresholds() -> dict[str, int]:
    """The allocator thresholds fixed by the environment (empty: glibc adjusts them itself)."""
    values = {}
    for name in ENVIRONMENT:
        with contextlib.suppress(KeyError, ValueError):
            values[name] = int(os.environ[name])
    return values


@contextlib.contextmanager
def case_allocator() -> Iterator[None]:
    """Large allocator thresholds while the block runs (nested and thread-safe), then the
    configured ones again and free memory returned to the system."""
    global _depth
    configured = configured_thresholds()
    libc = _glibc() if configured else None
    if libc is None:
        yield
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            libc.mallopt(M_MMAP_THRESHOLD, DYNAMIC_MMAP_THRESHOLD_MAX)
            libc.mallopt(M_TRIM_THRESHOLD, CASE_TRIM_THRESHOLD)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(M_MMAP_THRESHOLD, configured.get("MALLOC_MMAP_THRESHOLD_", DEFAULT_MMAP_THRESHOLD))
                libc.mallopt(M_TRIM_THRESHOLD, configured.get("MALLOC_TRIM_THRESHOLD_", DEFAULT_TRIM_THRESHOLD))
                libc.malloc_trim(0)
