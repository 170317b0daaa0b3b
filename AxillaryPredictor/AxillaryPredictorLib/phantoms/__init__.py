"""Synthetic data: breast phantoms (images + masks) and cohorts with known truth.

``images`` makes scans, ``cohorts`` makes latent patient records whose outcome follows a
documented logistic model, and can turn a record into a phantom scan.
"""

from AxillaryPredictorLib.phantoms.cohorts import (
    ALN_MODEL,
    PCR_MODEL,
    LatentLogisticModel,
    aln_lesion_spec,
    phantom_for_aln_record,
    phantoms_for_pcr_record,
    simulate_aln_cohort,
    simulate_pcr_cohort,
)
from AxillaryPredictorLib.phantoms.images import (
    PRESETS,
    TISSUE_LABELS,
    LesionSpec,
    NodeSpec,
    Phantom,
    make_pair,
    make_phantom,
)

__all__ = [
    "ALN_MODEL",
    "PCR_MODEL",
    "PRESETS",
    "TISSUE_LABELS",
    "LatentLogisticModel",
    "LesionSpec",
    "NodeSpec",
    "Phantom",
    "aln_lesion_spec",
    "make_pair",
    "make_phantom",
    "phantom_for_aln_record",
    "phantoms_for_pcr_record",
    "simulate_aln_cohort",
    "simulate_pcr_cohort",
]
