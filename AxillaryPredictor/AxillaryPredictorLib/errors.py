"""One error model: every failure a user can cause or fix is an ``AxillaryPredictorError``.

Front-ends turn these into messages, never tracebacks: the CLI prints ``error: <message>`` and exits
with 2, a cohort run records the error's ``step`` and message in ``errors.csv``, the Slicer widget
shows the message. Anything else is a bug and keeps its traceback (CLI: ``--debug``).

The classes also derive from ``ValueError`` so callers that catch bad input as ``ValueError`` (the
Python API before this hierarchy) keep working.
"""

from __future__ import annotations


class AxillaryPredictorError(ValueError):
    """A failure with a message that says what is wrong and how to fix it."""

    #: the stage of a case where this failure belongs (a cohort run's ``errors.csv`` column ``step``)
    step = "run"


class InputError(AxillaryPredictorError):
    """Bad input: a missing or unreadable file, an invalid option or clinical value, mismatched grids."""

    step = "read"


class RegionError(InputError):
    """The tumor mask cannot give the regions asked for (empty, margins too large, clipped away)."""

    step = "regions"


class ExtractionError(AxillaryPredictorError):
    """Features could not be extracted (no region extractable, unknown profile or feature)."""

    step = "extract"


class ModelError(AxillaryPredictorError):
    """A model package is invalid, tampered with, or cannot score this case."""

    step = "predict"


class InputFileNotFoundError(InputError, FileNotFoundError):
    """A file the user named does not exist (also a ``FileNotFoundError`` for callers that catch that)."""
