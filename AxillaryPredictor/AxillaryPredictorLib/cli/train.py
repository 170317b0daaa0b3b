"""``axillary-predictor train``: cross-validate a recipe on a cohort and export a model package.

A model trained here is marked ``demonstration`` until it is validated on held-out data. Feature tables
from other tools are accepted (pyradiomics' batch CSV, plain column names; ``modeling.cohort_tables``):
a package trained on plain columns scores tables with those columns, not images."""

from __future__ import annotations

import argparse
from typing import Any

from AxillaryPredictorLib.errors import InputError

TRAINING_SPLITS = ("train", "training")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--features", action="append", default=[], help="feature table(s) with case_id (or "
                        "--id-column; not used by the clinical-only recipe 'clinical'); pyradiomics' batch CSV is "
                        "accepted (diagnostics_*, Image, Mask and other non-numeric columns are ignored and listed)")
    parser.add_argument("--id-column", default="case_id", help="case id column of every table (default: case_id)")
    parser.add_argument("--clinical", help="clinical table with case_id (and the outcome, split, center columns)")
    parser.add_argument("--outcome", required=True, help="binary outcome column (1 = event)")
    parser.add_argument("--recipe", default="lasso-lr", help="shipped recipe name or recipe YAML path")
    parser.add_argument("--clinical-vars", help="clinical columns for a combined model, comma-separated")
    parser.add_argument("--clinical-spec", help="YAML list of clinical variable declarations (name, kind: continuous|"
                        "binary|ordinal|categorical, unit, levels, range; blood indices as '- {name: sii, blood_index: "
                        "sii}', computed from the neutrophils/lymphocytes/platelets/monocytes/wbc columns, renamed "
                        "with counts: {neutrophils: COLUMN}); variables not declared are typed from their values")
    parser.add_argument("--p-threshold", type=float, metavar="P", help="the Wald p threshold of backward "
                        "elimination in the combined or clinical-only model (recipes with 'combined: {selection: "
                        "backward-p}', e.g. clinical, zhang2025; default: the recipe's p, 0.05)")
    parser.add_argument("--radscore-scale", choices=("linear-predictor", "probability"), help="what a RadScore is in "
                        "a combined model: its radiomics model's linear predictor (default, He et al.) or predicted "
                        "probability (Zeng et al.); default: the recipe's combined.radscore_scale")
    parser.add_argument("--compare-classifiers", metavar="KINDS", help="also fit these classifiers on the same "
                        "selected features in every CV fold and compare their out-of-fold AUCs by DeLong (He et al.), "
                        "e.g. logistic,svm,xgboost (svm = rbf-svm); table printed and written to "
                        "<out>.comparison.csv; default: the recipe's compare.classifiers")
    parser.add_argument("--compare-reference", metavar="KIND", help="the classifier the others are tested against: "
                        "'best' (highest CV AUC; default) or one of --compare-classifiers")
    parser.add_argument("--reader2", action="append", default=[],
                        help="second reader's feature table(s), for ICC-filtering recipes (inter-observer ICC)")
    parser.add_argument("--reader1-repeat", action="append", default=[],
                        help="the first reader's repeated feature table(s) (the same cases segmented again, e.g. "
                        "two weeks later), for the intra-observer ICC (recipe zhang2025 needs both)")
    parser.add_argument("--groups", choices=("view", "region", "source"), help="split the feature columns into groups "
                        "by view, region or source (radiomics / deep; clinical variables stay clinical): one score per "
                        "group in combined models, one model per group in post-fusion recipes (e.g. liu2025: CC and "
                        "MLO fused by an SVM); plain column names form one group")
    parser.add_argument("--folds", type=int, help="CV folds (default: the recipe's)")
    parser.add_argument("--seed", type=int, help="CV seed (default: the recipe's)")
    parser.add_argument("--id", default="user-model", help="model id")
    # packages.package.TASKS spelt out, so --help imports no pandas (a test checks they agree)
    parser.add_argument("--task", default="ALN metastasis", choices=("ALN metastasis", "ALN pCR after NAT"))
    parser.add_argument("--profile", default="zeng2025-dce-delta", help="extraction profile the features came from")
    parser.add_argument("--out", required=True, help="model package (.json); the coefficient table of a combined "
                        "model goes to <out>.coefficients.csv")
    from AxillaryPredictorLib.cli.extract import add_deep_arguments

    add_deep_arguments(parser)  # the deep columns' backbone when no table sidecar records it (cohort tables)


def with_p_threshold(recipe: dict[str, Any], threshold: float | None) -> dict[str, Any]:
    """The recipe with its combined model's backward-elimination threshold set to ``threshold``
    (``--p-threshold``); InputError when the recipe does not select by backward p."""
    if threshold is None:
        return recipe
    combined = dict(recipe.get("combined") or {})
    if str(combined.get("selection", "aic")) not in ("p", "backward-p"):
        raise InputError(f"--p-threshold sets the threshold of backward elimination, but recipe '{recipe['name']}' "
                         f"selects its combined model by '{combined.get('selection', 'aic')}' (recipes clinical and "
                         "zhang2025 eliminate backward at p < 0.05).")
    if not 0 < threshold < 1:
        raise InputError(f"--p-threshold must lie between 0 and 1, got {threshold:g}.")
    combined.pop("p_threshold", None)
    return {**recipe, "combined": {**combined, "p": threshold}}


def training_cases(cohort):
    """The cohort's training cases: rows with split train/training when there is a split column
    (validation and test cases are held out of selection, CV and the final fit)."""
    if cohort.split is None:
        return cohort, ""
    split = cohort.split.str.strip().str.lower()
    keep = split.isin(TRAINING_SPLITS)
    if not keep.any():
        raise InputError(f"The split column has no training rows (values: {', '.join(sorted(split.unique()))}); "
                         "mark the training cases 'train'.")
    held = split[~keep].value_counts()
    note = ""
    if len(held):
        listing = ", ".join(f"{name}: {count}" for name, count in held.items())
        note = (f"training on the {int(keep.sum())} 'train' cases; held out ({listing}) - score them with "
                "'axillary-predictor evaluate --model PKG --cohort NAME=CSV'")
    subset = type(cohort)(cohort.features[keep], cohort.y[keep],
                          None if cohort.clinical is None else cohort.clinical[keep], cohort.split[keep],
                          None if cohort.center is None else cohort.center[keep], list(cohort.warnings))
    return subset, note


def clinical_design(cohort, names: list[str], spec_path: str | None):
    """(design columns, ClinicalVariable list) for the chosen clinical variables: declared in the spec
    (``--clinical-spec``: kinds, levels, hard range limits), else typed from the values. A continuous
    variable's training range is not a limit: the package records it in ``training_ranges`` and a value
    outside it gives an out-of-distribution warning."""
    import pandas as pd

    from AxillaryPredictorLib.modeling.clinical import (
        ClinicalVariable,
        add_derived_clinical,
        read_clinical_spec,
        validate_clinical,
    )

    declared = read_clinical_spec(spec_path) if spec_path else {}
    table = cohort.clinical
    if table is not None:  # blood indices computed from their counts (Lu et al.)
        table = add_derived_clinical(table, [declared[n] for n in names if n in declared])
    missing = [n for n in names if table is None or n not in table.columns]
    if missing:
        raise InputError(f"Clinical variable(s) not in the clinical table: {', '.join(missing)}.")
    variables = []
    for name in names:
        values = table[name]
        absent = values.isna() | (values.astype(str).str.strip() == "")
        if absent.any():
            raise InputError(f"Clinical variable {name} is missing for {int(absent.sum())} case(s) (e.g. "
                             f"{', '.join(map(str, values.index[absent][:5]))}); complete it or leave it out.")
        if name in declared:
            variables.append(declared[name])
        elif pd.api.types.is_numeric_dtype(values) and set(values.unique()) <= {0, 1}:
            variables.append(ClinicalVariable(name, "binary", levels=("0", "1")))
        elif pd.api.types.is_numeric_dtype(values):  # no declared range: the training range (package
            # training_ranges) only warns at prediction; a declared range (--clinical-spec) is a hard limit
            variables.append(ClinicalVariable(name, "continuous"))
        else:
            variables.append(ClinicalVariable(name, "categorical", levels=tuple(sorted(values.astype(str).unique()))))
        if values.nunique() < 2:
            raise InputError(f"Clinical variable {name} has a single value in the training cases; leave it out.")
    rows = [validate_clinical(record, variables) for record in table[names].to_dict(orient="records")]
    return pd.DataFrame(rows, index=cohort.features.index).astype(float), variables


DEEP_RECORD = ("backbone", "sha256", "output", "source", "region", "context_mm", "input_size")


def _sidecar_deep(table: str) -> dict | None:
    """The deep provenance a feature table's sidecar (``<table>.json``) records, if any."""
    import json
    from pathlib import Path

    sidecar = Path(f"{table}.json")
    provenance = json.loads(sidecar.read_text(encoding="utf-8")).get("provenance", {}) if sidecar.is_file() else {}
    deep = provenance.get("deep")
    return {k: deep.get(k) for k in DEEP_RECORD} if deep else None


def deep_provenance(tables: list[str], columns: list[str], spec=None, profile=None) -> dict | None:
    """The backbone of the deep columns (name, SHA-256, output, crop settings) for the package's
    ``inputs.deep``: the --deep-* options (``spec``), else the feature tables' sidecars, else the
    profile's ``deep`` block (cohort tables have no sidecar); one backbone only."""
    from AxillaryPredictorLib.extraction.deep import DEEP_PREFIX, is_deep_column, resolve_model

    deep_columns = [c for c in columns if is_deep_column(c)]
    if not deep_columns:
        return None
    if spec is None:
        found = {r["sha256"]: r for r in map(_sidecar_deep, tables) if r}
        if len(found) > 1:
            raise InputError(f"The feature tables' deep columns come from {len(found)} different backbones; one model "
                             "uses one backbone.")
        if found:
            return next(iter(found.values()))
        spec = profile.deep if profile is not None and profile.deep else None
    if spec is None:
        raise InputError("The feature tables have deep columns but no sidecar (<table>.json) records their backbone: "
                         "name it with --deep-model (and the --deep-* options used for the extraction).")
    model = resolve_model(spec)
    if not all(f"__{DEEP_PREFIX}{model.name}_" in c for c in deep_columns):
        raise InputError(f"The deep columns (e.g. {deep_columns[0]}) do not come from backbone '{model.name}'.")
    recorded = model.provenance()
    return {k: recorded.get(k) for k in DEEP_RECORD}


def run(args: argparse.Namespace) -> int:

    from AxillaryPredictorLib.extraction.profiles import load_profile
    from AxillaryPredictorLib.modeling.cohort_tables import column_scheme, load_cohort, recorded_settings
    from AxillaryPredictorLib.modeling.recipes import load_recipe, recipe_imputes
    from AxillaryPredictorLib.modeling.training import train
    from AxillaryPredictorLib.packages.export import to_package
    from AxillaryPredictorLib.packages.package import DEMONSTRATION, save_package

    recipe = with_p_threshold(load_recipe(args.recipe), args.p_threshold)
    if recipe.get("clinical_only") or not args.features:
        from AxillaryPredictorLib.cli.train_clinical import run_clinical

        return run_clinical(args, recipe)
    cohort = load_cohort(args.features, args.clinical, args.outcome, id_column=args.id_column,
                         allow_missing=recipe_imputes(recipe))
    for warning in cohort.warnings:
        print(f"note: {warning}")
    cohort, note = training_cases(cohort)
    if note:
        print(f"note: {note}")
    reliability = _reliability(args, cohort)
    clinical, variables = None, []
    if args.clinical_vars:
        clinical, variables = clinical_design(cohort, [c.strip() for c in args.clinical_vars.split(",")],
                                              args.clinical_spec)
        if "combined" not in recipe and not recipe.get("fusion"):
            recipe = {**recipe, "combined": {"selection": "none"}}
            print(f"note: recipe '{recipe['name']}' has no combined model; RadScore + {args.clinical_vars} are "
                  "combined in one logistic model with every given variable kept.")
    groups = _groups(args.groups, list(cohort.features.columns))
    if groups and "combined" not in recipe and not recipe.get("fusion"):
        recipe = {**recipe, "combined": {"selection": "none"}}
        print(f"note: recipe '{recipe['name']}' has no combined model; the scores of the {args.groups} groups "
              f"({', '.join(groups)}) are combined in one logistic model with every score kept.")
    compare = [k.strip() for k in args.compare_classifiers.split(",") if k.strip()] if args.compare_classifiers \
        else None
    result = train(cohort.features, cohort.y, recipe, clinical=clinical, reliability=reliability, folds=args.folds,
                   seed=args.seed, score_groups=groups, radscore_scale=args.radscore_scale, compare=compare,
                   compare_reference=args.compare_reference)
    for message in result.notes:
        print(f"note: {message}")
    if args.radscore_scale and result.combined is None:
        print("note: --radscore-scale applies to combined models (RadScore + clinical variables, or --groups with a "
              "combined recipe); this model has no RadScore input, so it is not used.")
    profile = load_profile(args.profile)
    scheme = column_scheme(cohort.features.columns)
    if scheme == "plain":
        print("note: the feature table has plain column names (not <region>__<view>__<feature>): the package "
              "scores tables with these columns ('axillary-predictor evaluate'), not images.")
    recorded = recorded_settings(args.features)  # views, regions, timepoints: from the columns the model uses
    document = to_package(result, cohort.features, cohort.y, model_id=args.id, title=f"User model {args.id}",
                          task=args.task, modality=profile.modality, column_scheme=scheme,
                          delta_mode=recorded["delta_mode"],
                          provenance={"training_regions": recorded["regions"]} if recorded["regions"] else None,
                          profile={"name": profile.name, "sha256": profile.hash, "version": profile.version},
                          clinical_variables=variables, clinical_data=None if clinical is None else
                          clinical.reset_index(drop=True), status=DEMONSTRATION,
                          description=f"Trained with recipe {recipe['name']} on {len(cohort.y)} cases.")
    from AxillaryPredictorLib.cli.extract import deep_spec

    deep = deep_provenance(args.features, list(cohort.features.columns), deep_spec(args), profile)
    if deep:
        document["inputs"]["deep"] = deep
    if result.comparison is not None:
        document["performance"]["classifier_comparison"] = comparison_records(result.comparison)
    path = save_package(document, args.out)
    _print_result(result, document, path)
    return 0


def comparison_records(table: Any) -> list[dict[str, Any]]:
    """The classifier comparison as JSON rows (NaN -> null: the reference has no test against itself)."""
    import math

    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in table.to_dict(orient="records")]


def _reliability(args: argparse.Namespace, cohort: Any) -> Any:
    """ICC of every feature between the readers (``--reader2``: inter-observer) and between the first
    reader and its repeat (``--reader1-repeat``: intra-observer), or None."""
    if not args.reader2 and not args.reader1_repeat:
        return None
    from AxillaryPredictorLib.modeling.reproducibility import reliability_table

    tables = {name: _reader_table(args, files, cohort, name)
              for name, files in (("second reader", args.reader2), ("first reader's repeat", args.reader1_repeat))
              if files}
    return reliability_table(cohort.features, tables.get("second reader"), tables.get("first reader's repeat"))


def _reader_table(args: argparse.Namespace, files: list[str], cohort: Any, name: str) -> Any:
    """One reader's feature tables, side by side, keyed by case id (a note lists features it lacks)."""
    import pandas as pd

    table = pd.concat([pd.read_csv(f, dtype={args.id_column: str}).set_index(args.id_column) for f in files], axis=1)
    absent = [c for c in cohort.features.columns if c not in table.columns]
    if absent:
        print(f"note: {len(absent)} feature(s) have no {name} values (e.g. {absent[0]}); the ICC filter drops them.")
    return table


def _groups(kind: str | None, columns: list[str]) -> dict[str, list[str]] | None:
    """Feature columns by view, region or source (radiomics / deep), or None (one group)."""
    if not kind:
        return None
    if kind == "source":
        from AxillaryPredictorLib.extraction.deep import feature_source

        groups: dict[str, list[str]] = {}
        for column in columns:
            groups.setdefault(feature_source(column), []).append(column)
        return groups
    from AxillaryPredictorLib.modeling.cohort_tables import feature_groups

    groups = feature_groups(columns, kind)
    left = [c for c in columns if not any(c in group for group in groups.values())]
    if left:
        print(f"note: {', '.join(left)} belong(s) to no {kind} and to no group's score.")
    return groups


def _print_result(result: Any, document: dict, path: Any) -> None:
    from AxillaryPredictorLib.files import write_text_atomic

    print(f"cross-validated AUC {result.cv_auc:.3f} (folds: {', '.join(f'{a:.3f}' for a in result.cv_auc_folds)})")
    print(f"{len(result.features)} features selected; package -> {path}")
    if document.get("radscore_formula"):
        print(document["radscore_formula"])
    if result.combined is not None:
        table = result.combined.summary_table()
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        write_text_atomic(path.with_name(path.stem + ".coefficients.csv"), table.to_csv(index=False))
    members = document["estimator"].get("members")
    if members:
        print("post-fusion of " + ", ".join(f"{m['name']} ({len(m['features'])} inputs)" for m in members) +
              f" by {document['estimator']['meta']['type']}")
    if result.comparison is not None:
        comparison_path = path.with_name(path.stem + ".comparison.csv")
        print("classifiers on the same selected features (pooled out-of-fold AUC, DeLong 95% CI; DeLong p vs "
              f"{result.comparison['reference'].iloc[0]}):")
        print(result.comparison.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        write_text_atomic(comparison_path, result.comparison.to_csv(index=False))
        print(f"comparison -> {comparison_path}")
