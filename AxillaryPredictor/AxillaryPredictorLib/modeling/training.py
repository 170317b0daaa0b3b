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
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline

from AxillaryPredictorLib.errors import InputError
from AxillaryPredictorLib.modeling.classifiers import split_pipeline
from AxillaryPredictorLib.modeling.recipes import build_pipeline, fitted_pipeline, recipe_imputes


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
    notes: list[str] = field(default_factory=list)  # what the final fit's steps report (e.g. a step skipped)


def pipeline_notes(*pipelines: Any) -> list[str]:
    """The ``note_`` of every fitted step of the final pipelines (each note once)."""
    notes = []
    for pipeline in pipelines:
        for _, step in getattr(fitted_pipeline(pipeline), "steps", []):
            note = getattr(step, "note_", "")
            if note and note not in notes:
                notes.append(note)
    return notes


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
    from AxillaryPredictorLib.modeling.combined import CombinedLogisticModel

    cv = recipe.get("cv", {})
    folds = folds or int(cv.get("folds", 5))
    seed = int(cv.get("seed", 0) if seed is None else seed)
    y = np.asarray(y, int)
    missing = features.columns[features.isna().any()].tolist()
    if missing and not recipe_imputes(recipe):
        raise InputError(f"{len(missing)} feature column(s) have missing values (e.g. {', '.join(missing[:3])}) and "
                         f"recipe '{recipe.get('name')}' does not impute. Add '- impute: {{strategy: median}}' as its "
                         "first step (fitted inside each CV fold), or remove those features/cases.")
    template = build_pipeline(recipe, reliability)
    if recipe.get("fusion") and score_groups:  # without groups the recipe is its single-modality chain
        if clinical is not None and len(clinical.columns):
            raise InputError("Post-fusion with clinical variables is not supported yet: fuse the radiomics groups, "
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
        result.notes = pipeline_notes(*pipelines.values())
        return result
    search = clone(template).fit(features, y)
    final = fitted_pipeline(search)
    return TrainingResult(final, oof, float(roc_auc_score(y, oof)), fold_aucs, split_pipeline(final)[0],
                          tuned=dict(search.best_params_) if isinstance(search, GridSearchCV) else None,
                          notes=pipeline_notes(final))


def train_clinical(clinical: pd.DataFrame, y, recipe: dict[str, Any], *, folds: int | None = None,
                   seed: int | None = None) -> TrainingResult:
    """Clinical-only comparator (recipe ``clinical_only``): the recipe's combined logistic model on the
    clinical design columns alone, its variable selection refitted in every CV training fold."""
    from AxillaryPredictorLib.modeling.combined import CombinedLogisticModel

    spec = recipe.get("combined") or {"selection": "none"}
    cv = recipe.get("cv", {})
    folds, seed = folds or int(cv.get("folds", 5)), int(cv.get("seed", 0) if seed is None else seed)
    y = np.asarray(y, int)
    oof, fold_aucs = np.zeros(len(y)), []
    for train_index, test_index in StratifiedKFold(folds, shuffle=True, random_state=seed).split(clinical, y):
        model = CombinedLogisticModel(**spec).fit(clinical.iloc[train_index], y[train_index])
        oof[test_index] = model.predict_proba(clinical.iloc[test_index])[:, 1]
        fold_aucs.append(float(roc_auc_score(y[test_index], oof[test_index])))
    final = CombinedLogisticModel(**spec).fit(clinical, y)
    result = TrainingResult(None, oof, float(roc_auc_score(y, oof)), fold_aucs, list(final.terms_), combined=final,
                            combined_columns=list(clinical.columns))
    result.scores_train = pd.DataFrame(index=range(len(y)))
    return result


def _train_fusion(features: pd.DataFrame, y: np.ndarray, recipe: dict[str, Any], template: Pipeline, folds: int,
                  seed: int, score_groups: dict[str, list[str]] | None) -> TrainingResult:
    """Post-fusion (Liu et al.): one chain per group of columns (e.g. per view), stacked by a
    meta-classifier on their out-of-fold probabilities; the whole stack is refitted in each CV fold."""
    from AxillaryPredictorLib.modeling.classifiers import PostFusionClassifier

    if len(score_groups) < 2:
        raise InputError(f"Recipe '{recipe['name']}' fuses single-modality models: give at least two groups of "
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
    return TrainingResult(final, oof, float(roc_auc_score(y, oof)), fold_aucs, selected,
                          notes=pipeline_notes(*(member for _, member in final.members_.values())))


def _combined_design(pipelines: dict[str, Pipeline], groups: dict[str, list[str]], features: pd.DataFrame,
                     clinical: pd.DataFrame | None) -> pd.DataFrame:
    scores = _scores(pipelines, groups, features)
    return scores if clinical is None else pd.concat([scores, clinical], axis=1)
