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
from AxillaryPredictorLib.packages.nomogram_spec import export_predictors


def to_package(result: TrainingResult, features: pd.DataFrame, y, *, model_id: str, title: str, task: str,
               modality: str, profile: dict[str, Any], views: list[str] | None = None,
               regions: list[str] | None = None,
               clinical_variables: list | None = None, clinical_data: pd.DataFrame | None = None,
               status: str = "demonstration", intended_use: str = "", description: str = "",
               timepoints: list[str] | None = None, margins_mm: list[float] | None = None,
               delta_mode: str | None = None, provenance: dict[str, Any] | None = None,
               threshold: float | None = None, column_scheme: str | None = None) -> dict[str, Any]:
    """The package document (unsealed) of a trained model. ``column_scheme`` (``radiomics`` or ``plain``,
    ``modeling.cohort_tables.column_scheme``) is recorded when given; ``plain`` packages score tables only.

    The images the package needs come from the radiomics columns its model uses (``package_inputs``):
    ``views``, ``regions``, ``timepoints`` and ``margins_mm`` left None are those of the columns (and
    ``delta_mode`` 'relative' for delta columns); given ones must include them."""
    from AxillaryPredictorLib.evaluation.statistics import threshold_metrics

    y = np.asarray(y, int)
    names, standardization, estimator = _exported_estimator(result.pipeline)
    scored, fused_clinical = features, None  # the frame the model scores: post-fusion adds the clinical columns
    if result.combined is None and estimator.get("type") == "stacked" and clinical_data is not None:
        scored, fused_clinical = _with_fused_clinical(features, clinical_variables, clinical_data, estimator)
    document: dict[str, Any] = {
        "format": "axillary-predictor-model-package", "format_version": 1, "id": model_id, "version": "1.0.0",
        "title": title, "description": description, "task": task, "modality": modality, "status": status,
        "intended_use": intended_use or "Research use only. Not a medical device.",
        "training_ranges": _ranges(scored, names or result.features),
    }
    if fused_clinical is not None:
        document["clinical_variables"] = fused_clinical
    if result.combined is None:
        in_sample = _add_single_model(document, result, scored, names, standardization, estimator)
    else:
        in_sample = _add_combined_model(document, result, features, clinical_variables, clinical_data, task)
    document["inputs"] = package_inputs(document, list(features.columns), views=views, regions=regions,
                                        timepoints=timepoints, margins_mm=margins_mm, delta_mode=delta_mode)
    document["inputs"]["profile"] = profile
    if column_scheme:
        document["inputs"]["column_scheme"] = column_scheme
    cut = threshold if threshold is not None else threshold_metrics(y, in_sample, n_boot=200).threshold
    cut = float(min(max(cut, 0.0), 1.0))
    document.update(
        threshold=cut, risk_groups=[{"name": "low", "upper": cut}, {"name": "high", "upper": None}],
        performance=_performance(result, y, in_sample),
        provenance=_provenance(result, features, y, clinical_data, provenance))
    return document


def package_inputs(document: dict[str, Any], table_columns: list[str], *, views: list[str] | None = None,
                   regions: list[str] | None = None, timepoints: list[str] | None = None,
                   margins_mm: list[float] | None = None, delta_mode: str | None = None) -> dict[str, Any]:
    """The ``inputs`` of a package document (without ``profile``): views, regions, timepoints and
    margins of the radiomics columns its model uses (``semantics.raw_columns``; views in the order of
    ``table_columns``, the training table's), unless given; given lists must include what the columns
    need (ModelError otherwise). ``delta_mode`` defaults to ``relative`` (the delta command's) for a
    delta package."""
    from AxillaryPredictorLib.modeling.cohort_tables import table_inputs
    from AxillaryPredictorLib.packages.semantics import raw_columns

    used = set(raw_columns(document))
    ordered = [c for c in table_columns if c in used] + sorted(used.difference(table_columns))
    needed = table_inputs(ordered)
    given = {"views": views, "regions": regions, "timepoints": timepoints, "margins_mm": margins_mm}
    inputs: dict[str, Any] = {}
    for key, value in given.items():
        if value is None:
            inputs[key] = needed[key]
            continue
        missing = [item for item in needed[key] if item not in value]
        if missing:
            raise ModelError(f"The model uses {key.replace('_mm', '')} {', '.join(map(str, missing))} (e.g. column "
                             f"{_example(ordered, key, missing[0])}) but the package would declare only "
                             f"{', '.join(map(str, value)) or 'none'}.")
        inputs[key] = list(value)
    inputs["margins_mm"] = [float(m) for m in inputs["margins_mm"]]
    inputs["delta_mode"] = delta_mode or ("relative" if inputs["timepoints"] else None)
    return inputs


def _example(columns: list[str], key: str, item: Any) -> str:
    """A used column that needs ``item`` (a view, region, timepoint or margin)."""
    from AxillaryPredictorLib.modeling.cohort_tables import table_inputs

    return next((c for c in columns if item in table_inputs([c])[key]), columns[0] if columns else "?")


def _with_fused_clinical(features: pd.DataFrame, clinical_variables: list | None, clinical_data: pd.DataFrame,
                         estimator: dict[str, Any]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """A post-fusion stack with a clinical member: the training frame it scores (features + clinical
    design columns) and the package dicts of the clinical variables its members use (encoded again
    from the case's values at prediction time)."""
    used = {f for member in estimator.get("members", []) for f in member["features"]}
    variables = [v.to_dict() for v in clinical_variables or [] if set(v.columns()) & used]
    frame = pd.concat([features.reset_index(drop=True), clinical_data.reset_index(drop=True)], axis=1)
    return frame.set_axis(features.index, axis=0), variables


def _ranges(frame: pd.DataFrame, columns) -> dict[str, list[float]]:
    """Training range [min, max] of each column."""
    return {n: [float(frame[n].min()), float(frame[n].max())] for n in columns}


def _exported_estimator(pipeline) -> tuple[list[str], dict[str, Any] | None, dict[str, Any]]:
    """(input names, standardization, estimator dict) of a fitted pipeline or post-fusion stack."""
    if pipeline is None:  # clinical-only model: no radiomics pipeline
        return [], None, {}
    if not isinstance(pipeline, Pipeline):  # post-fusion stack
        return [], None, export_stacked(pipeline)
    names, standardization, final = split_pipeline(pipeline)
    return names, standardization, export_estimator(final)


def _add_single_model(document: dict[str, Any], result: TrainingResult, features: pd.DataFrame, names: list[str],
                      standardization: dict[str, Any] | None, estimator: dict[str, Any]) -> np.ndarray:
    """Add a radiomics-only model's inputs, estimator and formula; its in-sample probabilities."""
    document.update(features=names, estimator=estimator)
    if standardization:
        document["standardization"] = standardization
    imputation = pipeline_imputation(result.pipeline) if isinstance(result.pipeline, Pipeline) else None
    if imputation:
        document["imputation"] = imputation
    if estimator["type"] == "logistic" and standardization:
        document["radscore_formula"] = radscore_formula(names, estimator["coefficients"], estimator["intercept"])
    return result.pipeline.predict_proba(features)[:, 1]


def _add_combined_model(document: dict[str, Any], result: TrainingResult, features: pd.DataFrame,
                        clinical_variables: list | None, clinical_data: pd.DataFrame | None,
                        task: str) -> np.ndarray:
    """Add a combined model (derived RadScores + clinical terms, logistic) with its nomogram
    section; its in-sample probabilities."""
    _add_derived_scores(document, result, features)
    if document["derived"]:
        document["radscore_scale"] = result.radscore_scale
    combined = result.combined
    document["features"] = list(combined.terms_)
    document["estimator"] = {"type": "logistic", "intercept": combined.intercept_,
                             "coefficients": [combined.coef_[t] for t in combined.terms_]}
    variables = {v.name: v for v in (clinical_variables or [])}
    used = [v for v in variables.values() if any(c in combined.terms_ for c in v.columns())]
    document["clinical_variables"] = [v.to_dict() for v in used]
    design = result.scores_train.copy()
    if clinical_data is not None:
        design = pd.concat([design, clinical_data.reset_index(drop=True)], axis=1)
    document["nomogram"] = {"axis_convention": "rms-pretty",
                            "predictors": export_predictors(combined.terms_, document["clinical_variables"], design,
                                                            radscore_scale=document.get("radscore_scale")),
                            "outcome_label": f"Probability of {task}"}
    # the scores' and the clinical terms' training ranges: a value outside warns (out of distribution)
    document["training_ranges"].update(_ranges(design, [*result.score_pipelines,
                                                        *(t for t in combined.terms_ if t in design.columns)]))
    return combined.predict_proba(design[[*combined.feature_names_in_]])[:, 1]


def _add_derived_scores(document: dict[str, Any], result: TrainingResult, features: pd.DataFrame) -> None:
    """Add each RadScore (the linear predictor of a radiomics logistic model, or its probability:
    ``link: logistic``, when the result's ``radscore_scale`` is ``probability``) as a derived score,
    the training ranges of its features and the formulas."""
    from AxillaryPredictorLib.modeling.combined import PROBABILITY

    probability = result.radscore_scale == PROBABILITY
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
                                    "link": "logistic" if probability else "identity",
                                    "description": f"{name}: " + ("predicted probability" if probability else
                                                                  "linear predictor") +
                                    " of a radiomics logistic model"})
        imputation = pipeline_imputation(pipeline)
        if imputation:
            document["derived"][-1]["impute"] = imputation["values"]
        formula = radscore_formula(score_names, exported["coefficients"], exported["intercept"],
                                   name="RadScore" if name == "radscore" else name)
        if probability:  # the score is 1 / (1 + exp(-(formula)))
            label, _, terms = formula.partition(" = ")
            formula = f"{label} = 1 / (1 + exp(−({terms})))"
        formulas.append(formula)
        document["training_ranges"].update(_ranges(features, score_names))
    document["radscore_formula"] = "\n".join(formulas)


def _performance(result: TrainingResult, y: np.ndarray, in_sample: np.ndarray) -> dict[str, Any]:
    """Reported performance: pooled out-of-fold CV AUC with its CI and per-fold AUCs, apparent AUC."""
    from AxillaryPredictorLib.evaluation.statistics import auc_ci

    cv_ci = auc_ci(y, result.oof_probability)
    return {"cv": {"auc": result.cv_auc, "auc_lower": cv_ci.lower, "auc_upper": cv_ci.upper,
                   "auc_folds": result.cv_auc_folds, "method": "pooled out-of-fold, stratified k-fold"},
            "training_apparent_auc": float(auc_ci(y, in_sample).auc)}


def _provenance(result: TrainingResult, features: pd.DataFrame, y: np.ndarray,
                clinical_data: pd.DataFrame | None, extra: dict[str, Any] | None) -> dict[str, Any]:
    """Build date, versions, hashes of the training tables, case counts and tuned parameters."""
    from AxillaryPredictorLib import __version__
    from AxillaryPredictorLib.modeling.cohort_tables import table_hash
    from AxillaryPredictorLib.packages.package import build_date
    from AxillaryPredictorLib.provenance import library_versions

    return {"date": build_date(), "axillary_predictor": __version__, "versions": library_versions(),
            "training_data_sha256": table_hash(features), "n_cases": len(y), "n_events": int(y.sum()),
            "training_tables_sha256": {
                "features": table_hash(features),
                "outcome": table_hash(pd.DataFrame({"outcome": y}, index=features.index)),
                **({"clinical": table_hash(clinical_data)} if clinical_data is not None else {})},
            **({"tuned_parameters": result.tuned} if result.tuned else {}),
            **(extra or {})}
