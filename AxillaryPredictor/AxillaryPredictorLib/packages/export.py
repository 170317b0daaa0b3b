"""A trained model (``modeling.training.TrainingResult``) as a model package document: estimator,
standardization, derived scores, nomogram axes, threshold, reported performance and provenance."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from AxillaryPredictorLib.errors import ModelError
from AxillaryPredictorLib.modeling.classifiers import (
    export_estimator,
    export_stacked,
    pipeline_imputation,
    radscore_formula,
    split_pipeline,
)
from AxillaryPredictorLib.modeling.training import TrainingResult


def to_package(result: TrainingResult, features: pd.DataFrame, y, *, model_id: str, title: str, task: str,
               modality: str, views: list[str], regions: list[str], profile: dict[str, Any],
               clinical_variables: list | None = None, clinical_data: pd.DataFrame | None = None,
               status: str = "demonstration", intended_use: str = "", description: str = "",
               timepoints: list[str] | None = None, margins_mm: list[float] | None = None,
               delta_mode: str | None = None, provenance: dict[str, Any] | None = None,
               threshold: float | None = None) -> dict[str, Any]:
    """The package document (unsealed) of a trained model."""
    from AxillaryPredictorLib import __version__
    from AxillaryPredictorLib.evaluation.statistics import auc_ci, threshold_metrics
    from AxillaryPredictorLib.modeling.cohort_tables import table_hash
    from AxillaryPredictorLib.packages.package import build_date, nomogram_axis
    from AxillaryPredictorLib.provenance import library_versions

    y = np.asarray(y, int)
    if not isinstance(result.pipeline, Pipeline):  # post-fusion stack
        names, standardization, estimator = [], None, export_stacked(result.pipeline)
    else:
        names, standardization, final = split_pipeline(result.pipeline)
        estimator = export_estimator(final)
    document: dict[str, Any] = {
        "format": "axillary-predictor-model-package", "format_version": 1, "id": model_id, "version": "1.0.0",
        "title": title, "description": description, "task": task, "modality": modality, "status": status,
        "inputs": {"views": views, "regions": regions, "profile": profile, "timepoints": timepoints or [],
                   "margins_mm": margins_mm or [], "delta_mode": delta_mode},
        "intended_use": intended_use or "Research use only. Not a medical device.",
        "training_ranges": {n: [float(features[n].min()), float(features[n].max())]
                            for n in (names or result.features)},
    }
    if result.combined is None:
        document.update(features=names, estimator=estimator)
        if standardization:
            document["standardization"] = standardization
        imputation = pipeline_imputation(result.pipeline) if isinstance(result.pipeline, Pipeline) else None
        if imputation:
            document["imputation"] = imputation
        in_sample = result.pipeline.predict_proba(features)[:, 1]
        if estimator["type"] == "logistic" and standardization:
            document["radscore_formula"] = radscore_formula(names, estimator["coefficients"], estimator["intercept"])
    else:
        document["derived"] = []
        formulas = []
        for name, pipeline in result.score_pipelines.items():
            score_names, score_standardization, score_estimator = split_pipeline(pipeline)
            exported = export_estimator(score_estimator)
            if exported["type"] != "logistic":
                raise ModelError("A combined model needs logistic radiomics models (their linear predictors are the "
                                 "RadScores).")
            document["derived"].append({"name": name, "features": score_names,
                                        "mean": score_standardization["mean"], "scale": score_standardization["scale"],
                                        "intercept": exported["intercept"], "coefficients": exported["coefficients"],
                                        "description": f"{name}: linear predictor of a radiomics logistic model"})
            imputation = pipeline_imputation(pipeline)
            if imputation:
                document["derived"][-1]["impute"] = imputation["values"]
            formulas.append(radscore_formula(score_names, exported["coefficients"], exported["intercept"],
                                             name="RadScore" if name == "radscore" else name))
            for feature in score_names:
                document["training_ranges"][feature] = [float(features[feature].min()), float(features[feature].max())]
        document["radscore_formula"] = "\n".join(formulas)
        combined = result.combined
        document["features"] = list(combined.terms_)
        document["estimator"] = {"type": "logistic", "intercept": combined.intercept_,
                                 "coefficients": [combined.coef_[t] for t in combined.terms_]}
        variables = {v.name: v for v in (clinical_variables or [])}
        used = [v for v in variables.values() if any(c in combined.terms_ for c in v.columns())]
        document["clinical_variables"] = [v.to_dict() for v in used]
        predictors = []
        design = result.scores_train.copy()
        if clinical_data is not None:
            design = pd.concat([design, clinical_data.reset_index(drop=True)], axis=1)
        for term in combined.terms_:
            owner = next((v for v in used if term in v.columns()), None)
            if owner is None:
                label = "RadScore" if term == "radscore" else term.replace("_", " ")
                predictors.append({"name": term, "kind": "continuous", "axis": nomogram_axis(design[term]),
                                   "label": label})
            elif owner.kind == "categorical":
                if not any(p["name"] == owner.name for p in predictors):
                    predictors.append({"name": owner.name, "kind": "categorical", "levels": list(owner.levels),
                                       "level_columns": {lv: f"{owner.name}={lv}" for lv in owner.levels[1:]
                                                         if f"{owner.name}={lv}" in combined.terms_},
                                       "label": owner.label or owner.name, "unit": owner.unit})
            elif owner.kind == "binary":
                predictors.append({"name": owner.name, "kind": "categorical", "levels": list(owner.levels),
                                   "level_columns": {owner.levels[1]: owner.name}, "label": owner.label or owner.name,
                                   "unit": owner.unit})
            elif owner.kind == "ordinal":
                predictors.append({"name": owner.name, "kind": "continuous", "column": owner.name,
                                   "axis": [float(i) for i in range(len(owner.levels))],
                                   "label": f"{owner.label or owner.name} ({'/'.join(owner.levels)})"})
            else:
                predictors.append({"name": term, "kind": "continuous", "axis": nomogram_axis(design[term]),
                                   "label": owner.label or term, "unit": owner.unit})
        document["nomogram"] = {"axis_convention": "rms-pretty", "predictors": predictors,
                                "outcome_label": f"Probability of {task}"}
        in_sample = combined.predict_proba(design[[*combined.feature_names_in_]])[:, 1]
        for name in result.score_pipelines:
            document["training_ranges"][name] = [float(design[name].min()), float(design[name].max())]
    cut = threshold if threshold is not None else threshold_metrics(y, in_sample, n_boot=200).threshold
    cut = float(min(max(cut, 0.0), 1.0))
    cv_ci = auc_ci(y, result.oof_probability)
    document.update(
        threshold=cut, risk_groups=[{"name": "low", "upper": cut}, {"name": "high", "upper": None}],
        performance={"cv": {"auc": result.cv_auc, "auc_lower": cv_ci.lower, "auc_upper": cv_ci.upper,
                            "auc_folds": result.cv_auc_folds, "method": "pooled out-of-fold, stratified k-fold"},
                     "training_apparent_auc": float(auc_ci(y, in_sample).auc)},
        provenance={"date": build_date(), "axillary_predictor": __version__, "versions": library_versions(),
                    "training_data_sha256": table_hash(features), "n_cases": len(y), "n_events": int(y.sum()),
                    "training_tables_sha256": {
                        "features": table_hash(features),
                        "outcome": table_hash(pd.DataFrame({"outcome": y}, index=features.index)),
                        **({"clinical": table_hash(clinical_data)} if clinical_data is not None else {})},
                    **({"tuned_parameters": result.tuned} if result.tuned else {}),
                    **(provenance or {})})
    return document
