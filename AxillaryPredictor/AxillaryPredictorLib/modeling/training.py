"""Leakage-free model building from a recipe, and export to a model package.

A recipe (YAML, ``resources/recipes``) lists selectors, a classifier, the CV scheme and an
optional combined model (RadScore(s) + clinical factors by stepwise AIC or backward p; the
RadScore a linear predictor or a probability, ``modeling.combined.combined_settings``), an
optional post-fusion (``fusion:``: one model per column group and a clinical model, stacked) and an
optional classifier comparison (``compare:``).
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
from AxillaryPredictorLib.modeling.classifiers import make_classifier, split_pipeline
from AxillaryPredictorLib.modeling.combined import LINEAR_PREDICTOR, PROBABILITY
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
    radscore_scale: str = LINEAR_PREDICTOR  # combined models: a RadScore is a linear predictor or a probability
    comparison: pd.DataFrame | None = None  # classifiers compared on the same selected features (``compare``)
    comparison_oof: dict[str, np.ndarray] = field(default_factory=dict)  # their out-of-fold probabilities


def pipeline_notes(*pipelines: Any) -> list[str]:
    """The ``note_`` of every fitted step of the final pipelines (each note once)."""
    notes = []
    for pipeline in pipelines:
        for _, step in getattr(fitted_pipeline(pipeline), "steps", []):
            note = getattr(step, "note_", "")
            if note and note not in notes:
                notes.append(note)
    return notes


def radscores(pipelines: dict[str, Pipeline], groups: dict[str, list[str]], frame: pd.DataFrame,
              scale: str = LINEAR_PREDICTOR) -> pd.DataFrame:
    """Each group's RadScore on ``frame``: the linear predictor of its radiomics pipeline, or its
    predicted probability (``scale="probability"``, Zeng et al.)."""
    if scale == PROBABILITY:
        return pd.DataFrame({name: pipelines[name].predict_proba(frame[groups[name]])[:, 1] for name in pipelines},
                            index=frame.index)
    return pd.DataFrame({name: pipelines[name].decision_function(frame[groups[name]]) for name in pipelines},
                        index=frame.index)


def _folds(features: pd.DataFrame, y: np.ndarray, folds: int, seed: int):
    return StratifiedKFold(folds, shuffle=True, random_state=seed).split(features, y)


def train(features: pd.DataFrame, y: pd.Series, recipe: dict[str, Any], *, clinical: pd.DataFrame | None = None,
          reliability: pd.DataFrame | None = None, folds: int | None = None, seed: int | None = None,
          score_groups: dict[str, list[str]] | None = None, radscore_scale: str | None = None,
          compare: list[str] | None = None, compare_reference: str | None = None) -> TrainingResult:
    """Cross-validate the whole chain, then fit it on all cases (see module docstring).

    ``score_groups`` (combined models): one RadScore per group of feature columns, e.g.
    ``{"tumor_score": [...], "ln_score": [...]}`` (Zhang et al.) or intratumoral and peritumoral
    delta scores (Zeng et al.); default: one ``radscore`` from all features. ``radscore_scale``
    (default: the recipe's ``combined.radscore_scale``, else ``linear-predictor``): what a RadScore is
    in the combined model. Post-fusion recipes (``fusion:``) stack one model per group and, given
    ``clinical``, a clinical model (Liu et al.'s Clinical+Rad+DL). ``compare`` (default: the recipe's
    ``compare.classifiers``): classifiers fitted on the same selected features in every fold and
    compared by DeLong (He et al.; ``compare_classifiers``).
    """
    cv = recipe.get("cv", {})
    folds = folds or int(cv.get("folds", 5))
    seed = int(cv.get("seed", 0) if seed is None else seed)
    y = np.asarray(y, int)
    missing = features.columns[features.isna().any()].tolist()
    if missing and not recipe_imputes(recipe):
        raise InputError(f"{len(missing)} feature column(s) have missing values (e.g. {', '.join(missing[:3])}) and "
                         f"recipe '{recipe.get('name')}' does not impute. Add '- impute: {{strategy: median}}' as its "
                         "first step (fitted inside each CV fold), or remove those features/cases.")
    kinds, reference = comparison_settings(recipe, compare, compare_reference)
    template = build_pipeline(recipe, reliability)
    has_clinical = clinical is not None and len(clinical.columns) > 0
    if recipe.get("fusion") and (score_groups or has_clinical):  # without either: the single-modality chain
        result = _train_fusion(features, y, recipe, template, folds, seed, score_groups,
                               clinical if has_clinical else None)
    elif recipe.get("combined") and (has_clinical or score_groups):
        result = _train_combined(features, y, recipe, template, folds, seed,
                                 score_groups or {"radscore": list(features.columns)}, clinical, radscore_scale)
    else:
        result = _train_single(features, y, template, folds, seed, kinds, recipe)
        if kinds:
            _attach_comparison(result, y, kinds, reference)
        return result
    if kinds:
        result.comparison_oof = _comparison_oof(features, y, template, folds, seed, kinds, recipe)
        _attach_comparison(result, y, kinds, reference)
    return result


def _train_single(features: pd.DataFrame, y: np.ndarray, template: Any, folds: int, seed: int, kinds: list[str],
                  recipe: dict[str, Any]) -> TrainingResult:
    """One chain (selectors -> scaler -> classifier) cross-validated, then fitted on all cases; with
    ``kinds``, the other classifiers are fitted on each fold's selected features too."""
    oof = np.zeros(len(y))
    fold_aucs = []
    compared = {kind: np.zeros(len(y)) for kind in kinds}
    for train_index, test_index in _folds(features, y, folds, seed):
        model = clone(template).fit(features.iloc[train_index], y[train_index])
        probability = model.predict_proba(features.iloc[test_index])[:, 1]
        oof[test_index] = probability
        fold_aucs.append(float(roc_auc_score(y[test_index], probability)))
        for kind, values in _fold_classifiers(model, features, y, train_index, test_index, kinds, recipe).items():
            compared[kind][test_index] = values
    search = clone(template).fit(features, y)
    final = fitted_pipeline(search)
    result = TrainingResult(final, oof, float(roc_auc_score(y, oof)), fold_aucs, split_pipeline(final)[0],
                            tuned=dict(search.best_params_) if isinstance(search, GridSearchCV) else None,
                            notes=pipeline_notes(final))
    result.comparison_oof = compared
    return result


def _train_combined(features: pd.DataFrame, y: np.ndarray, recipe: dict[str, Any], template: Any, folds: int,
                    seed: int, groups: dict[str, list[str]], clinical: pd.DataFrame | None,
                    radscore_scale: str | None) -> TrainingResult:
    """RadScore(s) + clinical factors: in every fold the radiomics chains and the combined logistic
    model (with its variable selection) are fitted on the training rows only."""
    from AxillaryPredictorLib.modeling.combined import CombinedLogisticModel, check_radscore_scale, combined_settings

    params, scale = combined_settings(recipe.get("combined"), recipe.get("name", "recipe"))
    scale = check_radscore_scale(radscore_scale or scale)
    oof = np.zeros(len(y))
    fold_aucs = []
    for train_index, test_index in _folds(features, y, folds, seed):
        pipelines = {name: clone(template).fit(features.iloc[train_index][columns], y[train_index])
                     for name, columns in groups.items()}
        design = _combined_design(pipelines, groups, features, clinical, scale)
        combined = CombinedLogisticModel(**params).fit(design.iloc[train_index], y[train_index])
        oof[test_index] = combined.predict_proba(design.iloc[test_index])[:, 1]
        fold_aucs.append(float(roc_auc_score(y[test_index], oof[test_index])))
    pipelines = {name: fitted_pipeline(clone(template).fit(features[columns], y)) for name, columns in groups.items()}
    first = next(iter(pipelines.values()))
    result = TrainingResult(first, oof, float(roc_auc_score(y, oof)), fold_aucs, split_pipeline(first)[0],
                            radscore_scale=scale)
    design = _combined_design(pipelines, groups, features, clinical, scale)
    result.combined = CombinedLogisticModel(**params).fit(design, y)
    result.combined_columns = list(design.columns)
    result.score_pipelines = pipelines
    result.scores_train = design[list(pipelines)].reset_index(drop=True)
    result.notes = pipeline_notes(*pipelines.values())
    return result


def train_clinical(clinical: pd.DataFrame, y, recipe: dict[str, Any], *, folds: int | None = None,
                   seed: int | None = None) -> TrainingResult:
    """Clinical-only comparator (recipe ``clinical_only``): the recipe's combined logistic model on the
    clinical design columns alone, its variable selection refitted in every CV training fold."""
    from AxillaryPredictorLib.modeling.combined import CombinedLogisticModel, combined_settings

    params, _ = combined_settings(recipe.get("combined") or {"selection": "none"}, recipe.get("name", "recipe"))
    cv = recipe.get("cv", {})
    folds, seed = folds or int(cv.get("folds", 5)), int(cv.get("seed", 0) if seed is None else seed)
    y = np.asarray(y, int)
    oof, fold_aucs = np.zeros(len(y)), []
    for train_index, test_index in _folds(clinical, y, folds, seed):
        model = CombinedLogisticModel(**params).fit(clinical.iloc[train_index], y[train_index])
        oof[test_index] = model.predict_proba(clinical.iloc[test_index])[:, 1]
        fold_aucs.append(float(roc_auc_score(y[test_index], oof[test_index])))
    final = CombinedLogisticModel(**params).fit(clinical, y)
    result = TrainingResult(None, oof, float(roc_auc_score(y, oof)), fold_aucs, list(final.terms_), combined=final,
                            combined_columns=list(clinical.columns))
    result.scores_train = pd.DataFrame(index=range(len(y)))
    return result


#: the post-fusion member fitted on the clinical variables (Liu et al.'s Clinical model)
CLINICAL_MEMBER = "clinical"
#: ``fusion.clinical``: the recipe's chain (minus ICC: clinical values have no second reader), or all variables
FUSION_CLINICAL = ("select", "all")


def fusion_clinical_template(recipe: dict[str, Any]) -> Pipeline:
    """The unfitted chain of the clinical post-fusion member: the recipe's selectors without the ICC
    step (``fusion.clinical: select``, default: each modality selected independently, as Liu et al.),
    or the classifier on every given variable (``fusion.clinical: all``); then scaler and classifier."""
    mode = str((recipe.get("fusion") or {}).get("clinical", "select"))
    if mode not in FUSION_CLINICAL:
        raise InputError(f"Recipe '{recipe.get('name')}': fusion clinical '{mode}' is not one of "
                         f"{', '.join(FUSION_CLINICAL)}.")
    steps = [] if mode == "all" else [s for s in recipe.get("steps") or [] if next(iter(s)) not in ("icc", "impute")]
    return build_pipeline({**recipe, "steps": steps})


def _fusion_members(recipe: dict[str, Any], template: Any, groups: dict[str, list[str]] | None,
                    features: pd.DataFrame, clinical: pd.DataFrame | None) -> dict[str, tuple[list[str], Any]]:
    """Post-fusion members: one chain per feature group (all features when no groups), plus the
    clinical model when clinical variables are given."""
    members = {name: (list(columns), template)
               for name, columns in (groups or {"radiomics": list(features.columns)}).items()}
    if clinical is not None:
        clash = sorted(set(clinical.columns) & set(features.columns))
        if clash or CLINICAL_MEMBER in members:
            raise InputError(f"Recipe '{recipe['name']}': the clinical variables clash with the feature columns or "
                             f"groups ({', '.join(clash) or CLINICAL_MEMBER}); rename them.")
        members[CLINICAL_MEMBER] = (list(clinical.columns), fusion_clinical_template(recipe))
    if len(members) < 2:
        raise InputError(f"Recipe '{recipe['name']}' fuses single-modality models: give at least two groups of "
                         "feature columns (CLI: --groups view, region or source) or clinical variables "
                         "(--clinical-vars) for a clinical model.")
    return members


def _train_fusion(features: pd.DataFrame, y: np.ndarray, recipe: dict[str, Any], template: Pipeline, folds: int,
                  seed: int, score_groups: dict[str, list[str]] | None,
                  clinical: pd.DataFrame | None = None) -> TrainingResult:
    """Post-fusion (Liu et al.): one chain per group of columns (e.g. radiomics and deep features, or
    per view) and, given ``clinical``, a clinical model, stacked by a meta-classifier on their
    out-of-fold probabilities; the whole stack is refitted in each CV fold."""
    from AxillaryPredictorLib.modeling.classifiers import PostFusionClassifier

    spec = dict(recipe["fusion"])
    unknown = sorted(set(spec) - {"meta", "cv", "clinical"})
    if unknown:
        raise InputError(f"Recipe '{recipe['name']}': unknown key(s) {', '.join(unknown)} in 'fusion'; known: "
                         "meta, cv, clinical.")
    members = _fusion_members(recipe, template, score_groups, features, clinical)
    data = features if clinical is None else pd.concat([features, clinical], axis=1)
    model = PostFusionClassifier(members, meta=spec.get("meta", "linear-svm"), cv=int(spec.get("cv", 5)),
                                 random_state=seed)
    oof = np.zeros(len(y))
    fold_aucs = []
    for train_index, test_index in _folds(data, y, folds, seed):
        fitted = clone(model).fit(data.iloc[train_index], y[train_index])
        oof[test_index] = fitted.predict_proba(data.iloc[test_index])[:, 1]
        fold_aucs.append(float(roc_auc_score(y[test_index], oof[test_index])))
    final = clone(model).fit(data, y)
    selected = [name for _, member in final.members_.values() for name in split_pipeline(fitted_pipeline(member))[0]]
    return TrainingResult(final, oof, float(roc_auc_score(y, oof)), fold_aucs, selected,
                          notes=pipeline_notes(*(member for _, member in final.members_.values())))


def _combined_design(pipelines: dict[str, Pipeline], groups: dict[str, list[str]], features: pd.DataFrame,
                     clinical: pd.DataFrame | None, scale: str = LINEAR_PREDICTOR) -> pd.DataFrame:
    scores = radscores(pipelines, groups, features, scale)
    return scores if clinical is None else pd.concat([scores, clinical], axis=1)


# ------------------------------------------------------------------ classifier comparison

#: ``compare`` spellings beyond the classifier registry's names (He et al.'s "SVM": scikit-learn's default RBF kernel)
CLASSIFIER_ALIASES = {"svm": "rbf-svm", "lr": "logistic"}


def comparison_settings(recipe: dict[str, Any], compare: list[str] | None = None,
                        reference: str | None = None) -> tuple[list[str], str]:
    """(classifier kinds, reference) to compare: ``compare`` or the recipe's ``compare.classifiers``;
    the reference is ``best`` (highest CV AUC) or one of the kinds. InputError for unknown names."""
    from AxillaryPredictorLib.modeling.estimators import CLASSIFIERS

    spec = recipe.get("compare") or {}
    names = list(compare if compare is not None else spec.get("classifiers") or [])
    if not names:
        return [], "best"
    kinds = []
    for name in names:
        kind = CLASSIFIER_ALIASES.get(str(name).strip(), str(name).strip())
        if kind not in CLASSIFIERS:
            raise InputError(f"Cannot compare classifier '{name}': choose among {', '.join(CLASSIFIERS)} (or svm = "
                             "rbf-svm, lr = logistic).")
        if kind not in kinds:
            kinds.append(kind)
    if len(kinds) < 2:
        raise InputError("A classifier comparison needs at least two different classifiers, e.g. "
                         "logistic,svm,xgboost.")
    reference = str(reference or spec.get("reference", "best"))
    reference = CLASSIFIER_ALIASES.get(reference, reference)
    if reference != "best" and reference not in kinds:
        raise InputError(f"The comparison's reference '{reference}' is not one of the compared classifiers "
                         f"({', '.join(kinds)}), nor 'best'.")
    return kinds, reference


def _classifier_for(kind: str, recipe: dict[str, Any]) -> Any:
    """``kind`` with the recipe's settings when it is the recipe's classifier, else its defaults."""
    settings = dict(recipe.get("classifier") or {})
    if settings.pop("kind", None) == kind:
        return make_classifier(kind, **settings)
    return make_classifier(kind)


def _fold_classifiers(model: Any, features: pd.DataFrame, y: np.ndarray, train_index: np.ndarray,
                      test_index: np.ndarray, kinds: list[str], recipe: dict[str, Any]) -> dict[str, np.ndarray]:
    """Held-out probabilities of each classifier fitted on the features ``model`` (a chain fitted on
    the training rows) selected and scaled: selection is fitted once per fold and shared."""
    if not kinds:
        return {}
    chain = fitted_pipeline(model)
    selection = chain[:-1]
    x_train = selection.transform(features.iloc[train_index])
    x_test = selection.transform(features.iloc[test_index])
    own = dict(recipe.get("classifier") or {}).get("kind")
    probabilities = {}
    for kind in kinds:
        if kind == own:  # the recipe's own classifier: exactly the chain's predictions (tuned settings included)
            probabilities[kind] = chain.predict_proba(features.iloc[test_index])[:, 1]
        else:
            fitted = _classifier_for(kind, recipe).fit(x_train, y[train_index])
            probabilities[kind] = fitted.predict_proba(x_test)[:, 1]
    return probabilities


def _comparison_oof(features: pd.DataFrame, y: np.ndarray, template: Any, folds: int, seed: int, kinds: list[str],
                    recipe: dict[str, Any]) -> dict[str, np.ndarray]:
    """Out-of-fold probabilities of each classifier on the radiomics chain's selected features (all
    feature columns; for combined and post-fusion recipes, whose own CV fits other models)."""
    compared = {kind: np.zeros(len(y)) for kind in kinds}
    for train_index, test_index in _folds(features, y, folds, seed):
        model = clone(template).fit(features.iloc[train_index], y[train_index])
        for kind, values in _fold_classifiers(model, features, y, train_index, test_index, kinds, recipe).items():
            compared[kind][test_index] = values
    return compared


def comparison_table(y, probabilities: dict[str, np.ndarray], reference: str = "best") -> pd.DataFrame:
    """One row per classifier: pooled out-of-fold AUC with its DeLong 95% CI, and the paired DeLong
    test against ``reference`` (``best``: the highest AUC), as He et al.'s Table 2/4 (pROC ``roc.test``)."""
    from AxillaryPredictorLib.evaluation.statistics import auc_ci, delong_test

    y = np.asarray(y, int)
    aucs = {kind: auc_ci(y, p) for kind, p in probabilities.items()}
    if reference == "best":
        reference = max(aucs, key=lambda kind: aucs[kind].auc)
    rows = []
    for kind, result in aucs.items():
        row = {"classifier": kind, "auc": result.auc, "auc_lower": result.lower, "auc_upper": result.upper,
               "ci_method": "DeLong", "reference": reference, "delong_z": np.nan, "delong_p": np.nan}
        if kind != reference:
            try:
                test = delong_test(y, probabilities[kind], probabilities[reference])
                row.update(delong_z=test.z, delong_p=test.p)
            except InputError:  # zero DeLong variance (separating or constant scores): no test
                pass
        rows.append(row)
    return pd.DataFrame(rows)


def _attach_comparison(result: TrainingResult, y: np.ndarray, kinds: list[str], reference: str) -> None:
    result.comparison = comparison_table(y, result.comparison_oof, reference)
