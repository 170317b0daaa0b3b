"""The case report: HTML parses, references existing images, shows every element; PDF renders."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import SimpleITK as sitk

from AxillaryPredictorLib.nomogram import Nomogram, NomogramPredictor
from AxillaryPredictorLib.phantoms import make_phantom
from AxillaryPredictorLib.report import DEMONSTRATION_WARNING, CaseReport, TimepointImages, write_report


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes["src"])
        if "id" in attributes:
            self.ids.add(attributes["id"])

    def handle_data(self, data):
        self.text.append(data)


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


def test_html_references_existing_images_and_shows_every_element(tmp_path):
    paths = write_report(_report(), tmp_path)
    page = _Collector()
    page.feed(Path(paths["html"]).read_text(encoding="utf-8"))
    assert len(page.images) == 2
    for source in page.images:
        image = tmp_path / source
        assert image.is_file() and image.stat().st_size > 2000
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
