"""Write the published signatures of the studies as model packages (status
``published-needs-recalibration``): coefficients transcribed from the papers (cited by DOI in
each package; Testing/test_published.py checks them against the papers' tables), with what the
papers did not publish listed in ``unpublished``.

Writes into ``AxillaryPredictorLib/resources/models`` or the folder given with ``--out`` (then
refreshes that folder's ``Models.json``); floats are stored with ``SIGNIFICANT_DIGITS`` significant
digits, as the demonstration packages.

Run: SOURCE_DATE_EPOCH=1767225600 python tools/build_published_models.py [--out DIR]
(with this checkout's AxillaryPredictorLib importable: the packages record its profiles' SHA-256,
so rebuild them whenever ``he2025-dbt`` or ``zeng2025-dce-delta`` changes).
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "AxillaryPredictor" / "AxillaryPredictorLib" / "resources" / "models"

#: He et al. 2025, Signature tumor+10 mm (LR): (coefficient, pyradiomics feature, view, region).
HE2025_TERMS = [
    (5.632, "wavelet-HLH_glcm_Idn", "MLO", "tumor"),
    (5.490, "logarithm_firstorder_Median", "CC", "margin10mm"),
    (-3.890, "wavelet-LLH_firstorder_10Percentile", "CC", "tumor"),
    (-2.992, "log-sigma-3-0-mm-3D_firstorder_Skewness", "CC", "tumor"),
    (-2.759, "wavelet-HHL_glszm_LargeAreaLowGrayLevelEmphasis", "CC", "margin10mm"),
    (2.509, "wavelet-LLL_firstorder_Kurtosis", "MLO", "tumor"),
    (-2.435, "lbp-3D-k_glszm_SizeZoneNonUniformityNormalized", "MLO", "margin10mm"),
    (-2.266, "original_glrlm_ShortRunLowGrayLevelEmphasis", "MLO", "margin10mm"),
    (2.209, "exponential_glszm_SmallAreaHighGrayLevelEmphasis", "MLO", "tumor"),
    (1.748, "wavelet-LHH_ngtdm_Coarseness", "MLO", "margin10mm"),
    (1.351, "logarithm_firstorder_RootMeanSquared", "CC", "tumor"),
    (-1.162, "wavelet-HHL_glcm_Imc2", "MLO", "tumor"),
]
HE2025_INTERCEPT = -0.113

#: Zeng et al. 2025 combined model: (coefficient, SE, input column).
ZENG2025_TERMS = [(0.61, 0.52, "us_pcr"), (8.03, 1.66, "radscore_dir"), (11.59, 2.94, "radscore_dpr")]


def he2025() -> dict:
    from AxillaryPredictorLib.extraction.profiles import load_profile
    from AxillaryPredictorLib.extraction.tables import column_name
    from AxillaryPredictorLib.packages.package import build_date

    profile = load_profile("he2025-dbt")
    features = [column_name(region, view, name) for _, name, view, region in HE2025_TERMS]
    return {
        "format": "axillary-predictor-model-package", "format_version": 1, "id": "he2025-dbt-signature",
        "version": "1.0.0", "title": "He et al. 2025 DBT Signature tumor+10 mm (published, needs recalibration)",
        "description": "Logistic RadScore of 12 DBT features from the tumor and the 10 mm peritumoral ring, CC and "
                       "MLO views, as published (AUC 0.806 training, 0.785 external in the paper). Assumption: the "
                       "weights apply to z-scored features. The paper says only that the images were resampled and "
                       "normalized; it publishes no feature scaling and no training means or SDs, so recalibration "
                       "fits both on local cases.",
        "task": "ALN metastasis", "modality": "DBT", "status": "published-needs-recalibration",
        "citation": "He S, Deng B, Chen J, et al. Preoperative DBT-based radiomics for predicting axillary lymph node "
                    "metastasis in breast cancer: a multi-center study. BMC Medical Imaging 2025. "
                    "doi:10.1186/s12880-025-01711-3",
        "unpublished": ["whether and how the 12 features were scaled before the weights apply: that they were z-scored "
                        "is our assumption (the paper states only that the images were normalized), and the training "
                        "means and SDs to z-score them are not published (fitted locally by recalibration)",
                        "bin width and LoG sigmas of the extraction (the he2025-dbt profile states its choices)",
                        "whether '10 mm' features come from the ring or tumor+ring (the ring is used)",
                        "the Ki-67 + RadScore nomogram coefficients"],
        "inputs": {"views": ["CC", "MLO"], "regions": ["tumor", "margin10mm"], "margins_mm": [10.0],
                   "profile": {"name": profile.name, "sha256": profile.hash, "version": profile.version},
                   "timepoints": [], "delta_mode": None},
        "features": features,
        "estimator": {"type": "logistic", "intercept": HE2025_INTERCEPT,
                      "coefficients": [c for c, *_ in HE2025_TERMS]},
        "threshold": 0.5, "risk_groups": [{"name": "low", "upper": 0.5}, {"name": "high", "upper": None}],
        "performance": {"published": {"auc_training": 0.806, "auc_external": 0.785}},
        "intended_use": "Research: recalibrate and validate on local cases before any use.",
        "provenance": {"date": build_date(), "source": "transcribed from the paper (see citation)"},
    }


def zeng2025() -> dict:
    from AxillaryPredictorLib.extraction.profiles import load_profile
    from AxillaryPredictorLib.packages.package import build_date

    profile = load_profile("zeng2025-dce-delta")
    return {
        "format": "axillary-predictor-model-package", "format_version": 1, "id": "zeng2025-delta-combined",
        "version": "1.0.0", "title": "Zeng et al. 2025 delta dual-region combined model (published, needs "
                                     "recalibration)",
        "description": "Combined logistic model of post-NAT axillary ultrasound (US-pCR) and two delta RadScores "
                       "(intratumoral DIR, 3 mm peritumoral DPR), as published (AUC 0.911 training, 0.846 "
                       "validation). Each RadScore is a predicted probability (0-1) of ALN-pCR from a delta "
                       "radiomics model, as in the paper (Table 1 medians 0.37-0.67), not a linear predictor; the "
                       "user's own delta models supply them.",
        "task": "ALN pCR after NAT", "modality": "MR", "status": "published-needs-recalibration",
        "citation": "Zeng Q, Deng Y, Nan J, Zou Z, Yu T, Liu L. Delta dual-region DCE-MRI radiomics from breast masses "
                    "predicts axillary lymph node response after neoadjuvant therapy for breast cancer. BMC Cancer "
                    "2025. doi:10.1186/s12885-025-13678-z",
        "unpublished": ["intercept of the combined model (fitted locally by recalibration)",
                        "the 9 DIR and 4 DPR delta features and their weights: the paper says they are in its "
                        "Supplementary Fig. S1, which we do not have; Radscore_DIR/DPR come from the site's own "
                        "delta models (their predicted probabilities)"],
        "inputs": {"views": ["DCE3"], "regions": ["tumor", "margin3mm"], "margins_mm": [3.0],
                   "profile": {"name": profile.name, "sha256": profile.hash, "version": profile.version},
                   "timepoints": ["baseline", "ontreatment"], "delta_mode": "relative"},
        "features": [name for *_, name in ZENG2025_TERMS],
        "clinical_variables": [{"name": "us_pcr", "kind": "binary", "levels": ["no", "yes"],
                                "label": "US-pCR (post-NAT axillary ultrasound normal)"}],
        "estimator": {"type": "logistic", "intercept": 0.0, "coefficients": [c for c, *_ in ZENG2025_TERMS]},
        "threshold": 0.5, "risk_groups": [{"name": "low", "upper": 0.5}, {"name": "high", "upper": None}],
        "performance": {"published": {"auc_training": 0.911, "auc_validation": 0.846,
                                      "coefficient_se": {name: se for _, se, name in ZENG2025_TERMS}}},
        "intended_use": "Research: recalibrate and validate on local cases before any use.",
        "provenance": {"date": build_date(), "source": "transcribed from the paper (see citation)"},
    }


#: Zhang et al. 2025 clinical-radiomics model, Table 2 multivariable odds ratios: (OR, 95% CI, input column).
ZHANG2025_TERMS = [(2.24, (1.19, 4.21), "us_aln"), (2.72, (1.90, 3.90), "tumor_score"),
                   (3.14, (2.39, 4.11), "ln_score")]


def zhang2025() -> dict:
    """Zhang et al.'s clinical-radiomics model: β = ln(OR) of US-reported ALNM, tumor score and LN score;
    the intercept and the two scores' feature weights are not in the paper's text."""
    import math

    from AxillaryPredictorLib.extraction.profiles import load_profile
    from AxillaryPredictorLib.packages.package import build_date

    profile = load_profile("zhang2025-us")
    return {
        "format": "axillary-predictor-model-package", "format_version": 1, "id": "zhang2025-us-combined",
        "version": "1.0.0", "title": "Zhang et al. 2025 ultrasound clinical-radiomics model (published, needs "
                                     "recalibration)",
        "description": "Multivariable logistic model of US-reported ALNM, the tumor score and the lymph-node (LN) "
                       "score, β = ln(OR) of the paper's Table 2 (ORs 2.24, 2.72, 3.14; AUC 0.94 training, 0.92 "
                       "internal, 0.91 external, 0.95 prospective test in the paper). The tumor and LN scores are "
                       "the user's own ultrasound radiomics models of the tumor and node ROIs (their linear "
                       "predictors): give them with 'recalibrate --score tumor_score=T.json --score ln_score=N.json', "
                       "or give tumor_score and ln_score columns.",
        "task": "ALN metastasis", "modality": "US", "status": "published-needs-recalibration",
        "citation": "Zhang D, Zhou W, Lu WW, et al. Ultrasound-based deep learning radiomics for enhanced axillary "
                    "lymph node metastasis assessment: a multicenter study. The Oncologist 2025;30(5):oyaf052. "
                    "doi:10.1093/oncolo/oyaf052",
        "unpublished": ["intercept of the clinical-radiomics model (fitted locally by recalibration)",
                        "the weights of the tumor score's 14 and the LN score's 9 features (the paper puts its score "
                        "formulas in its Supplementary Material, not transcribed here): a site supplies its own "
                        "tumor and LN score models (recalibrate --score tumor_score=... --score ln_score=...)",
                        "the scale of the tumor and LN scores: ORs of 2.72 and 3.14 per unit fit linear predictors "
                        "(a probability score would have ORs per unit in the thousands, as Zeng et al.'s); the package "
                        "takes them as linear predictors. A site's own scores have their own scale: recalibrate the "
                        "slope too (--slope)"],
        "inputs": {"views": ["US"], "regions": ["tumor", "node"], "margins_mm": [],
                   "profile": {"name": profile.name, "sha256": profile.hash, "version": profile.version},
                   "timepoints": [], "delta_mode": None},
        "features": [name for *_, name in ZHANG2025_TERMS],
        "clinical_variables": [{"name": "us_aln", "kind": "binary", "levels": ["negative", "positive"],
                                "label": "US-reported ALNM"}],
        "estimator": {"type": "logistic", "intercept": 0.0,
                      "coefficients": [math.log(odds) for odds, *_ in ZHANG2025_TERMS]},
        "radscore_scale": "linear-predictor",
        "threshold": 0.5, "risk_groups": [{"name": "low", "upper": 0.5}, {"name": "high", "upper": None}],
        "performance": {"published": {"auc_training": 0.94, "auc_internal_test": 0.92, "auc_external_test": 0.91,
                                      "auc_prospective_test": 0.95, "nomo_score_cutoff": 0.701,
                                      "odds_ratios": {name: {"or": odds, "ci": list(ci)}
                                                      for odds, ci, name in ZHANG2025_TERMS}}},
        "intended_use": "Research: recalibrate and validate on local cases before any use.",
        "provenance": {"date": build_date(), "source": "transcribed from the paper (see citation)"},
    }


#: what each published package's input scores are (``radscore_scale``; Zeng: the models' probabilities)
RADSCORE_SCALES = {"zeng2025-delta-combined": "probability", "zhang2025-us-combined": "linear-predictor"}


def main() -> None:
    from build_demo_models import save_rounded, write_registry  # the one writer (tools/ is on sys.path)

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=MODELS, help="folder for the packages and Models.json "
                        "(default: the bundled models in the source tree)")
    args = parser.parse_args()
    for document in (he2025(), zeng2025(), zhang2025()):
        if document["id"] in RADSCORE_SCALES:
            document["radscore_scale"] = RADSCORE_SCALES[document["id"]]
        print(f"wrote {save_rounded(document, args.out / (document['id'] + '.json'))}")
    print(f"wrote {write_registry(args.out)}")


if __name__ == "__main__":
    main()
