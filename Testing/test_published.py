"""Published signatures: transcription against the papers' tables (Testing/fixtures/studies), refusal
before recalibration, and recalibration that recovers a known intercept and calibrates on a fresh cohort."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from AxillaryPredictorLib.cli.main import main
from AxillaryPredictorLib.evaluation.statistics import calibration
from AxillaryPredictorLib.packages.package import load_package, save_package
from AxillaryPredictorLib.packages.recalibration import recalibrate
from AxillaryPredictorLib.packages.registry import find_model

ROOT = Path(__file__).resolve().parents[1]

#: the studies' published coefficients, transcribed from the papers (cited by DOI in docs/modeling.md)
STUDIES = ROOT / "Testing" / "fixtures" / "studies" / "STUDIES.md"


def test_he2025_signature_matches_the_paper_table():
    text = STUDIES.read_text(encoding="utf-8")
    rows = re.findall(r"^\|\s*([+−-][\d.]+)\s*\|\s*([\w.-]+)\s*\|\s*(CC|MLO)\s*\|\s*(tumor|10 mm margin)\s*\|",
                      text, re.M)
    assert len(rows) == 12
    document = find_model("he2025-dbt-signature").document
    published = {}
    for coefficient, feature, view, region in rows:
        name = f"{'tumor' if region == 'tumor' else 'margin10mm'}__{view}__{feature}"
        published[name] = float(coefficient.replace("−", "-"))
    assert dict(zip(document["features"], document["estimator"]["coefficients"], strict=True)) == published
    intercept = re.search(r"\|\s*([−-][\d.]+)\s*\|\s*intercept", text).group(1)
    assert document["estimator"]["intercept"] == float(intercept.replace("−", "-"))


def test_zeng2025_combined_model_matches_the_paper():
    text = STUDIES.read_text(encoding="utf-8")
    found = dict(re.findall(r"(US-pCR|Radscore_DIR|Radscore_DPR) β ([\d.]+)", text))
    document = find_model("zeng2025-delta-combined").document
    coefficients = dict(zip(document["features"], document["estimator"]["coefficients"], strict=True))
    assert coefficients == {"us_pcr": float(found["US-pCR"]), "radscore_dir": float(found["Radscore_DIR"]),
                            "radscore_dpr": float(found["Radscore_DPR"])}
    assert any("intercept" in u for u in document["unpublished"])


def test_published_packages_refuse_to_predict_before_recalibration():
    package = find_model("he2025-dbt-signature")
    frame = pd.DataFrame([dict.fromkeys(package.features, 1.0)])
    with pytest.raises(ValueError, match="must be recalibrated on local cases"):
        package.predict_proba(frame)


def _zeng_cohort(n: int, seed: int, intercept: float) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"radscore_dir": rng.uniform(0, 0.35, n), "radscore_dpr": rng.uniform(0, 0.25, n),
                          "us_pcr": rng.choice(["no", "yes"], n)})
    lp = intercept + 0.61 * (frame["us_pcr"] == "yes") + 8.03 * frame["radscore_dir"] + 11.59 * frame["radscore_dpr"]
    return frame, (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)


def test_recalibration_recovers_the_intercept_and_calibrates_a_fresh_cohort(tmp_path):
    true_intercept = -3.4
    frame, y = _zeng_cohort(2000, seed=11, intercept=true_intercept)
    result = recalibrate(find_model("zeng2025-delta-combined"), frame, y)
    recalibrated = result.document["estimator"]["intercept"]
    assert abs(recalibrated - true_intercept) <= 2.5 * result.intercept_shift_se
    assert result.document["status"] == "locally-recalibrated"
    package = load_package(save_package(result.document, tmp_path / "z.json"))
    fresh, y_fresh = _zeng_cohort(2000, seed=12, intercept=true_intercept)
    fit = calibration(y_fresh, package.predict_proba(fresh))
    assert fit.slope_ci[0] <= 1 <= fit.slope_ci[1]
    assert fit.intercept_ci[0] <= 0 <= fit.intercept_ci[1]


def test_recalibrate_cli_with_holdout_validation(tmp_path, capsys):
    frame, y = _zeng_cohort(600, seed=3, intercept=-3.0)
    frame.insert(0, "case_id", [f"z{i}" for i in range(len(frame))])
    features = frame[["case_id", "radscore_dir", "radscore_dpr"]]
    clinical = frame[["case_id", "us_pcr"]].assign(aln_pcr=y)
    features.to_csv(tmp_path / "f.csv", index=False)
    clinical.to_csv(tmp_path / "c.csv", index=False)
    out = tmp_path / "local.json"
    assert main(["recalibrate", "--model", "zeng2025-delta-combined", "--features", str(tmp_path / "f.csv"),
                 "--clinical", str(tmp_path / "c.csv"), "--outcome", "aln_pcr", "--slope", "--holdout", "0.3",
                 "--out", str(out)]) == 0
    assert "status locally-validated" in capsys.readouterr().out
    assert main(["models", "verify", str(out)]) == 0
    pages = tmp_path / "local_validation"  # ROC, calibration, DCA and clinical impact of the held-out cases
    assert (pages / "index.html").is_file() and len([p for p in pages.glob("*.png") if p.stat().st_size]) >= 4
    table = pd.read_csv(pages / "models.csv")
    validation = json.loads((tmp_path / "local_validation.json").read_text(encoding="utf-8"))
    assert table.loc[0, "cohort"] == "held-out" and table.loc[0, "auc"] == pytest.approx(validation["auc"])


@pytest.mark.slow
def test_zeng_package_goes_from_images_to_a_prediction_with_local_radscore_models(tmp_path, capsys):
    """Zeng et al. did not publish the weights of their 9 DIR and 4 DPR features: a site trains its own
    intratumoral and peritumoral delta models, recalibrate embeds them as the package's radscores, and
    the package then predicts from a baseline/on-treatment image pair."""
    from AxillaryPredictorLib.phantoms import LesionSpec, make_pair

    data = ROOT / "tools" / "demo_data"
    features = pd.read_csv(data / "phantom_pcr_features.csv")
    clinical = pd.read_csv(data / "phantom_pcr_clinical.csv")
    for region in ("tumor", "margin3mm"):
        columns = ["case_id", *[c for c in features.columns if c.startswith(f"delta__{region}__")]]
        features[columns].to_csv(tmp_path / f"{region}.csv", index=False)
        assert main(["train", "--features", str(tmp_path / f"{region}.csv"), "--clinical", str(data /
                     "phantom_pcr_clinical.csv"), "--outcome", "aln_pcr", "--recipe", "lasso-lr", "--id",
                     f"site-{region}", "--task", "ALN pCR after NAT", "--out", str(tmp_path / f"{region}.json")]) == 0
    out = tmp_path / "zeng-local.json"
    assert main(["recalibrate", "--model", "zeng2025-delta-combined", "--features",
                 str(data / "phantom_pcr_features.csv"), "--clinical", str(data / "phantom_pcr_clinical.csv"),
                 "--outcome", "aln_pcr",
                 "--score", f"radscore_dir={tmp_path / 'tumor.json'}", "--score",
                 f"radscore_dpr={tmp_path / 'margin3mm.json'}", "--out", str(out)]) == 0
    package = load_package(out)
    assert {d["name"]: d["link"] for d in package.document["derived"]} == {"radscore_dir": "logistic",
                                                                           "radscore_dpr": "logistic"}
    assert package.status == "locally-recalibrated" and "us_pcr" not in package.required_columns()
    # the embedded radscores are the site models' probabilities
    frame = features.merge(clinical, on="case_id")
    site = load_package(tmp_path / "tumor.json")
    assert np.allclose(package.with_derived(frame)["radscore_dir"], site.predict_proba(frame), atol=1e-12)
    baseline, ontreatment = make_pair(seed=4, volume_factor=0.3, lesion=LesionSpec(diameter_mm=26, peritumoral=0.3))
    b, o = baseline.write(tmp_path, "b"), ontreatment.write(tmp_path, "o")
    assert main(["predict", "--model", str(out), "--baseline-image", str(b["image"]), "--baseline-mask",
                 str(b["tumor"]), "--ontreatment-image", str(o["image"]), "--ontreatment-mask", str(o["tumor"]),
                 "--clinical", "us_pcr=yes", "--out", str(tmp_path / "report")]) == 0
    prediction = json.loads((tmp_path / "report" / "prediction.json").read_text(encoding="utf-8"))
    assert 0 < prediction["probability"] < 1 and set(prediction["derived_scores"]) == {"radscore_dir", "radscore_dpr"}
    with pytest.raises(ValueError, match="not an input of zeng2025-delta-combined"):
        recalibrate(find_model("zeng2025-delta-combined"), frame, frame["aln_pcr"], scores={"radscore_x": site})
