"""Extraction: profiles (pyradiomics parameter sets), the shared-grid engine and its
pyradiomics reference path, feature-table files, delta features. Imports only ``imaging``."""

from AxillaryPredictorLib.extraction.delta import extract_delta
from AxillaryPredictorLib.extraction.engine import ExtractionResult, extract
from AxillaryPredictorLib.extraction.profiles import list_profiles, load_profile

__all__ = ["ExtractionResult", "extract", "extract_delta", "list_profiles", "load_profile"]
