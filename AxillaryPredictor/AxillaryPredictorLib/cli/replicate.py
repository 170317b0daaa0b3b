"""``axillary-predictor replicate PAPER``: one study's whole published method on a synthetic cohort.

The study spec (``resources/studies/<paper>.yaml``) gives the paper's cohorts, outcome, clinical
variables, feature layout, recipe and models. A synthetic cohort with planted signal features is drawn
(``phantoms.study_tables``; no patient data, no images) and the paper's analysis runs through the same
commands a user runs on real tables, each printed before its results: ``table1``, ``univariable``,
``train`` (radiomics signature, clinical model, combined model), ``evaluate``. The results are printed in
the paper's table layout (``reporting.paper_tables``) and written to ``--out``. The last lines say how
many of the selected features are planted ones: the check that the method finds the truth.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shlex
from pathlib import Path
from typing import Any

from AxillaryPredictorLib.errors import InputError

STUDIES = ("he2025", "zeng2025", "zhang2025", "lu2025", "liu2025")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paper", choices=STUDIES, help="the study to replicate")
    parser.add_argument("--cases", type=int, help="cases in all, split as the paper's cohorts (default: the paper's "
                        "own sizes)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic cohort (default: 0)")
    parser.add_argument("--out", help="output folder (default: replication-PAPER)")
    parser.add_argument("--quiet", action="store_true", help="print the tables only, not each command's own output")


def load_study(name: str) -> dict[str, Any]:
    """The study spec shipped as ``resources/studies/<name>.yaml``."""
    import yaml

    path = Path(__file__).resolve().parents[1] / "resources" / "studies" / f"{name}.yaml"
    if not path.is_file():
        raise InputError(f"No study '{name}'; choose one of {', '.join(STUDIES)}.")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _command(argv: list[str], quiet: bool) -> str:
    """Run one ``axillary-predictor`` command in this process; its output (raises on failure)."""
    from AxillaryPredictorLib.cli.main import main

    print(f"\n$ axillary-predictor {shlex.join(argv)}")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        code = main(argv)
    if not quiet or code:
        print(buffer.getvalue().rstrip())
    if code:
        raise InputError(f"'axillary-predictor {argv[0]}' failed (exit {code}); see its message above.")
    return buffer.getvalue()


def _show_cv(output: str) -> None:
    """The command's cross-validated AUC line (printed also with --quiet)."""
    for line in output.splitlines():
        if line.startswith("cross-validated AUC"):
            print(line)


def _section(title: str) -> None:
    print(f"\n{'=' * 100}\n{title}\n{'=' * 100}")


def write_tables(cohort: Any, spec: dict[str, Any], out: Path) -> dict[str, Path]:
    """The synthetic cohort as the CSV files the commands read."""
    from AxillaryPredictorLib.files import write_texts_atomic
    from AxillaryPredictorLib.modeling.clinical import add_blood_indices

    clinical = cohort.clinical
    if spec.get("derived"):
        clinical = add_blood_indices(clinical)
    paths = {"clinical": out / "clinical.csv", "train_clinical": out / "clinical_train.csv",
             "features": out / "features.csv", "reader2": out / "reader2.csv",
             "reader1_repeat": out / "reader1_repeat.csv"}
    training = clinical["split"] == next(iter(spec["cohorts"]))
    files = [(paths["clinical"], clinical.to_csv(index=False)),
             (paths["train_clinical"], clinical[training].to_csv(index=False)),
             (paths["features"], cohort.features.to_csv(index=False)),
             (paths["reader2"], cohort.reader2.to_csv(index=False)),
             (paths["reader1_repeat"], cohort.reader1_repeat.to_csv(index=False))]
    for name in spec["cohorts"]:
        paths[f"cohort:{name}"] = out / "cohorts" / f"{name}.csv"
        rows = cohort.features[clinical["split"].to_numpy() == name]
        files.append((paths[f"cohort:{name}"], rows.to_csv(index=False)))
    if spec.get("deep"):  # the deep columns' provenance, as an extraction's sidecar records it: simulated
        # columns from no network (source "simulated"; the hash is the study spec's), so predict refuses images
        deep = {"backbone": f"simulated-{spec['deep'][0]['backbone']}", "sha256": spec_hash(spec), "output": None,
                "source": "simulated", "region": spec["deep"][0]["region"], "context_mm": 0.0, "input_size": None}
        files.append((Path(f"{paths['features']}.json"), json.dumps({"provenance": {"deep": deep}}, indent=2)))
    write_texts_atomic(files)
    (out / "planted.json").write_text(json.dumps(cohort.signal, indent=2), encoding="utf-8")
    return paths


def spec_hash(spec: dict[str, Any]) -> str:
    """SHA-256 of the study spec's canonical JSON."""
    import hashlib

    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode("utf-8")).hexdigest()


def write_clinical_spec(spec: dict[str, Any], path: Path) -> Path:
    """The clinical variables' declarations (``--clinical-spec``): kinds and levels in the paper's order
    (the first is the reference of the odds ratios). No range is declared: a validation case outside the
    training cases' range is scored with an out-of-distribution warning."""
    import yaml

    entries = []
    for variable in spec.get("clinical", []):
        entry: dict[str, Any] = {"name": variable["name"], "kind": variable["kind"]}
        if variable["kind"] == "binary":
            entry["levels"] = ["0", "1"]
        elif variable["kind"] == "categorical":
            entry["levels"] = list(map(str, variable["levels"]))
        if variable.get("label"):
            entry["label"] = variable["label"]
        entries.append(entry)
    entries += [{"name": name, "kind": "continuous"} for name in spec.get("derived", [])]
    path.write_text(yaml.safe_dump({"variables": entries}, sort_keys=False), encoding="utf-8")
    return path


def _clinical_recipe(spec: dict[str, Any], out: Path) -> str:
    """The clinical model's recipe: every listed variable kept (default: the papers list the variables of
    their clinical models), or the shipped ``clinical`` recipe (backward p < 0.05) with
    ``clinical_selection: p``."""
    if spec.get("clinical_selection", "none") == "p":
        return "clinical"
    import yaml

    path = out / "clinical-all.yaml"
    path.write_text(yaml.safe_dump({"name": "clinical-all", "description": "every given clinical variable kept",
                                    "clinical_only": True, "steps": [], "classifier": {"kind": "logistic"},
                                    "combined": {"selection": "none"}, "cv": {"folds": 5, "seed": 0}}),
                    encoding="utf-8")
    return str(path)


def _train_arguments(spec: dict[str, Any], paths: dict[str, Path], out: Path) -> list[str]:
    argv = ["--features", str(paths["features"]), "--clinical", str(paths["clinical"]), "--outcome", spec["outcome"],
            "--recipe", spec["recipe"]]
    if spec.get("groups"):
        argv += ["--groups", spec["groups"]]
    if spec.get("reader2"):
        argv += ["--reader2", str(paths["reader2"])]
    if spec.get("reader1_repeat"):
        argv += ["--reader1-repeat", str(paths["reader1_repeat"])]
    return argv


def _models(spec: dict[str, Any], paths: dict[str, Path], out: Path, quiet: bool) -> dict[str, Path]:
    """Train the clinical model, the radiomics signature and the combined model; their package paths."""
    from AxillaryPredictorLib.reporting.paper_tables import render

    name = spec["name"]
    packages = {"clinical": out / f"{name}-clinical.json", "radiomics": out / f"{name}-radiomics.json",
                "combined": out / f"{name}-combined.json"}
    _section(f"Clinical model (multivariable logistic regression): {', '.join(spec['clinical_model'])}")
    spec_path = str(write_clinical_spec(spec, out / "clinical_spec.yaml"))
    _show_cv(_command(["train", "--recipe", _clinical_recipe(spec, out), "--clinical", str(paths["clinical"]),
                       "--outcome", spec["outcome"], "--clinical-vars", ",".join(spec["clinical_model"]),
                       "--clinical-spec", spec_path, "--id", f"{name}-clinical", "--out", str(packages["clinical"])],
                      quiet))
    _section(f"Radiomics signature (recipe {spec['recipe']}: the paper's selection chain inside every CV fold)")
    _show_cv(_command(["train", *_train_arguments(spec, paths, out), "--id", f"{name}-radiomics",
                       "--out", str(packages["radiomics"])], quiet))
    comparison = packages["radiomics"].with_name(packages["radiomics"].stem + ".comparison.csv")
    if comparison.is_file():
        import pandas as pd

        print("\nClassifiers on the same selected features (out-of-fold AUC, DeLong against the reference):")
        print(render(pd.read_csv(comparison).round(4)))
    print("\nSelected features (* = a planted signal feature of the synthetic cohort):")
    print(render(selected_features(packages["radiomics"], out)))
    _section(f"Combined model: score(s) + {', '.join(spec['combined_model'])} ({_combination(spec['recipe'])})")
    _show_cv(_command(["train", *_train_arguments(spec, paths, out), "--clinical-vars",
                       ",".join(spec["combined_model"]), "--clinical-spec", spec_path, "--id", f"{name}-combined",
                       "--out", str(packages["combined"])], quiet))
    coefficients = packages["combined"].with_name(packages["combined"].stem + ".coefficients.csv")
    if coefficients.is_file():
        import pandas as pd

        table = pd.read_csv(coefficients)
        print("\nCombined model (Table 2 layout: OR with 95% Wald CI):")
        print(render(table.round(4)))
    return packages


def package_scores(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The package's scores with their selected inputs: its derived scores (one RadScore per group) and
    the members of a post-fusion stack (one model per group; Liu et al.), ``{"name", "features"}`` each."""
    scores = [{"name": d["name"], "features": list(d["features"])} for d in document.get("derived", [])]
    estimator = document.get("estimator") or {}
    if estimator.get("type") == "stacked":
        scores += [{"name": m["name"], "features": list(m["features"])} for m in estimator["members"]]
    return scores


def _combination(recipe_name: str) -> str:
    """How the recipe combines the scores and clinical variables, for the section title."""
    from AxillaryPredictorLib.modeling.recipes import load_recipe

    recipe = load_recipe(recipe_name)
    if recipe.get("fusion"):
        return "post-fusion of the single-modality models"
    selection = (recipe.get("combined") or {}).get("selection", "none")
    return f"logistic regression, variable selection: {selection}"


def selected_features(package: Path, out: Path):
    """The package's features, each marked when it is a planted signal feature."""
    import pandas as pd

    document = json.loads(package.read_text(encoding="utf-8"))
    planted = {c for columns in json.loads((out / "planted.json").read_text(encoding="utf-8")).values()
               for c in columns}
    rows = [(score["name"], f) for score in package_scores(document) for f in score["features"]]
    scores = {name for name, _ in rows}
    rows += [("", f) for f in document.get("features", []) if f not in scores]
    return pd.DataFrame({"score": [name for name, _ in rows], "feature": [f for _, f in rows],
                         "planted": ["*" if f in planted else "" for _, f in rows]})


def _evaluate(spec: dict[str, Any], paths: dict[str, Path], packages: dict[str, Path], out: Path,
              quiet: bool) -> Path:
    argv = ["evaluate", "--outcome", spec["outcome"], "--clinical", str(paths["clinical"]),
            "--cutoff", str(spec.get("cutoff", "training")), "--out", str(out / "evaluation")]
    for package in packages.values():
        argv += ["--model", str(package)]
    for name in spec["cohorts"]:
        argv += ["--cohort", f"{name}={paths[f'cohort:{name}']}"]
    _section("Evaluation on every cohort (Table 3, DeLong, calibration, DCA)")
    _command(argv, quiet)
    return out / "evaluation"


def _print_evaluation(folder: Path) -> None:
    import pandas as pd

    from AxillaryPredictorLib.reporting import paper_tables as P

    models = pd.read_csv(folder / "models.csv")
    print("\nDiscrimination (AUC with DeLong 95% CI; threshold metrics at the cut-off):")
    print(P.render(P.performance_layout(models)))
    print("\nDeLong tests between models:")
    print(P.render(P.delong_layout(pd.read_csv(folder / "delong.csv"))))
    print("\nCalibration and Hosmer-Lemeshow test:")
    print(P.render(P.calibration_layout(models)))
    print("\nDecision curve analysis (net benefit):")
    print(P.render(P.decision_curve_layout(pd.read_csv(folder / "decision_curve.csv"))))
    print(f"\nPlots and the full tables: {folder / 'index.html'}")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from AxillaryPredictorLib.phantoms.study_tables import simulate_study
    from AxillaryPredictorLib.reporting import paper_tables as P

    spec = load_study(args.paper)
    out = Path(args.out or f"replication-{spec['name']}")
    cohort = simulate_study(spec, args.cases, args.seed)
    paths = write_tables(cohort, spec, out)
    print(f"{spec['title']}\n{(spec.get('doi') and 'doi:' + spec['doi']) or spec.get('citation', '')}")
    sizes = pd.read_csv(paths["clinical"]).groupby("split", sort=False)[spec["outcome"]].agg(["size", "sum"])
    print("SYNTHETIC cohort (no patient data): " + ", ".join(f"{n} {int(r['size'])} cases ({int(r['sum'])} events)"
                                                             for n, r in sizes.iterrows()) + f"; tables in {out}")
    _section("Table 1: baseline characteristics by outcome in every cohort")
    variables = ",".join(spec["table1"])
    levels = ["--clinical-spec", str(write_clinical_spec(spec, out / "clinical_spec.yaml"))]
    _command(["table1", "--clinical", str(paths["clinical"]), "--outcome", spec["outcome"], "--variables", variables,
              *levels, "--cohort-column", "split", "--out", str(out / "table1.csv")], True)
    print(P.render(P.table1_layout(pd.read_csv(out / "table1.csv"), spec["outcome"])))
    _section("Table 2: univariable and multivariable logistic regression (training cohort)")
    _command(["univariable", "--clinical", str(paths["train_clinical"]), "--outcome", spec["outcome"],
              "--variables", variables, *levels, "--multivariable-p", "0.05", "--out", str(out / "odds_ratios.csv")],
             True)
    print(P.render(P.odds_ratio_layout(pd.read_csv(out / "odds_ratios.csv"))))
    packages = _models(spec, paths, out, args.quiet)
    _print_evaluation(_evaluate(spec, paths, packages, out, args.quiet))
    selected = selected_features(packages["radiomics"], out)
    found = int((selected["planted"] == "*").sum())
    print(f"\nPlanted signal features selected: {found} of {len(selected)} selected "
          f"({len(cohort.planted)} planted among {cohort.features.shape[1] - 1} feature columns).")
    return 0
