"""Extraction: profiles (pyradiomics parameter sets), the shared-grid engine and its
pyradiomics reference path, feature-table files, delta features. Imports only ``imaging``. Building a case's
regions and extracting them (single scan or delta) is ``pipeline.extract_case``."""

from AxillaryPredictorLib.extraction.delta import compute_delta
from AxillaryPredictorLib.extraction.engine import ExtractionResult, extract
from AxillaryPredictorLib.extraction.profiles import list_profiles, load_profile

__all__ = ["ExtractionResult", "compute_delta", "extract", "list_profiles", "load_profile"]
