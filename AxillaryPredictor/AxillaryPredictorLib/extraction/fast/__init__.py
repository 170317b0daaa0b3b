"""Compiled (numba) texture matrices and batched feature formulas for the shared-grid engine.

``unavailable()`` says why the fast path cannot run here ('' when it can); the engine then
falls back to pyradiomics' own classes and C matrices per region and records it in provenance.
"""

from __future__ import annotations

import functools


@functools.cache
def unavailable() -> str:
    """'' when numba imports and the kernels compile here, else the reason."""
    try:
        import numba  # noqa: F401
    except Exception as error:  # ImportError, or a broken llvmlite in a host application
        return f"numba is not importable ({type(error).__name__}: {error})"
    try:
        from AxillaryPredictorLib.extraction.fast import kernels, lbp3d, shape

        kernels.warm_up()
        lbp3d.warm_up()
        shape.warm_up()
    except Exception as error:  # compilation failed: never crash the extraction for speed
        return f"the numba kernels could not be compiled ({type(error).__name__}: {error})"
    return ""


def backend() -> str:
    """What computes the texture matrices: 'numba <version>' or 'pyradiomics (<why not numba>)'."""
    reason = unavailable()
    if reason:
        return f"pyradiomics C matrices ({reason})"
    import numba

    return f"numba {numba.__version__}"
