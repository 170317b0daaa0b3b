"""glibc's allocator set for array-heavy work while a case runs, then memory handed back.

Dask's nanny starts every worker with ``MALLOC_TRIM_THRESHOLD_=65536`` (its
``distributed.nanny.pre-spawn-environ``) so that freed memory goes back to the operating
system. Setting that variable (or ``MALLOC_MMAP_THRESHOLD_``) switches off glibc's dynamic
mmap threshold: every array above 128 KiB is then mapped afresh on each allocation and
page-faults on first touch. For a radiomics case (hundreds of MB of short-lived arrays from
SimpleITK, numpy and pyradiomics) that costs about 15% of the compute and 15 times the page
faults (measured: 830 000 vs 55 000 minor faults for three DBT cases).

``case_allocator()`` raises both thresholds while a case runs to the largest values glibc's
own dynamic adjustment reaches (mmap 32 MiB, trim 64 MiB), so arrays reuse the heap as in an
unconfigured process; afterwards it restores the configured values and calls
``malloc_trim(0)``, so the worker still hands its freed memory back between cases. It acts
only where glibc was started with one of those variables: it reads the environment the
process started with (``/proc/self/environ``), not ``os.environ``, because glibc reads the
variables once at start-up and Dask's in-process nanny (``LocalCluster``) writes them into
its own ``os.environ`` without reconfiguring anything. Elsewhere (macOS, Windows, musl,
unconfigured glibc) it does nothing. Other ways of fixing thresholds (``MALLOC_TOP_PAD_``,
``MALLOC_MMAP_MAX_``, ``GLIBC_TUNABLES``) are left alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import threading
from collections.abc import Iterator

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: glibc's default mmap and trim thresholds
DEFAULT_MMAP_THRESHOLD = DEFAULT_TRIM_THRESHOLD = 128 * 1024
#: the largest mmap threshold glibc's dynamic adjustment reaches on 64-bit (it keeps trim at twice it)
CASE_MMAP_THRESHOLD = 32 * 1024 * 1024
CASE_TRIM_THRESHOLD = 2 * CASE_MMAP_THRESHOLD
ENVIRONMENT = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
INT_MAX = 2**31 - 1  # mallopt takes a C int

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_depth = 0


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (it exports ``gnu_get_libc_version``), else None."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    if not all(hasattr(libc, name) for name in ("gnu_get_libc_version", "mallopt", "malloc_trim")):
        return None
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.mallopt.restype = ctypes.c_int
    libc.malloc_trim.argtypes = (ctypes.c_size_t,)
    libc.malloc_trim.restype = ctypes.c_int
    return libc


def startup_environment() -> dict[str, str]:
    """The environment this process was started with (what glibc read), from /proc."""
    try:
        with open("/proc/self/environ", "rb") as environ:
            entries = environ.read().split(b"\0")
    except OSError:
        return {}
    pairs = (entry.decode("utf-8", "replace").partition("=") for entry in entries if b"=" in entry)
    return {name: value for name, _, value in pairs}


def parse_thresholds(environment: dict[str, str]) -> dict[str, int]:
    """The allocator thresholds an environment fixes (empty: glibc adjusts them itself).
    Values are read as glibc reads them (decimal or 0x hexadecimal) and capped at INT_MAX."""
    values: dict[str, int] = {}
    for name in ENVIRONMENT:
        if name in environment:
            try:
                values[name] = min(int(environment[name].strip(), 0), INT_MAX)
            except ValueError:
                logger.debug("%s=%r is not a number; assuming glibc's default for it", name, environment[name])
                values[name] = DEFAULT_MMAP_THRESHOLD
    return values


@functools.cache
def configured_thresholds() -> dict[str, int]:
    """The thresholds glibc was started with in this process (read once)."""
    return parse_thresholds(startup_environment()) if _glibc() is not None else {}


def _set(libc: ctypes.CDLL, parameter: int, value: int) -> None:
    if libc.mallopt(parameter, value) != 1:
        logger.debug("glibc refused mallopt(%d, %d)", parameter, value)


@contextlib.contextmanager
def case_allocator() -> Iterator[None]:
    """Large allocator thresholds while the block runs, then the configured ones again and
    free memory returned to the system. Nested and concurrent blocks (threaded workers)
    share one setting: it is restored, and memory trimmed, when the last one ends."""
    global _depth
    configured = configured_thresholds()
    libc = _glibc()
    if not configured or libc is None:
        yield
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            _set(libc, M_MMAP_THRESHOLD, CASE_MMAP_THRESHOLD)
            _set(libc, M_TRIM_THRESHOLD, CASE_TRIM_THRESHOLD)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _set(libc, M_MMAP_THRESHOLD, configured.get("MALLOC_MMAP_THRESHOLD_", DEFAULT_MMAP_THRESHOLD))
                _set(libc, M_TRIM_THRESHOLD, configured.get("MALLOC_TRIM_THRESHOLD_", DEFAULT_TRIM_THRESHOLD))
                libc.malloc_trim(0)
