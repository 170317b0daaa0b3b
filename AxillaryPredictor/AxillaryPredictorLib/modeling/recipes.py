"""Recipes: the YAML files that name a selection chain and a classifier, and the unfitted
scikit-learn Pipeline (optionally a nested grid search) built from one."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from AxillaryPredictorLib.errors import InputError
from AxillaryPredictorLib.modeling import selection
from AxillaryPredictorLib.modeling.classifiers import make_classifier
from AxillaryPredictorLib.modeling.importance_selection import LightGBMSubsetSelector
from AxillaryPredictorLib.modeling.mrmr import MRMRSelector

#: recipe step name -> selector (each a scikit-learn transformer refitted in every CV training fold)
SELECTORS = {
    "variance": selection.VarianceFilter,
    "univariate": selection.UnivariateFilter,
    "correlation": selection.CorrelationFilter,
    "mrmr": MRMRSelector,
    "lasso": selection.LassoSelector,
    "svm_rfe": selection.SVMRFESelector,
    "lightgbm_subset": LightGBMSubsetSelector,
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
        raise InputError(f"Unknown recipe '{name_or_path}'. Shipped recipes: {', '.join(list_recipes())}; or give a "
                         "path to a recipe YAML.")
    recipe = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if "classifier" not in recipe:
        raise InputError(f"Recipe {path} has no 'classifier'.")
    recipe.setdefault("name", path.stem)
    return recipe


def build_pipeline(recipe: dict[str, Any], reliability: pd.DataFrame | None = None) -> Pipeline:
    """selectors -> StandardScaler -> classifier, as an unfitted scikit-learn Pipeline."""
    from AxillaryPredictorLib.modeling.reproducibility import ICCFilter, check_comparisons, comparisons_in

    steps = []
    for index, step in enumerate(recipe.get("steps", [])):
        (kind, params), = step.items()
        params = dict(params or {})
        if kind == "impute":
            if index != 0:
                raise InputError(f"Recipe '{recipe['name']}': 'impute' must be the first step (selectors need "
                                 "complete data).")
            strategy = params.get("strategy", "median")
            if strategy not in IMPUTE_STRATEGIES:
                raise InputError(f"Recipe '{recipe['name']}': impute strategy '{strategy}' is not one of "
                                 f"{', '.join(IMPUTE_STRATEGIES)}.")
            steps.append(("0_impute", SimpleImputer(strategy=strategy, keep_empty_features=True)))
        elif kind == "icc":
            if reliability is None:
                raise InputError(f"Recipe '{recipe['name']}' filters on ICC: give the second reader's feature table "
                                 "(--reader2) and/or the first reader's repeat (--reader1-repeat) so reliability "
                                 "can be computed.")
            if params.get("require") is not None:
                check_comparisons(list(params["require"]), comparisons_in(reliability))
            steps.append((f"{index}_icc", ICCFilter(reliability, **params)))
        elif kind in SELECTORS:
            steps.append((f"{index}_{kind}", SELECTORS[kind](**params)))
        else:
            raise InputError(f"Unknown recipe step '{kind}'; known: impute, icc, {', '.join(SELECTORS)}.")
    classifier = dict(recipe["classifier"])
    steps += [("scale", StandardScaler()), ("model", make_classifier(classifier.pop("kind"), **classifier))]
    pipeline = Pipeline(steps)
    tune = recipe.get("tune")
    if not tune:
        return pipeline
    grid = {f"model__{name}": list(values) for name, values in (tune.get("grid") or {}).items()}
    if not grid:
        raise InputError(f"Recipe '{recipe['name']}': 'tune' needs a grid of classifier settings, e.g. "
                         "tune: {grid: {C: [0.01, 0.1, 1, 10]}, cv: 5}.")
    inner = StratifiedKFold(int(tune.get("cv", 5)), shuffle=True, random_state=int(tune.get("seed", 0)))
    # the search (inner CV) is itself refitted inside every outer training fold: nested CV
    return GridSearchCV(pipeline, grid, scoring="roc_auc", cv=inner, refit=True)


def fitted_pipeline(model: Any) -> Pipeline:
    """The fitted chain: the best pipeline of a hyper-parameter search, or the pipeline itself."""
    return model.best_estimator_ if isinstance(model, GridSearchCV) else model
