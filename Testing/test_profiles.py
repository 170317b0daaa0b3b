"""Extraction profiles against the papers: every shipped profile is extracted (real pyradiomics through
our engine, on a small phantom) and the features it really gives are counted against the numbers its
YAML (``feature_count``, ``paper``), docs/extraction.md and ``axillary-predictor profiles`` state, and
against the class counts the papers publish."""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
import yaml

from AxillaryPredictorLib.errors import ExtractionError
from AxillaryPredictorLib.extraction.engine import extract
from AxillaryPredictorLib.extraction.profiles import list_profiles, load_profile
from AxillaryPredictorLib.phantoms import LesionSpec, make_phantom

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "extraction.md"
US_2D = Path(__file__).parent / "fixtures" / "profiles" / "us-2d.yaml"
#: the phantom preset for each profile's modality (US and mammography: one-slice images)
PRESETS = {"US": "us", "MG": "us", "DBT": "dbt-cc", "MR": "dce"}
WAVELET_3D = {f"wavelet-{b}" for b in ("LLL", "LLH", "LHL", "LHH", "HLL", "HLH", "HHL", "HHH")}


@cache
def _features(profile: str) -> dict[str, float]:
    """One region of one view extracted with ``profile`` (a 6 mm lesion: about a second each)."""
    loaded = load_profile(profile)
    phantom = make_phantom(PRESETS[loaded.modality], seed=2, lesion=LesionSpec(diameter_mm=6))
    result = extract({"V": (phantom.image, {"tumor": phantom.tumor})}, loaded, workers=1)
    return {column.split("__")[2]: value for column, value in result.features.items()}


def _by_image_and_class(features: dict[str, float]) -> Counter:
    """Feature counts by (image type, class), e.g. ("wavelet-LLH", "glcm")."""
    return Counter(tuple(name.split("_")[:2]) for name in features)


@pytest.mark.parametrize("profile", list_profiles())
def test_each_profile_gives_the_count_it_declares(profile):
    loaded = load_profile(profile)
    assert loaded.feature_count is not None and loaded.paper is not None
    assert len(_features(profile)) == loaded.feature_count
    paper = loaded.paper
    assert paper["difference"] == loaded.feature_count * paper["views"] - paper["feature_count"]


def test_he_matches_the_papers_class_counts():
    """He et al. count 3,562 features per ROI over CC + MLO: shape 28, first order 396, GLCM 528, GLRLM 352,
    GLSZM 352, GLDM 308, NGTDM 110 on the non-wavelet images, and 1,488 wavelet features."""
    counts = _by_image_and_class(_features("he2025-dbt"))
    views = load_profile("he2025-dbt").paper["views"]
    assert views == 2
    non_wavelet = Counter()
    for (image, feature_class), n in counts.items():
        if not image.startswith("wavelet") and feature_class != "shape":
            non_wavelet[feature_class] += n * views
    assert non_wavelet == {"firstorder": 396, "glcm": 528, "glrlm": 352, "glszm": 352, "gldm": 308, "ngtdm": 110}
    assert counts["original", "shape"] * views == 28
    assert sum(n for (image, _), n in counts.items() if image.startswith("wavelet")) * views == 1488
    assert {image for image, _ in counts if image.startswith("wavelet")} == WAVELET_3D
    assert {"log-sigma-3-0-mm-3D", "logarithm", "exponential", "lbp-3D-k"} <= {image for image, _ in counts}
    assert len(_features("he2025-dbt")) * views == 3562


def test_lu_matches_the_papers_class_counts():
    """Lu et al.: 10 images (original, one LoG, 8 wavelet) x 91 (first order 18, GLCM 22, GLRLM 16, GLSZM 16,
    GLDM 14, NGTDM 5) + shape (the paper: 16; pyradiomics 3.0.1's full list: 17)."""
    counts = _by_image_and_class(_features("lu2025-dce"))
    images = {image for image, feature_class in counts if feature_class != "shape"}
    assert len(images) == 10 and {"original", *WAVELET_3D} < images
    assert len([image for image in images if image.startswith("log-sigma")]) == 1
    per_image = {"firstorder": 18, "glcm": 22, "glrlm": 16, "glszm": 16, "gldm": 14, "ngtdm": 5}
    for image in images:
        assert {c: n for (i, c), n in counts.items() if i == image and c != "shape"} == per_image, image
    assert counts["original", "shape"] == 17
    assert "original_glcm_SumAverage" not in _features("lu2025-dce")
    assert "original_glcm_MCC" not in _features("lu2025-dce")


@pytest.mark.parametrize("profile", ["zhang2025-us", "liu2025-mammography"])
def test_one_slice_profiles_are_pyradiomics_3d_defaults_with_zero_through_slice_wavelets(profile):
    """851 = 14 3D shape + 9 x 93 (original + 8 wavelet sub-bands) on a one-slice image; the sub-bands with
    a high-pass across the slice are numerically zero images (docs/extraction.md)."""
    features = _features(profile)
    counts = _by_image_and_class(features)
    assert counts["original", "shape"] == 14 and not any(c == "shape2D" for _, c in counts)
    assert {image for image, _ in counts} == {"original", *WAVELET_3D}
    intensity_range = features["original_firstorder_Range"]
    assert intensity_range > 10
    for band in ("LLH", "LHH", "HLH", "HHH"):
        assert features[f"wavelet-{band}_firstorder_Range"] < 1e-5 * intensity_range, band
    for band in ("LLL", "LHL", "HLL", "HHL"):
        assert features[f"wavelet-{band}_firstorder_Range"] > 1e-2 * intensity_range, band


def test_a_2d_profile_gives_474_and_the_docs_snippet_is_that_profile(tmp_path):
    """The genuinely 2D alternative (force2D): 9 2D shape + 5 x 93; the YAML snippet in docs/extraction.md
    loads and gives the count it states."""
    features = _features(str(US_2D))
    assert len(features) == load_profile(US_2D).feature_count == 474
    assert _by_image_and_class(features)["original", "shape2D"] == 9
    snippet = re.search(r"use a profile of your own:\n\n```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    (tmp_path / "mine.yaml").write_text(snippet.group(1), encoding="utf-8")
    mine = load_profile(tmp_path / "mine.yaml")
    assert mine.hash == load_profile(US_2D).hash and mine.feature_count == 474


def _docs_rows(heading: str) -> dict[str, list[str]]:
    """The rows of the first table after ``heading`` in docs/extraction.md, by profile name."""
    text = DOCS.read_text(encoding="utf-8").split(heading, 1)[1]
    table = re.search(r"((?:^\|.*\n)+)", text, re.M).group(1)
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in table.splitlines()[2:]]
    return {row[0].strip("`"): row for row in rows}


def _numbers(cell: str) -> list[int]:
    return [int(n.replace(",", "").replace("−", "-")) for n in re.findall(r"[−+-]?\d[\d,]*", cell)]


def test_docs_tables_state_the_counts_of_the_yaml():
    profiles = _docs_rows("## Profiles\n")
    papers = _docs_rows("## Feature counts against the papers\n")
    assert set(profiles) == set(papers) == set(list_profiles())
    for name in list_profiles():
        loaded = load_profile(name)
        assert _numbers(profiles[name][2])[-1] == loaded.feature_count, name
        paper_cell, ours_cell, difference_cell = papers[name][2:5]
        assert _numbers(paper_cell)[0] == loaded.paper["feature_count"], name
        assert _numbers(ours_cell)[0] == loaded.feature_count, name
        if loaded.paper["views"] > 1:
            assert _numbers(ours_cell)[-1] == loaded.feature_count * loaded.paper["views"], name
        assert _numbers(difference_cell) == [loaded.paper["difference"]], name
        if loaded.paper["doi"]:
            assert f"doi:{loaded.paper['doi']}" in papers[name][1], name


def test_profiles_command_shows_counts_and_notes(capsys):
    from AxillaryPredictorLib.cli.main import main

    assert main(["profiles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["profile", "modality"]
    for name in list_profiles():
        loaded = load_profile(name)
        line = next(line for line in lines if line.startswith(name + " "))
        cells = re.split(r"\s{2,}", line)
        assert _numbers(cells[2]) == [loaded.feature_count] and _numbers(cells[3])[0] == loaded.paper["feature_count"]
        assert _numbers(cells[4]) == [loaded.paper["difference"]] and cells[5] == loaded.paper["note"]
    assert main(["profiles", "--details"]) == 0
    details = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["name"] for d in details] == list_profiles()
    assert all(d["feature_count"] == load_profile(d["name"]).feature_count and d["paper"] for d in details)


@pytest.mark.parametrize(("change", "message"), [
    ({"difference": 5}, "paper 'difference' is 5, but 474 x 1 - 851 = -377"),
    ({"pages": 3}, "unknown: pages"),
    ({"feature_count": "851"}, "must be whole numbers"),
])
def test_inconsistent_declared_counts_are_refused(tmp_path, change, message):
    document = yaml.safe_load(US_2D.read_text(encoding="utf-8"))
    document["axillaryPredictor"]["paper"] = {"feature_count": 851, "views": 1, **change}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(ExtractionError, match=re.escape(message)):
        load_profile(tmp_path / "p.yaml")


def test_the_published_he_signature_reads_features_its_profile_gives():
    """The 12 features of He et al.'s RadScore (he2025-dbt-signature) are all extracted by he2025-dbt,
    and the package records that profile's current hash."""
    from AxillaryPredictorLib.packages.registry import find_model

    document = find_model("he2025-dbt-signature").document
    assert document["inputs"]["profile"]["sha256"] == load_profile("he2025-dbt").hash
    assert {feature.split("__")[2] for feature in document["features"]} <= set(_features("he2025-dbt"))
