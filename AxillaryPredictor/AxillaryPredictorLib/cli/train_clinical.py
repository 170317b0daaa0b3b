"""``axillary-predictor train --recipe clinical``: the clinical-only comparator model.

A multivariable logistic model on the ``--clinical-vars`` alone (no image features), with the
recipe's variable selection (backward elimination at p < 0.05 in the shipped recipe) refitted in
every CV fold; with a single variable it is a single-score comparator (e.g. an ultrasound-reported
node status or a published score column). Exported as a model package like any other."""

from __future__ import annotations

import argparse
from typing import Any

from AxillaryPredictorLib.errors import InputError


def clinical_cohort(path: str, outcome: str):
    """The clinical table as a cohort with no image features (index case_id; split/center kept)."""
    import pandas as pd

    from AxillaryPredictorLib.modeling.cohort_tables import META_COLUMNS, Cohort, load_cohort

    frame = pd.read_csv(path, dtype={"case_id": str})
    if "case_id" not in frame.columns:
        raise InputError(f"The clinical table {path} needs a case_id column.")
    ids = frame[["case_id"]]
    probe = load_cohort(ids.assign(_none=0.0), frame, outcome)  # checks the outcome and the split column
    clinical = frame.set_index("case_id").loc[probe.features.index]
    return Cohort(pd.DataFrame(index=probe.features.index), probe.y, clinical.drop(
        columns=[c for c in (outcome, *META_COLUMNS) if c in clinical.columns]), probe.split, probe.center, [])


def nothing_kept(design, y, recipe: dict[str, Any], outcome: str) -> str:
    """Why the clinical model has no term (its selection kept none) and what to do about it."""
    from AxillaryPredictorLib.modeling.combined import combined_settings, univariable_p

    params, _ = combined_settings(recipe.get("combined"), recipe["name"])
    p = univariable_p(design, y)
    best = min(p, key=lambda term: (p[term] != p[term], p[term]))  # the smallest p (NaN last)
    how = (f"backward elimination at p < {params['p_threshold']:g}" if params["selection"] == "p"
           else f"the '{params['selection']}' selection")
    fix = (f"raise the threshold (e.g. --p-threshold {min(0.2, 2 * params['p_threshold']):g}), "
           if params["selection"] == "p" else "")
    return (f"The clinical model is empty: {how} (recipe '{recipe['name']}') kept none of the {len(p)} clinical "
            f"term(s) ({', '.join(p)}) on the {len(y)} training cases ({int(sum(y))} with {outcome} = 1); the "
            f"smallest univariable p is {p[best]:.3g} ({best}). Check that --outcome {outcome} is the outcome you "
            f"mean and that the variables are coded as intended; or {fix}keep every variable with a recipe whose "
            "'combined' section says 'selection: none', or choose other --clinical-vars.")


def run_clinical(args: argparse.Namespace, recipe: dict[str, Any]) -> int:
    from AxillaryPredictorLib.cli.train import clinical_design, training_cases
    from AxillaryPredictorLib.files import write_text_atomic
    from AxillaryPredictorLib.modeling.training import train_clinical
    from AxillaryPredictorLib.packages.export import to_package
    from AxillaryPredictorLib.packages.package import DEMONSTRATION, save_package

    if not recipe.get("clinical_only"):
        raise InputError(f"Recipe '{recipe['name']}' needs the radiomics feature table(s): give --features (or use "
                         "--recipe clinical for a clinical-only model).")
    if not args.clinical or not args.clinical_vars:
        raise InputError(f"Recipe '{recipe['name']}' is a clinical-only model: give --clinical (the table with "
                         "case_id and the outcome) and --clinical-vars (its predictors, comma-separated).")
    if args.features:
        print("note: the clinical-only recipe uses no image features; --features is ignored.")
    cohort, note = training_cases(clinical_cohort(args.clinical, args.outcome))
    if note:
        print(f"note: {note}")
    design, variables = clinical_design(cohort, [c.strip() for c in args.clinical_vars.split(",")],
                                        args.clinical_spec)
    result = train_clinical(design, cohort.y, recipe, folds=args.folds, seed=args.seed)
    if not result.features:
        raise InputError(nothing_kept(design, cohort.y, recipe, args.outcome))
    document = to_package(result, design, cohort.y, model_id=args.id, title=f"Clinical model {args.id}",
                          task=args.task, modality="clinical", views=[], regions=[],
                          profile={"name": "none (clinical only)", "sha256": None}, clinical_variables=variables,
                          clinical_data=design.reset_index(drop=True), status=DEMONSTRATION,
                          description=f"Clinical-only comparator (recipe {recipe['name']}) on {len(cohort.y)} cases.")
    path = save_package(document, args.out)
    print(f"cross-validated AUC {result.cv_auc:.3f} (folds: {', '.join(f'{a:.3f}' for a in result.cv_auc_folds)})")
    table = result.combined.summary_table()
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    write_text_atomic(path.with_name(path.stem + ".coefficients.csv"), table.to_csv(index=False))
    print(f"{len(result.features)} of {len(design.columns)} clinical terms kept; package -> {path}")
    return 0
