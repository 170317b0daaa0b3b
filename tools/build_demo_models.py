"""Rebuild the bundled demonstration model(s) from synthetic phantoms, deterministically.

Step 1 (slow, ~3 min on 2 cores; only with --extract): generate the synthetic ALN cohort
(``phantoms.simulate_aln_cohort``), make a DCE-MRI phantom of every record, build its
regions and extract features with the ``zeng2025-dce-delta`` profile; write
``tools/demo_data/phantom_aln_features.csv`` and ``phantom_aln_clinical.csv``. Their SHA-256
are pinned in ``tools/demo_data/SHA256SUMS``.

Step 2 (seconds): train the demonstration model (LASSO RadScore from tumor + 3 mm margin
features, combined with Ki-67 and US-reported ALN by stepwise AIC) and write the package
``AxillaryPredictorLib/resources/models/demo-dce-aln.json``. With SOURCE_DATE_EPOCH set the
package is byte-identical on every rebuild.

Run: SOURCE_DATE_EPOCH=1767225600 python tools/build_demo_models.py [--extract]
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


def _extract(args: tuple[int, dict]) -> dict:
    import logging

    from AxillaryPredictorLib.features import extract_case
    from AxillaryPredictorLib.phantoms import phantom_for_aln_record

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    index, record = args
    phantom = phantom_for_aln_record(record, "dce", seed=SEED + index)
    result = extract_case(phantom.image, phantom.tumor, view=VIEW, margins=(3,), regions=REGIONS, profile=PROFILE,
                          case_id=record["case_id"], workers=1)
    return {"case_id": record["case_id"], **result.features}


def extract_cohort() -> None:
    from AxillaryPredictorLib.phantoms import simulate_aln_cohort

    cohort = simulate_aln_cohort(N_CASES, seed=SEED)
    records = list(enumerate(cohort.to_dict(orient="records")))
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        rows = list(pool.map(_extract, records))
    DATA.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(DATA / "phantom_aln_features.csv", index=False, float_format="%.10g")
    clinical = cohort[["case_id", "ki67", "age", "us_reported_aln", "aln_metastasis"]].copy()
    clinical["us_aln"] = clinical.pop("us_reported_aln").map({0: "negative", 1: "positive"})
    clinical.to_csv(DATA / "phantom_aln_clinical.csv", index=False, float_format="%.10g")
    sums = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n"
                   for p in sorted(DATA.glob("phantom_aln_*.csv")))
    (DATA / "SHA256SUMS").write_text(sums)


def verify_data() -> None:
    for line in (DATA / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        actual = hashlib.sha256((DATA / name).read_bytes()).hexdigest()
        if actual != digest:
            raise SystemExit(f"{name}: SHA-256 {actual} does not match the pinned {digest}; rerun with --extract.")


def build_models() -> Path:
    from AxillaryPredictorLib.clinical import ClinicalVariable
    from AxillaryPredictorLib.model_package import save_package
    from AxillaryPredictorLib.profiles import load_profile
    from AxillaryPredictorLib.training import load_recipe, to_package, train

    verify_data()
    features = pd.read_csv(DATA / "phantom_aln_features.csv").set_index("case_id")
    clinical = pd.read_csv(DATA / "phantom_aln_clinical.csv").set_index("case_id").loc[features.index]
    y = clinical["aln_metastasis"].to_numpy()
    variables = [ClinicalVariable("ki67", "continuous", "%", range=(0.0, 100.0), label="Ki-67"),
                 ClinicalVariable("us_aln", "binary", levels=("negative", "positive"), label="US-reported ALN")]
    design = pd.DataFrame({"ki67": clinical["ki67"].to_numpy(),
                           "us_aln": (clinical["us_aln"] == "positive").astype(float).to_numpy()},
                          index=features.index)
    # a small, regularized RadScore keeps the combined model away from separation on 120 cases
    recipe = load_recipe("lasso-lr") | {"combined": {"selection": "none"},
                                        "steps": [{"variance": {"threshold": 0.0}},
                                                  {"lasso": {"cv": 5, "rule": "1se", "max_features": 6}}],
                                        "classifier": {"kind": "logistic", "C": 0.1}}
    result = train(features, y, recipe, clinical=design)
    profile = load_profile(PROFILE)
    document = to_package(
        result, features, y, model_id="demo-dce-aln", title="DEMONSTRATION: DCE-MRI RadScore + Ki-67 + US-reported ALN",
        task="ALN metastasis", modality="MR", views=[VIEW], regions=REGIONS, margins_mm=[3.0],
        profile={"name": profile.name, "sha256": profile.hash, "version": profile.version},
        clinical_variables=variables, clinical_data=design.reset_index(drop=True), status="demonstration",
        description="Trained on synthetic phantoms from phantoms.simulate_aln_cohort (n=120): demonstrates the "
                    "workflow only; it carries no clinical meaning.",
        intended_use="Demonstration of the software on synthetic data. NOT for clinical use.",
        provenance={"training_data": "tools/demo_data (synthetic phantoms, SHA-256 pinned)",
                    "recipe": "lasso-lr + combined logistic (RadScore, Ki-67, US-reported ALN)"})
    return save_package(document, MODELS / "demo-dce-aln.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--extract", action="store_true", help="re-extract the synthetic feature table first")
    args = parser.parse_args()
    if args.extract:
        extract_cohort()
    print(f"wrote {build_models()}")


if __name__ == "__main__":
    main()
