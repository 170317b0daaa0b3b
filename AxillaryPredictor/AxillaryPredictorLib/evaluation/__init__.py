"""Evaluation: statistics equal to R (pROC, Hmisc, ResourceSelection, rmda), comparison tables
and plots over cohorts. Plain functions over numpy arrays returning frozen dataclasses."""

from AxillaryPredictorLib.evaluation.statistics import (
    AUCResult,
    CalibrationResult,
    ClinicalImpact,
    DecisionCurve,
    DeLongResult,
    HosmerLemeshowResult,
    NriIdiResult,
    ThresholdMetrics,
    auc,
    auc_ci,
    brier,
    calibration,
    calibration_bins,
    clinical_impact,
    decision_curve,
    delong_test,
    delong_test_unpaired,
    delong_variance,
    hosmer_lemeshow,
    nri_idi,
    threshold_metrics,
    validate_predictions,
    wilson_ci,
    youden_thresholds,
)

__all__ = ["AUCResult", "CalibrationResult", "ClinicalImpact", "DeLongResult", "DecisionCurve",
           "HosmerLemeshowResult", "NriIdiResult", "ThresholdMetrics", "auc", "auc_ci", "brier", "calibration",
           "calibration_bins", "clinical_impact", "decision_curve", "delong_test", "delong_test_unpaired",
           "delong_variance", "hosmer_lemeshow", "nri_idi", "threshold_metrics", "validate_predictions",
           "wilson_ci", "youden_thresholds"]
