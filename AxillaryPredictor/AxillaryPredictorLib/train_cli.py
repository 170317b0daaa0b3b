"""``axillary-predictor train``: cross-validate a recipe on a cohort and export a model package.

A model trained here is marked ``demonstration`` until it is validated on held-out data."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--features", action="append", required=True, help="feature table(s) with case_id")
    parser.add_argument("--clinical", help="clinical table with case_id (and the outcome)")
    parser.add_argument("--outcome", required=True, help="binary outcome column (1 = event)")
    parser.add_argument("--recipe", default="lasso-lr", help="shipped recipe name or recipe YAML path")
    parser.add_argument("--clinical-vars", help="clinical columns for a combined model, comma-separated")
    parser.add_argument("--reader2", help="second reader's feature table (for ICC-filtering recipes)")
    parser.add_argument("--folds", type=int, help="CV folds (default: the recipe's)")
    parser.add_argument("--seed", type=int, help="CV seed (default: the recipe's)")
    parser.add_argument("--id", default="user-model", help="model id")
    parser.add_argument("--task", default="ALN metastasis", choices=("ALN metastasis", "ALN pCR after NAT"))
    parser.add_argument("--profile", default="zeng2025-dce-delta", help="extraction profile the features came from")
    parser.add_argument("--out", required=True, help="model package (.json)")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from AxillaryPredictorLib.clinical import ClinicalVariable
    from AxillaryPredictorLib.cohort import load_cohort
    from AxillaryPredictorLib.features import split_column
    from AxillaryPredictorLib.model_package import save_package
    from AxillaryPredictorLib.profiles import load_profile
    from AxillaryPredictorLib.reproducibility import icc_table
    from AxillaryPredictorLib.training import load_recipe, recipe_imputes, to_package, train

    recipe = load_recipe(args.recipe)
    cohort = load_cohort(args.features, args.clinical, args.outcome, allow_missing=recipe_imputes(recipe))
    for warning in cohort.warnings:
        print(f"note: {warning}")
    reliability = icc_table(pd.read_csv(args.features[0]), pd.read_csv(args.reader2)) if args.reader2 else None
    clinical, variables = None, []
    if args.clinical_vars:
        names = [c.strip() for c in args.clinical_vars.split(",")]
        missing = [n for n in names if cohort.clinical is None or n not in cohort.clinical.columns]
        if missing:
            raise ValueError(f"Clinical variable(s) not in the clinical table: {', '.join(missing)}.")
        columns = {}
        for name in names:
            values = cohort.clinical[name]
            if pd.api.types.is_numeric_dtype(values) and set(values.dropna().unique()) <= {0, 1}:
                variables.append(ClinicalVariable(name, "binary", levels=("0", "1")))
                columns[name] = values.astype(float)
            elif pd.api.types.is_numeric_dtype(values):
                variables.append(ClinicalVariable(name, "continuous", range=(float(values.min()), float(values.max()))))
                columns[name] = values.astype(float)
            else:
                levels = tuple(sorted(values.astype(str).unique()))
                variable = ClinicalVariable(name, "categorical", levels=levels)
                variables.append(variable)
                for level in levels[1:]:
                    columns[f"{name}={level}"] = (values.astype(str) == level).astype(float)
        clinical = pd.DataFrame(columns, index=cohort.features.index)
    result = train(cohort.features, cohort.y, recipe, clinical=clinical, reliability=reliability, folds=args.folds,
                   seed=args.seed)
    profile = load_profile(args.profile)
    columns = list(cohort.features.columns)
    views = sorted({split_column(c)[1] for c in columns})
    document = to_package(result, cohort.features, cohort.y, model_id=args.id, title=f"User model {args.id}",
                          task=args.task, modality=profile.modality, views=views,
                          regions=sorted({split_column(c)[0] for c in columns}),
                          profile={"name": profile.name, "sha256": profile.hash, "version": profile.version},
                          clinical_variables=variables, clinical_data=None if clinical is None else
                          clinical.reset_index(drop=True), status="demonstration",
                          description=f"Trained with recipe {recipe['name']} on {len(cohort.y)} cases.")
    path = save_package(document, args.out)
    print(f"cross-validated AUC {result.cv_auc:.3f} (folds: {', '.join(f'{a:.3f}' for a in result.cv_auc_folds)})")
    print(f"{len(result.features)} features selected; package -> {path}")
    return 0
