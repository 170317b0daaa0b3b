"""The case report: self-contained HTML (embedded images) shows every element; PDF renders;
key-feature contributions β·z of logistic packages."""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from AxillaryPredictorLib.phantoms import make_phantom
from AxillaryPredictorLib.reporting.nomogram import Nomogram, NomogramPredictor
from AxillaryPredictorLib.reporting.report import (
    DEMONSTRATION_WARNING,
    CaseReport,
    TimepointImages,
    key_feature_rows,
    radscore_with_values,
    write_report,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DATA_URI = "data:image/png;base64,"


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.files: list[str | None] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self.headers: list[str] = []
        self.cells: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes["src"])
            self.files.append(attributes.get("data-file"))
        if tag in ("th", "td"):
            self._in = tag
            (self.headers if tag == "th" else self.cells).append("")
        if "id" in attributes:
            self.ids.add(attributes["id"])

    def handle_endtag(self, tag):
        if tag in ("th", "td"):
            self._in = None

    def handle_data(self, data):
        self.text.append(data)
        if self._in:
            target = self.headers if self._in == "th" else self.cells
            target[-1] += data


def _decoded_png(source: str) -> np.ndarray:
    """The pixels of an embedded ``data:image/png;base64,`` image (fails for anything else)."""
    assert source.startswith(DATA_URI), source[:60]
    data = base64.b64decode(source[len(DATA_URI):], validate=True)
    assert data.startswith(PNG_SIGNATURE) and len(data) > 2000
    pixels = mpimg.imread(io.BytesIO(data), format="png")
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert np.ptp(pixels[..., :3]) > 0  # not a blank image
    return pixels


def _report(status: str = "demonstration") -> CaseReport:
    phantom = make_phantom("dce", seed=2)
    ring = sitk.Subtract(sitk.BinaryDilate(phantom.tumor, (4, 4, 2)), phantom.tumor)
    nomogram = Nomogram(-1.2, (NomogramPredictor("radscore", "continuous", 1.5, (-3.0, 3.0), label="RadScore"),
                               NomogramPredictor("ki67", "categorical", levels=("low", "high"),
                                                 level_effects=(0.0, -0.8), label="Ki-67 status")))
    values = {"radscore": 0.7, "ki67": "high"}
    return CaseReport(
        case_id="SYN-0001", probability=nomogram.probability(values), risk_group="high", threshold=0.42,
        task="ALN metastasis", model_id="demo-dbt", model_card={"status": status, "task": "ALN metastasis",
                                                                "performance": {"cv_auc": 0.81}},
        inputs={"image": "phantom", "margins (mm)": "3"},
        key_features=[{"name": "tumor__DCE__original_firstorder_Mean", "value": 512.0, "coefficient": 0.4}],
        radscore_formula="RadScore = -0.1 + 0.4 × z(tumor__DCE__original_firstorder_Mean)",
        predictor_points=nomogram.points(values), total_points=nomogram.total_points(values), nomogram=nomogram,
        nomogram_values=values, images=[TimepointImages("Baseline", phantom.image, {"tumor": phantom.tumor,
                                                                                     "margin3mm": ring})],
        warnings=["Feature X lies outside the training range (out of distribution)."],
        versions={"AxillaryPredictor": "0.1.0", "profile": "zeng2025-dce-delta (sha256 abc)"})


def test_html_is_self_contained_and_shows_every_element(tmp_path):
    paths = write_report(_report(), tmp_path)
    page = _Collector()
    page.feed(Path(paths["html"]).read_text(encoding="utf-8"))
    assert len(page.images) == 2
    for source, name in zip(page.images, page.files, strict=True):
        pixels = _decoded_png(source)  # embedded, decodes to a real, non-empty PNG
        # the same image is also written beside the page (nomogram.png, slice_*.png)
        assert name and (tmp_path / name).is_file()
        assert (tmp_path / name).read_bytes() == base64.b64decode(source[len(DATA_URI):])
        assert pixels.shape == mpimg.imread(tmp_path / name).shape
    assert set(page.files) == {"nomogram.png", "slice_baseline.png"}
    assert paths["nomogram"] == tmp_path / "nomogram.png" and paths["slice_Baseline"].is_file()
    # nothing on the page points to another file: moved alone, it still shows its images
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "report.html").write_bytes(Path(paths["html"]).read_bytes())
    assert "src='slice_" not in (moved / "report.html").read_text(encoding="utf-8")
    assert "src='nomogram.png'" not in (moved / "report.html").read_text(encoding="utf-8")
    text = " ".join(page.text)
    for element in ("SYN-0001", "risk group", "RadScore", "Model card", "Total points (Nomo-score)",
                    "out of distribution", "Versions and provenance", "zeng2025-dce-delta", DEMONSTRATION_WARNING):
        assert element in text, element
    assert {"result", "nomogram", "radscore", "warning-0"} <= page.ids


def test_unvalidated_model_gets_a_warning(tmp_path):
    text = Path(write_report(_report("locally-recalibrated"), tmp_path)["html"]).read_text(encoding="utf-8")
    assert "has not been validated on local data" in text and DEMONSTRATION_WARNING not in text


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) not installed")
def test_pdf_converts_to_png_pages(tmp_path):
    paths = write_report(_report(), tmp_path)
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(paths["pdf"]), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 4 and all(p.stat().st_size > 1000 for p in pages)


def test_pdf_is_written_with_embedded_html(tmp_path):
    paths = write_report(_report(), tmp_path)
    assert paths["pdf"].read_bytes().startswith(b"%PDF") and paths["pdf"].stat().st_size > 10000


# ------------------------------------------------------- contributions β·z of the key features


def _plain_package():
    from AxillaryPredictorLib.modeling.training import train
    from AxillaryPredictorLib.packages.export import to_package
    from AxillaryPredictorLib.packages.package import load_package, seal

    rng = np.random.default_rng(9)
    z = rng.normal(size=(160, 3))
    X = pd.DataFrame({"tumor_mean": 400 + 80 * z[:, 0], "margin_entropy": 3.1 + 0.2 * z[:, 1],
                      "tumor_volume": 1500 + 900 * z[:, 2]})
    y = (rng.random(160) < 1 / (1 + np.exp(-(z[:, 0] - 0.7 * z[:, 1] + 0.3 * z[:, 2])))).astype(int)
    result = train(X, y, {"name": "t", "classifier": {"kind": "logistic"}, "cv": {"folds": 3, "seed": 0}})
    document = to_package(result, X, y, model_id="plain", title="t", task="ALN metastasis", modality="MR",
                          views=["V"], regions=["tumor"], profile={"name": "zeng2025-dce-delta"})
    return load_package(seal(document)), X


def test_plain_logistic_package_contributions_are_beta_times_z():
    package, X = _plain_package()
    document = package.document
    beta = dict(zip(package.features, document["estimator"]["coefficients"], strict=True))
    mean = dict(zip(package.features, document["standardization"]["mean"], strict=True))
    scale = dict(zip(package.features, document["standardization"]["scale"], strict=True))
    case = X.iloc[[11]]
    rows = key_feature_rows(package, package.design(case))
    assert [r["name"] for r in rows] == sorted(package.features, key=lambda f: -abs(beta[f]))  # formula order
    for row in rows:
        name = row["name"]
        z = (float(case[name].iloc[0]) - mean[name]) / scale[name]
        assert row["value"] == float(case[name].iloc[0]) and row["z"] == pytest.approx(z, rel=1e-12)
        assert row["coefficient"] == beta[name]
        assert row["contribution"] == pytest.approx(beta[name] * z, rel=1e-12, abs=1e-15)
    # intercept + Σ β·z is the model's linear predictor
    lp = document["estimator"]["intercept"] + sum(r["contribution"] for r in rows)
    assert lp == pytest.approx(package.linear_predictor(case)[0], abs=1e-12)
    text = radscore_with_values(package, package.design(case))
    assert text.startswith("RadScore = ") and text.endswith(f"= {lp:.3f}")
    assert f"× ({rows[0]['z']:.3f})" in text


def test_combined_package_contributions_add_up_to_its_radscore():
    from AxillaryPredictorLib.packages.registry import find_model

    package = find_model("demo-dce-aln")
    derived = package.document["derived"][0]
    values = {f: float(np.mean(package.document["training_ranges"][f])) for f in derived["features"]}
    frame = pd.DataFrame([{**values, "ki67": 35, "us_aln": "positive"}])
    rows = key_feature_rows(package, package.design(frame))
    assert {r["name"] for r in rows} == set(derived["features"]) and {r["score"] for r in rows} == {"RadScore"}
    radscore = float(package.with_derived(package.encode_clinical(frame))["radscore"].iloc[0])
    assert derived["intercept"] + sum(r["contribution"] for r in rows) == pytest.approx(radscore, abs=1e-12)
    assert radscore_with_values(package, package.design(frame)).endswith(f"= {radscore:.3f}")


def test_report_shows_the_contributions_and_the_formula_with_values(tmp_path):
    package, X = _plain_package()
    case = X.iloc[[3]]
    report = _report()
    report.key_features = key_feature_rows(package, package.design(case))
    report.radscore_formula = package.document["radscore_formula"]
    report.radscore_values = radscore_with_values(package, package.design(case))
    page = _Collector()
    page.feed(Path(write_report(report, tmp_path)["html"]).read_text(encoding="utf-8"))
    assert "radscore-values" in page.ids
    headers = page.headers[page.headers.index("feature"):][:6]
    assert headers == ["feature", "value", "z (standardized)", "coefficient β", "contribution β·z", "term of"]
    start = page.cells.index(report.key_features[0]["name"])
    for index, row in enumerate(report.key_features):
        cells = page.cells[start + 6 * index:start + 6 * (index + 1)]
        assert cells[0] == row["name"] and cells[4] == f"{row['contribution']:.4g}" and cells[4] != ""
    # rows with β and z but no contribution of their own get β·z filled in
    report.key_features = [{"name": "f", "value": 2.0, "z": 0.5, "coefficient": -0.8}]
    html_text = Path(write_report(report, tmp_path / "b")["html"]).read_text(encoding="utf-8")
    assert "<td>-0.4</td>" in html_text
