"""Rebuild the bundled demonstration models from synthetic phantoms, deterministically.

Step 1 (slow, several minutes on 2 cores; only with --extract): generate the synthetic cohorts
(``phantoms.simulate_aln_cohort`` / ``simulate_pcr_cohort``), make phantom scans of every record and
extract their features; write the tables to ``tools/demo_data`` with their SHA-256 pinned in
``tools/demo_data/SHA256SUMS``:

- ``phantom_aln_*``: DCE-MRI, tumor + 3 mm ring, ``zeng2025-dce-delta`` profile;
- ``phantom_us_*``: 2D ultrasound, tumor + lymph node, ``zhang2025-us`` profile;
- ``phantom_pcr_*``: baseline/on-treatment DCE-MRI pairs, relative delta of tumor and 3 mm ring;
- ``phantom_dbt_*``: DBT, the same lesion on a CC and an MLO view (``dbt-cc`` / ``dbt-mlo`` presets),
  tumor + 10 mm ring, ``he2025-dbt`` profile. That profile gives 1,781 features per region and view;
  the committed table keeps only ``dbt_column_kept`` columns (all ``original_*`` features and the
  first-order features of the eight ``wavelet-*`` sub-bands: 1004 columns, ~2 MB) so it stays small,
  and extracts them with the profile's Original and Wavelet images only (``dbt_kept_profile``: the
  same values, in under half the time). The package records the full profile (name, SHA-256):
  prediction extracts with it and uses the selected columns.

The cohorts' outcome models (``phantoms.ALN_MODEL`` / ``PCR_MODEL``) put most of the outcome's
variance in what the phantoms image (lesion size, heterogeneity and margin irregularity; node size
and cortex; the pCR change in volume, heterogeneity and peritumoral enhancement), so the
demonstration models learn: each package records, besides its cross-validated
AUC (``performance.cv.auc``), the cross-validated AUC of its image-only RadScore(s)
(``performance.cv.radscore_auc``) and the null test (``performance.cv.null_auc``: the
cross-validated AUC of the same recipe on the same features and clinical variables with the outcome
permuted, seed ``NULL_SEED``).

Step 2 (a few minutes: each model is cross-validated three times, see ``learning_checks``): train the
four demonstration models and write their packages to
``AxillaryPredictorLib/resources/models`` (or the folder given with ``--out``; tests rebuild into a
temporary folder, never into the source tree) plus the registry ``Models.json``:
``demo-dce-aln`` (RadScore + Ki-67 + US-reported ALN), ``demo-us-aln`` (tumor score + lymph-node
score + US-reported ALN, as Zhang et al.), ``demo-delta-pcr`` (intratumoral and peritumoral delta
scores + post-NAT axillary ultrasound, as Zeng et al.), ``demo-dbt-aln`` (two-view DBT tumor + 10 mm
margin RadScore + binary Ki-67 > 20% nomogram, as He et al.). Every float of a package is rounded to
``SIGNIFICANT_DIGITS`` significant digits before it is sealed: the last digits of a fit depend on the
BLAS library and the CPU, the first ten do not, so with SOURCE_DATE_EPOCH set the packages are
byte-identical on every rebuild, on any machine (but for a value that straddles a rounding boundary).

Run: SOURCE_DATE_EPOCH=1767225600 python tools/build_demo_models.py [--out DIR]
[--extract [--only aln|us|pcr|dbt] [--clinical-only]]
"""

from __future__ import annotations

import argparse
import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tools" / "demo_data"
MODELS = ROOT / "AxillaryPredictor" / "AxillaryPredictorLib" / "resources" / "models"
N_CASES = 120
SEED = 2026
VIEW = "DCE3"
REGIONS = ["tumor", "margin3mm"]
PROFILE = "zeng2025-dce-delta"
N_DBT_CASES = 150
DBT_VIEWS = {"CC": "dbt-cc", "MLO": "dbt-mlo"}  # view name -> phantom preset (the same lesion on both)
DBT_REGIONS = ["tumor", "margin10mm"]
DBT_PROFILE = "he2025-dbt"
SIGNIFICANT_DIGITS = 10
NULL_PERMUTATIONS = 1  # permuted-outcome refits of each demo model (the null test)
NULL_SEED = 7
KI67_CUTOFF = 20.0  # He et al.: Ki-67 > 20% is "high"


def dbt_column_kept(column: str) -> bool:
    """Columns of the committed DBT table: every ``original_*`` feature and the first-order
    features of the ``wavelet-*`` sub-bands, of both regions and both views."""
    feature = column.split("__", 2)[2]
    return feature.startswith("original_") or (feature.startswith("wavelet-") and "_firstorder_" in feature)


def dbt_kept_profile():
    """The ``he2025-dbt`` profile restricted to its Original and Wavelet images: pyradiomics computes
    every image type on its own, so the kept columns (``dbt_column_kept``) are the full profile's
    values, in under half the time (the other nine images are never computed)."""
    import dataclasses

    from AxillaryPredictorLib.extraction.profiles import load_profile

    profile = load_profile(DBT_PROFILE)
    return dataclasses.replace(profile, params={**profile.params, "imageType": {"Original": {}, "Wavelet": {}}})


def _extract(args: tuple[int, dict]) -> dict:
    import logging

    from AxillaryPredictorLib.phantoms import phantom_for_aln_record
    from AxillaryPredictorLib.pipeline import CaseInputs, RegionSettings, Scan, extract_case

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    index, record = args
    phantom = phantom_for_aln_record(record, "dce", seed=SEED + index)
    inputs = CaseInputs.single(record["case_id"], {VIEW: Scan(phantom.image, phantom.tumor)})
    result = extract_case(inputs, PROFILE, RegionSettings((3.0,)), regions=REGIONS, workers=1)
    return {"case_id": record["case_id"], **result.features}


def _extract_us(args: tuple[int, dict]) -> dict:
    from AxillaryPredictorLib.phantoms import phantom_for_aln_record
    from AxillaryPredictorLib.pipeline import CaseInputs, RegionSettings, Scan, extract_case

    index, record = args
    phantom = phantom_for_aln_record(record, "us", seed=SEED + 1 + index)
    inputs = CaseInputs.single(record["case_id"], {"US": Scan(phantom.image, phantom.tumor, phantom.node)})
    result = extract_case(inputs, "zhang2025-us", RegionSettings((3.0,)), regions=["tumor", "node"], workers=1)
    return {"case_id": record["case_id"], **result.features}


def _extract_pcr(args: tuple[int, dict]) -> dict:
    from AxillaryPredictorLib.phantoms import phantoms_for_pcr_record
    from AxillaryPredictorLib.pipeline import extract_delta

    index, record = args
    baseline, ontreatment = phantoms_for_pcr_record(record, "dce", seed=SEED + 2 + index)
    result = extract_delta((baseline.image, baseline.tumor), (ontreatment.image, ontreatment.tumor), view=VIEW,
                           margins=(3,), regions=REGIONS, profile=PROFILE, case_id=record["case_id"], workers=1)
    return {"case_id": record["case_id"], **result.row()}


def _extract_dbt(args: tuple[int, dict]) -> dict:
    import logging

    from AxillaryPredictorLib.phantoms import phantom_for_aln_record
    from AxillaryPredictorLib.pipeline import CaseInputs, RegionSettings, Scan, extract_case

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    index, record = args
    views = {}
    for view, preset in DBT_VIEWS.items():
        phantom = phantom_for_aln_record(record, preset, seed=SEED + 3 + index)  # same seed: same lesion
        views[view] = Scan(phantom.image, phantom.tumor)
    result = extract_case(CaseInputs.single(record["case_id"], views), dbt_kept_profile(), RegionSettings((10.0,)),
                          regions=DBT_REGIONS, workers=1)
    return {"case_id": record["case_id"], **{k: v for k, v in result.features.items() if dbt_column_kept(k)}}


def _pinned() -> None:
    sums = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n"
                   for p in sorted(DATA.glob("phantom_*.csv")))
    (DATA / "SHA256SUMS").write_text(sums)


#: with --clinical-only: write the clinical tables only (``_write_tables``)
CLINICAL_ONLY = {"value": False}


def _write_tables(name: str, worker, cohort: pd.DataFrame, clinical: pd.DataFrame) -> None:
    """Extract every record with ``worker`` (in parallel) and write the pinned feature and
    clinical tables ``phantom_<name>_features.csv`` / ``_clinical.csv``; with ``--clinical-only``
    the clinical table only (an outcome model changed: the phantoms depend on the latent records
    alone, which are drawn before the outcome, so the feature table stays what extraction gives)."""
    DATA.mkdir(parents=True, exist_ok=True)
    if not CLINICAL_ONLY["value"]:
        with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
            rows = list(pool.map(worker, list(enumerate(cohort.to_dict(orient="records")))))
        pd.DataFrame(rows).to_csv(DATA / f"phantom_{name}_features.csv", index=False, float_format="%.10g")
    clinical.to_csv(DATA / f"phantom_{name}_clinical.csv", index=False, float_format="%.10g")
    _pinned()


def _us_aln(cohort: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    clinical = cohort[columns].copy()
    clinical["us_aln"] = clinical.pop("us_reported_aln").map({0: "negative", 1: "positive"})
    return clinical


def extract_cohort() -> None:
    from AxillaryPredictorLib.phantoms import simulate_aln_cohort

    cohort = simulate_aln_cohort(N_CASES, seed=SEED)
    _write_tables("aln", _extract, cohort,
                  _us_aln(cohort, ["case_id", "ki67", "age", "us_reported_aln", "aln_metastasis"]))


def extract_us_cohort() -> None:
    from AxillaryPredictorLib.phantoms import simulate_aln_cohort

    cohort = simulate_aln_cohort(N_CASES, seed=SEED + 1)
    _write_tables("us", _extract_us, cohort, _us_aln(cohort, ["case_id", "us_reported_aln", "aln_metastasis"]))


def extract_pcr_cohort() -> None:
    from AxillaryPredictorLib.phantoms import simulate_pcr_cohort

    cohort = simulate_pcr_cohort(N_CASES, seed=SEED + 2)
    clinical = cohort[["case_id", "us_pcr", "subtype", "aln_pcr"]].copy()
    clinical["us_pcr"] = clinical["us_pcr"].map({0: "no", 1: "yes"})
    _write_tables("pcr", _extract_pcr, cohort, clinical)


def extract_dbt_cohort() -> None:
    from AxillaryPredictorLib.phantoms import simulate_aln_cohort

    cohort = simulate_aln_cohort(N_DBT_CASES, seed=SEED + 3)
    _write_tables("dbt", _extract_dbt, cohort, cohort[["case_id", "ki67", "aln_metastasis"]].copy())


def verify_data() -> None:
    for line in (DATA / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, name = line.split()
        actual = hashlib.sha256((DATA / name).read_bytes()).hexdigest()
        if actual != digest:
            raise SystemExit(f"{name}: SHA-256 {actual} does not match the pinned {digest}; rerun with --extract.")


def rounded_floats(value, digits: int = SIGNIFICANT_DIGITS):
    """``value`` (a JSON document) with every float rounded to ``digits`` significant digits,
    so that what is stored does not depend on the machine's last-digit rounding."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {key: rounded_floats(item, digits) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [rounded_floats(item, digits) for item in value]
    return value


def save_rounded(document: dict, path: Path) -> Path:
    """Save a package (sealed, validated) with its floats rounded (see ``rounded_floats``)."""
    from AxillaryPredictorLib.packages.package import save_package

    path.parent.mkdir(parents=True, exist_ok=True)
    return save_package(rounded_floats(document), path)


def _regularized_recipe() -> dict:
    from AxillaryPredictorLib.modeling.recipes import load_recipe

    # small, regularized scores keep the combined model away from separation on 120 cases
    return load_recipe("lasso-lr") | {"combined": {"selection": "none"},
                                      "steps": [{"variance": {"threshold": 0.0}},
                                                {"lasso": {"cv": 5, "rule": "1se", "max_features": 6}}],
                                      "classifier": {"kind": "logistic", "C": 0.1}}


def _binary(values: pd.Series, positive: str) -> pd.Series:
    return (values == positive).astype(float)


def learning_checks(features: pd.DataFrame, y, design: pd.DataFrame, groups: dict[str, list[str]] | None) -> dict:
    """What the demo model learns, cross-validated as its own AUC (every selector refitted in each
    training fold): ``radscore_auc``, the RadScore(s) alone (no clinical variable; with several
    score groups, their combined logistic model), and ``null_auc``, the same recipe on the same
    features and clinical variables with the outcome permuted (``null_permutation_seed``; with
    ``NULL_PERMUTATIONS`` > 1 the mean, each in ``null_aucs``)."""
    import numpy as np

    from AxillaryPredictorLib.modeling.training import train

    recipe = _regularized_recipe()
    radscore = train(features, y, recipe, score_groups=groups).cv_auc
    rng = np.random.default_rng(NULL_SEED)
    null = [train(features, rng.permutation(y), recipe, clinical=design, score_groups=groups).cv_auc
            for _ in range(NULL_PERMUTATIONS)]
    checks = {"radscore_auc": radscore, "null_auc": float(np.mean(null)), "null_permutation_seed": NULL_SEED}
    return checks | ({"null_aucs": null} if NULL_PERMUTATIONS > 1 else {})


def _save_demo(result, features: pd.DataFrame, y, design: pd.DataFrame, *, out: Path, model_id: str,
               profile_name: str, provenance: dict | None = None, groups: dict[str, list[str]] | None = None,
               **fields) -> Path:
    """Export a demonstration package: synthetic-data status, intended use and provenance shared
    by every demo model, and its ``learning_checks``; ``fields`` are the model-specific
    ``to_package`` arguments."""
    from AxillaryPredictorLib.extraction.profiles import load_profile
    from AxillaryPredictorLib.packages.export import to_package

    profile = load_profile(profile_name)
    document = to_package(
        result, features, y, model_id=model_id,
        profile={"name": profile.name, "sha256": profile.hash, "version": profile.version},
        clinical_data=design.reset_index(drop=True), status="demonstration",
        intended_use="Demonstration of the software on synthetic data. NOT for clinical use.",
        provenance={"training_data": "tools/demo_data (synthetic phantoms, SHA-256 pinned)", **(provenance or {})},
        **fields)
    document["performance"]["cv"].update(learning_checks(features, y, design, groups))
    return save_rounded(document, out / f"{model_id}.json")


def one_slice_noise(column: str) -> bool:
    """A feature of a through-slice high-pass wavelet sub-band (``wavelet-??H``) of a one-slice image."""
    band = column.split("__", 2)[-1].split("_", 1)[0]
    return band.startswith("wavelet-") and len(band) == len("wavelet-LLH") and band.endswith("H")


def build_us_model(out: Path = MODELS) -> Path:
    from AxillaryPredictorLib.modeling.clinical import ClinicalVariable
    from AxillaryPredictorLib.modeling.training import train

    features = pd.read_csv(DATA / "phantom_us_features.csv").set_index("case_id")
    # The one-slice frame's wavelet sub-bands with a high-pass across the slice (LLH, LHH, HLH, HHH) are
    # numerically zero images: their features are rounding noise that differs between CPUs, so the demo
    # model never selects them (docs/extraction.md, "Feature counts against the papers").
    features = features[[c for c in features.columns if not one_slice_noise(c)]]
    clinical = pd.read_csv(DATA / "phantom_us_clinical.csv").set_index("case_id").loc[features.index]
    y = clinical["aln_metastasis"].to_numpy()
    groups = {"tumor_score": [c for c in features.columns if c.startswith("tumor__")],
              "ln_score": [c for c in features.columns if c.startswith("node__")]}
    design = pd.DataFrame({"us_aln": _binary(clinical["us_aln"], "positive").to_numpy()}, index=features.index)
    result = train(features, y, _regularized_recipe(), clinical=design, score_groups=groups)
    return _save_demo(
        result, features, y, design, out=out, model_id="demo-us-aln", groups=groups,
        title="DEMONSTRATION: ultrasound tumor score + lymph-node score + US-reported ALN", task="ALN metastasis",
        modality="US", views=["US"], regions=["tumor", "node"], margins_mm=[3.0],
        clinical_variables=[ClinicalVariable("us_aln", "binary", levels=("negative", "positive"),
                                             label="US-reported ALN")],
        description="Trained on synthetic 2D ultrasound phantoms (n=120; tumor and lymph-node ROIs): demonstrates "
                    "the Zhang et al. design only; it carries no clinical meaning.",
        profile_name="zhang2025-us")


def build_pcr_model(out: Path = MODELS) -> Path:
    from AxillaryPredictorLib.modeling.clinical import ClinicalVariable
    from AxillaryPredictorLib.modeling.training import train

    table = pd.read_csv(DATA / "phantom_pcr_features.csv").set_index("case_id")
    deltas = table[[c for c in table.columns if c.startswith("delta__")]]
    # delta features undefined (zero baseline) in any case are excluded, as in the study
    deltas = deltas.loc[:, deltas.notna().all() & (deltas.abs() < 1e6).all()]
    clinical = pd.read_csv(DATA / "phantom_pcr_clinical.csv").set_index("case_id").loc[deltas.index]
    y = clinical["aln_pcr"].to_numpy()
    groups = {"radscore_dir": [c for c in deltas.columns if c.startswith("delta__tumor__")],
              "radscore_dpr": [c for c in deltas.columns if c.startswith("delta__margin3mm__")]}
    design = pd.DataFrame({"us_pcr": _binary(clinical["us_pcr"], "yes").to_numpy()}, index=deltas.index)
    result = train(deltas, y, _regularized_recipe(), clinical=design, score_groups=groups)
    return _save_demo(
        result, deltas, y, design, out=out, model_id="demo-delta-pcr", groups=groups,
        title="DEMONSTRATION: delta intratumoral + peritumoral scores + post-NAT ultrasound (ALN pCR)",
        task="ALN pCR after NAT", modality="MR", views=[VIEW], regions=REGIONS, margins_mm=[3.0],
        timepoints=["baseline", "ontreatment"], delta_mode="relative",
        clinical_variables=[ClinicalVariable("us_pcr", "binary", levels=("no", "yes"),
                                             label="US-pCR (post-NAT axillary ultrasound normal)")],
        description="Trained on synthetic baseline/on-treatment DCE-MRI phantom pairs (n=120): demonstrates the "
                    "Zeng et al. delta dual-region design only; it carries no clinical meaning.",
        profile_name=PROFILE)


def build_dbt_model(out: Path = MODELS) -> Path:
    from AxillaryPredictorLib.modeling.clinical import ClinicalVariable
    from AxillaryPredictorLib.modeling.training import train

    features = pd.read_csv(DATA / "phantom_dbt_features.csv").set_index("case_id")
    features = features.loc[:, features.notna().all() & (features.abs() < 1e12).all()]
    clinical = pd.read_csv(DATA / "phantom_dbt_clinical.csv").set_index("case_id").loc[features.index]
    y = clinical["aln_metastasis"].to_numpy()
    # He et al. enter Ki-67 as high (> 20%) or low
    design = pd.DataFrame({"ki67_high": (clinical["ki67"] > KI67_CUTOFF).astype(float).to_numpy()},
                          index=features.index)
    result = train(features, y, _regularized_recipe(), clinical=design)  # RadScore (CC+MLO, tumor+10 mm) + Ki-67 high
    return _save_demo(
        result, features, y, design, out=out, model_id="demo-dbt-aln",
        title="DEMONSTRATION: DBT RadScore (tumor + 10 mm margin, CC and MLO) + Ki-67 > 20% nomogram",
        task="ALN metastasis",
        modality="DBT", views=list(DBT_VIEWS), regions=DBT_REGIONS, margins_mm=[10.0],
        clinical_variables=[ClinicalVariable("ki67_high", "binary", levels=("no", "yes"), label="Ki-67 > 20%",
                                             description="Ki-67 index above 20% (He et al.'s cut-off): yes or no")],
        description=f"Trained on synthetic DBT phantoms (n={len(y)}; CC and MLO views of the same lesion, tumor and "
                    "10 mm peritumoral ring; original and wavelet first-order features): demonstrates the He et al. "
                    "design only; it carries no clinical meaning.",
        provenance={"recipe": "lasso-lr + combined logistic (RadScore, Ki-67 > 20%)",
                    "feature_columns": "original_* and wavelet-*_firstorder_* of the he2025-dbt profile"},
        profile_name=DBT_PROFILE)


def write_registry(out: Path = MODELS) -> Path:
    """Models.json: every package in the models folder ``out``, demonstration models first, with
    its cross-validated AUC (``cv_auc``, null when the package reports none)."""
    import json

    from AxillaryPredictorLib.packages.registry import cv_auc

    entries = []
    for path in sorted(out.glob("*.json")):
        if path.name == "Models.json":
            continue
        stored = json.loads(path.read_text(encoding="utf-8"))
        entries.append({"id": stored["id"], "file": path.name, "version": stored["version"], "title": stored["title"],
                        "task": stored["task"], "modality": stored["modality"], "status": stored["status"],
                        "inputs": {"views": stored["inputs"]["views"], "timepoints": stored["inputs"]["timepoints"],
                                   "regions": stored["inputs"]["regions"],
                                   "profile": stored["inputs"]["profile"]["name"],
                                   "clinical": [v["name"] for v in stored.get("clinical_variables", [])]},
                        "license": "Apache-2.0", "sha256": stored["sha256"], "description": stored["description"],
                        "cv_auc": cv_auc(stored)})
    entries.sort(key=lambda e: (e["status"] != "demonstration", e["id"]))
    path = out / "Models.json"
    path.write_text(json.dumps({"models": entries}, indent=2) + "\n")
    return path


def build_models(out: Path = MODELS) -> Path:
    from AxillaryPredictorLib.modeling.clinical import ClinicalVariable
    from AxillaryPredictorLib.modeling.training import train

    features = pd.read_csv(DATA / "phantom_aln_features.csv").set_index("case_id")
    clinical = pd.read_csv(DATA / "phantom_aln_clinical.csv").set_index("case_id").loc[features.index]
    y = clinical["aln_metastasis"].to_numpy()
    variables = [ClinicalVariable("ki67", "continuous", "%", range=(0.0, 100.0), label="Ki-67"),
                 ClinicalVariable("us_aln", "binary", levels=("negative", "positive"), label="US-reported ALN")]
    design = pd.DataFrame({"ki67": clinical["ki67"].to_numpy(),
                           "us_aln": (clinical["us_aln"] == "positive").astype(float).to_numpy()},
                          index=features.index)
    recipe = _regularized_recipe()  # RadScore + Ki-67 + US-reported ALN
    result = train(features, y, recipe, clinical=design)
    return _save_demo(
        result, features, y, design, out=out, model_id="demo-dce-aln",
        title="DEMONSTRATION: DCE-MRI RadScore + Ki-67 + US-reported ALN",
        task="ALN metastasis", modality="MR", views=[VIEW], regions=REGIONS, margins_mm=[3.0],
        clinical_variables=variables,
        description="Trained on synthetic phantoms from phantoms.simulate_aln_cohort (n=120): demonstrates the "
                    "workflow only; it carries no clinical meaning.",
        provenance={"recipe": "lasso-lr + combined logistic (RadScore, Ki-67, US-reported ALN)"},
        profile_name=PROFILE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--extract", action="store_true", help="re-extract the synthetic feature table first")
    parser.add_argument("--only", choices=("aln", "us", "pcr", "dbt"), help="extract only this cohort (with --extract)")
    parser.add_argument("--clinical-only", action="store_true", help="with --extract: rewrite the clinical tables "
                        "(outcomes) only, keeping the feature tables (for a changed outcome model)")
    parser.add_argument("--out", type=Path, default=MODELS, help="folder for the packages and Models.json "
                        "(default: the bundled models in the source tree)")
    args = parser.parse_args()
    CLINICAL_ONLY["value"] = args.clinical_only
    if args.extract:
        for name, function in (("aln", extract_cohort), ("us", extract_us_cohort), ("pcr", extract_pcr_cohort),
                               ("dbt", extract_dbt_cohort)):
            if args.only in (None, name):
                function()
    verify_data()
    for build in (build_models, build_us_model, build_pcr_model, build_dbt_model):
        print(f"wrote {build(args.out)}")
    print(f"wrote {write_registry(args.out)}")


if __name__ == "__main__":
    main()
