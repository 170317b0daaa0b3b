"""Leakage-free model building from a recipe, and export to a model package.

A recipe (YAML, ``resources/recipes``) lists selectors, a classifier, the CV scheme and an
optional combined model (RadScore + clinical factors by stepwise AIC or backward p).
``train`` evaluates the *whole chain* with stratified k-fold CV — every selector and the
classifier are refitted inside each training fold, the held-out fold is only scored — and
reports the pooled out-of-fold AUC (``performance.cv.auc``) and per-fold AUCs; then it
refits the chain on all training cases and exports a package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.base import clone
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from AxillaryPredictorLib import selection
from AxillaryPredictorLib.classifiers import (
    export_estimator,
    export_stacked,
    make_classifier,
    pipeline_imputation,
    radscore_formula,
    split_pipeline,
)

SELECTORS = {
    "variance": selection.VarianceFilter,
    "univariate": selection.UnivariateFilter,
    "correlation": selection.CorrelationFilter,
    "mrmr": selection.MRMRSelector,
    "lasso": selection.LassoSelector,
    "svm_rfe": selection.SVMRFESelector,
}


IMPUTE_STRATEGIES = ("median", "mean")


def recipe_imputes(recipe: dict[str, Any]) -> bool:
    """True when the recipe's first step imputes missing feature values (inside each CV fold)."""
    steps = recipe.get("steps") or []
    return bool(steps) and next(iter(steps[0])) == "impute"


def recipes_directory() -> Path:
    return Path(str(resources.files("AxillaryPredictorLib") / "resources" / "recipes"))


def list_recipes() -> list[str]:
    return sorted(p.stem for p in recipes_directory().glob("*.yaml"))


def load_recipe(name_or_path: str | Path) -> dict[str, Any]:
    path = Path(name_or_path)
    if not path.suffix:
        path = recipes_directory() / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ValueError(f"Unknown recipe '{name_or_path}'. Shipped recipes: {', '.join(list_recipes())}; or give a "
                         "path to a recipe YAML.")
    recipe = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if "classifier" not in recipe:
        raise ValueError(f"Recipe {path} has no 'classifier'.")
    recipe.setdefault("name", path.stem)
    return recipe


def build_pipeline(recipe: dict[str, Any], reliability: pd.DataFrame | None = None) -> Pipeline:
    """selectors -> StandardScaler -> classifier, as an unfitted scikit-learn Pipeline."""
    from AxillaryPredictorLib.reproducibility import ICCFilter

    steps = []
    for index, step in enumerate(recipe.get("steps", [])):
        (kind, params), = step.items()
        params = dict(params or {})
        if kind == "impute":
            if index != 0:
                raise ValueError(f"Recipe '{recipe['name']}': 'impute' must be the first step (selectors need "
                                 "complete data).")
            strategy = params.get("strategy", "median")
            if strategy not in IMPUTE_STRATEGIES:
                raise ValueError(f"Recipe '{recipe['name']}': impute strategy '{strategy}' is not one of "
                                 f"{', '.join(IMPUTE_STRATEGIES)}.")
            steps.append(("0_impute", SimpleImputer(strategy=strategy, keep_empty_features=True)))
        elif kind == "icc":
            if reliability is None:
                raise ValueError(f"Recipe '{recipe['name']}' filters on ICC: give the second reader's feature table "
                                 "(--reader2) so reliability can be computed.")
            steps.append((f"{index}_icc", ICCFilter(reliability, **params)))
        elif kind in SELECTORS:
            steps.append((f"{index}_{kind}", SELECTORS[kind](**params)))
        else:
            raise ValueError(f"Unknown recipe step '{kind}'; known: impute, icc, {', '.join(SELECTORS)}.")
    classifier = dict(recipe["classifier"])
    steps += [("scale", StandardScaler()), ("model", make_classifier(classifier.pop("kind"), **classifier))]
    pipeline = Pipeline(steps)
    tune = recipe.get("tune")
    if not tune:
        return pipeline
    grid = {f"model__{name}": list(values) for name, values in (tune.get("grid") or {}).items()}
    if not grid:
        raise ValueError(f"Recipe '{recipe['name']}': 'tune' needs a grid of classifier settings, e.g. "
                         "tune: {grid: {C: [0.01, 0.1, 1, 10]}, cv: 5}.")
    inner = StratifiedKFold(int(tune.get("cv", 5)), shuffle=True, random_state=int(tune.get("seed", 0)))
    # the search (inner CV) is itself refitted inside every outer training fold: nested CV
    return GridSearchCV(pipeline, grid, scoring="roc_auc", cv=inner, refit=True)


def fitted_pipeline(model: Any) -> Pipeline:
    """The fitted chain: the best pipeline of a hyper-parameter search, or the pipeline itself."""
    return model.best_estimator_ if isinstance(model, GridSearchCV) else model


@dataclass
class TrainingResult:
    pipeline: Pipeline
    oof_probability: np.ndarray
    cv_auc: float
    cv_auc_folds: list[float]
    features: list[str]
    combined: Any = None
    combined_columns: list[str] = field(default_factory=list)
    score_pipelines: dict[str, Pipeline] = field(default_factory=dict)  # score name -> radiomics pipeline
    scores_train: pd.DataFrame | None = None  # in-sample scores (for nomogram axes)
    tuned: dict[str, Any] | None = None  # classifier settings chosen by the final search (tuned recipes)


def _scores(pipelines: dict[str, Pipeline], groups: dict[str, list[str]], frame: pd.DataFrame) -> pd.DataFrame:
    """Each group's RadScore: the linear predictor of its radiomics pipeline."""
    return pd.DataFrame({name: pipelines[name].decision_function(frame[groups[name]]) for name in pipelines},
                        index=frame.index)


def train(features: pd.DataFrame, y: pd.Series, recipe: dict[str, Any], *, clinical: pd.DataFrame | None = None,
          reliability: pd.DataFrame | None = None, folds: int | None = None, seed: int | None = None,
          score_groups: dict[str, list[str]] | None = None) -> TrainingResult:
    """Cross-validate the whole chain, then fit it on all cases (see module docstring).

    ``score_groups`` (combined models): one RadScore per group of feature columns, e.g.
    ``{"tumor_score": [...], "ln_score": [...]}`` (Zhang et al.) or intratumoral and peritumoral
    delta scores (Zeng et al.); default: one ``radscore`` from all features.
    """
    from AxillaryPredictorLib.combined import CombinedLogisticModel

    cv = recipe.get("cv", {})
    folds = folds or int(cv.get("folds", 5))
    seed = int(cv.get("seed", 0) if seed is None else seed)
    y = np.asarray(y, int)
    missing = features.columns[features.isna().any()].tolist()
    if missing and not recipe_imputes(recipe):
        raise ValueError(f"{len(missing)} feature column(s) have missing values (e.g. {', '.join(missing[:3])}) and "
                         f"recipe '{recipe.get('name')}' does not impute. Add '- impute: {{strategy: median}}' as its "
                         "first step (fitted inside each CV fold), or remove those features/cases.")
    template = build_pipeline(recipe, reliability)
    if recipe.get("fusion") and score_groups:  # without groups the recipe is its single-modality chain
        if clinical is not None and len(clinical.columns):
            raise ValueError("Post-fusion with clinical variables is not supported yet: fuse the radiomics groups, "
                             "or use a combined recipe for RadScore + clinical factors.")
        return _train_fusion(features, y, recipe, template, folds, seed, score_groups)
    combined_spec = recipe.get("combined") if (clinical is not None and len(clinical.columns)) or score_groups \
        else None
    groups = score_groups or {"radscore": list(features.columns)}
    oof = np.zeros(len(y))
    fold_aucs = []
    for train_index, test_index in StratifiedKFold(folds, shuffle=True, random_state=seed).split(features, y):
        if combined_spec:
            pipelines = {name: clone(template).fit(features.iloc[train_index][columns], y[train_index])
                         for name, columns in groups.items()}
            design = _combined_design(pipelines, groups, features, clinical)
            combined = CombinedLogisticModel(**combined_spec).fit(design.iloc[train_index], y[train_index])
            probability = combined.predict_proba(design.iloc[test_index])[:, 1]
        else:
            model = clone(template).fit(features.iloc[train_index], y[train_index])
            probability = model.predict_proba(features.iloc[test_index])[:, 1]
        oof[test_index] = probability
        fold_aucs.append(float(roc_auc_score(y[test_index], probability)))
    if combined_spec:
        pipelines = {name: fitted_pipeline(clone(template).fit(features[columns], y))
                     for name, columns in groups.items()}
        first = next(iter(pipelines.values()))
        result = TrainingResult(first, oof, float(roc_auc_score(y, oof)), fold_aucs, split_pipeline(first)[0])
        design = _combined_design(pipelines, groups, features, clinical)
        result.combined = CombinedLogisticModel(**combined_spec).fit(design, y)
        result.combined_columns = list(design.columns)
        result.score_pipelines = pipelines
        result.scores_train = design[list(pipelines)].reset_index(drop=True)
        return result
    search = clone(template).fit(features, y)
    final = fitted_pipeline(search)
    return TrainingResult(final, oof, float(roc_auc_score(y, oof)), fold_aucs, split_pipeline(final)[0],
                          tuned=dict(search.best_params_) if isinstance(search, GridSearchCV) else None)


def _train_fusion(features: pd.DataFrame, y: np.ndarray, recipe: dict[str, Any], template: Pipeline, folds: int,
                  seed: int, score_groups: dict[str, list[str]] | None) -> TrainingResult:
    """Post-fusion (Liu et al.): one chain per group of columns (e.g. per view), stacked by a
    meta-classifier on their out-of-fold probabilities; the whole stack is refitted in each CV fold."""
    from AxillaryPredictorLib.classifiers import PostFusionClassifier

    if len(score_groups) < 2:
        raise ValueError(f"Recipe '{recipe['name']}' fuses single-modality models: give at least two groups of "
                         "feature columns (CLI: --groups view or --groups region).")
    spec = dict(recipe["fusion"])
    model = PostFusionClassifier({name: (columns, template) for name, columns in score_groups.items()},
                                 meta=spec.get("meta", "linear-svm"), cv=int(spec.get("cv", 5)), random_state=seed)
    oof = np.zeros(len(y))
    fold_aucs = []
    for train_index, test_index in StratifiedKFold(folds, shuffle=True, random_state=seed).split(features, y):
        fitted = clone(model).fit(features.iloc[train_index], y[train_index])
        oof[test_index] = fitted.predict_proba(features.iloc[test_index])[:, 1]
        fold_aucs.append(float(roc_auc_score(y[test_index], oof[test_index])))
    final = clone(model).fit(features, y)
    selected = [name for _, member in final.members_.values() for name in split_pipeline(fitted_pipeline(member))[0]]
    return TrainingResult(final, oof, float(roc_auc_score(y, oof)), fold_aucs, selected)


def _combined_design(pipelines: dict[str, Pipeline], groups: dict[str, list[str]], features: pd.DataFrame,
                     clinical: pd.DataFrame | None) -> pd.DataFrame:
    scores = _scores(pipelines, groups, features)
    return scores if clinical is None else pd.concat([scores, clinical], axis=1)


def leaky_control_auc(features: pd.DataFrame, y, k: int = 10, folds: int = 5, seed: int = 0) -> float:
    """The classic mistake, for tests: top-k ANOVA features chosen on ALL data, then CV."""
    from sklearn.feature_selection import SelectKBest, f_classif

    y = np.asarray(y, int)
    chosen = SelectKBest(f_classif, k=k).fit(features, y).get_support()
    oof = np.zeros(len(y))
    for train_index, test_index in StratifiedKFold(folds, shuffle=True, random_state=seed).split(features, y):
        model = Pipeline([("scale", StandardScaler()), ("model", make_classifier("logistic"))])
        model.fit(features.iloc[train_index, chosen], y[train_index])
        oof[test_index] = model.predict_proba(features.iloc[test_index, chosen])[:, 1]
    return float(roc_auc_score(y, oof))


# ---------------------------------------------------------------------------- export


def to_package(result: TrainingResult, features: pd.DataFrame, y, *, model_id: str, title: str, task: str,
               modality: str, views: list[str], regions: list[str], profile: dict[str, Any],
               clinical_variables: list | None = None, clinical_data: pd.DataFrame | None = None,
               status: str = "demonstration", intended_use: str = "", description: str = "",
               timepoints: list[str] | None = None, margins_mm: list[float] | None = None,
               delta_mode: str | None = None, provenance: dict[str, Any] | None = None,
               threshold: float | None = None) -> dict[str, Any]:
    """The package document (unsealed) of a trained model."""
    from AxillaryPredictorLib import __version__
    from AxillaryPredictorLib.cohort import table_hash
    from AxillaryPredictorLib.evaluation import auc_ci, threshold_metrics
    from AxillaryPredictorLib.features import library_versions
    from AxillaryPredictorLib.model_package import build_date, nomogram_axis

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
                raise ValueError("A combined model needs logistic radiomics models (their linear predictors are the "
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
