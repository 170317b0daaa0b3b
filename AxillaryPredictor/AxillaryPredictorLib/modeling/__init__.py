"""Modeling: selectors and classifiers (scikit-learn estimators), recipes, cross-validated
training, combined clinical-radiomics models, reproducibility (ICC), clinical variables and
training tables. Imports ``evaluation`` and ``extraction`` (column names) only.

The names below are imported on first use, with scikit-learn."""

from AxillaryPredictorLib import lazy_exports

_EXPORTS = {"icc": "reproducibility", "icc_table": "reproducibility", "ICCFilter": "reproducibility",
            "train": "training", "TrainingResult": "training", "load_recipe": "recipes", "list_recipes": "recipes",
            "load_cohort": "cohort_tables", "ClinicalVariable": "clinical"}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
