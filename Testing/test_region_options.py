"""Tissue exclusion on every command (the same flags as ``regions``, one region path) and its record;
packages record the views, regions and timepoints of the columns their model uses; ``train --groups
region`` on delta columns gives one score per region (Zeng et al. 2025's DIR and DPR)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from AxillaryPredictorLib.cli.main import main
from AxillaryPredictorLib.errors import InputError
from AxillaryPredictorLib.modeling.cohort_tables import (
    PLAIN_GROUP,
    column_scheme,
    feature_groups,
    recorded_settings,
    table_inputs,
)
from AxillaryPredictorLib.packages.package import load_package
from AxillaryPredictorLib.packages.semantics import raw_columns
from AxillaryPredictorLib.phantoms import LesionSpec, make_pair, make_phantom

#: one feature (firstorder Mean of the original image, no preprocessing): its value on a region is the
#: image's mean over the region's voxels, so the clipped ring can be checked from the table
TINY_PROFILE = "imageType: {Original: {}}\nfeatureClass: {firstorder: [Mean]}\nsetting: {binWidth: 25}\n"
RINGS = ("margin3mm", "tumor_margin3mm", "margin10mm", "tumor_margin10mm")


# ------------------------------------------------------------------------------ column schemes


def test_groups_and_package_inputs_for_every_column_scheme():
    single = ["tumor__DCE3__original_firstorder_Mean", "margin3mm__DCE3__original_glcm_Idm"]
    assert column_scheme(single) == "radiomics"
    assert feature_groups(single, "region") == {"tumor": [single[0]], "margin3mm": [single[1]]}
    assert feature_groups(single, "view") == {"DCE3": single}
    assert table_inputs(single) == {"views": ["DCE3"], "regions": ["tumor", "margin3mm"], "timepoints": [],
                                    "margins_mm": [3.0]}

    views = ["tumor__MLO__original_firstorder_Mean", "margin10mm__CC__wavelet-LLH_glcm_Idm",
             "tumor_margin2p5mm__CC__original_shape_Sphericity", "tumor__CC__original_firstorder_Mean",
             "node__CC__deep-resnet18_7"]
    assert feature_groups(views, "region") == {"tumor": [views[0], views[3]], "margin10mm": [views[1]],
                                               "tumor_margin2p5mm": [views[2]], "node": [views[4]]}
    assert feature_groups(views, "view") == {"MLO": [views[0]], "CC": views[1:]}
    assert table_inputs(views) == {"views": ["MLO", "CC"], "timepoints": [], "margins_mm": [2.5, 10.0],
                                   "regions": ["tumor", "tumor_margin2p5mm", "margin10mm", "node"]}

    delta = ["delta__tumor__DCE3__original_firstorder_Mean", "delta__margin3mm__DCE3__original_glcm_Idm",
             "baseline__tumor__DCE3__original_shape_MeshVolume", "complete_response"]
    assert column_scheme(delta) == "radiomics"
    assert feature_groups(delta, "region") == {"tumor": [delta[0], delta[2]], "margin3mm": [delta[1]]}
    assert table_inputs(delta) == {"views": ["DCE3"], "regions": ["tumor", "margin3mm"],
                                   "timepoints": ["baseline", "ontreatment"], "margins_mm": [3.0]}

    plain = ["original_firstorder_Mean", "complete_response", "tumor__DCE3__original_firstorder_Mean"]
    assert column_scheme(plain) == "plain" and column_scheme(["complete_response"]) == "plain"
    assert feature_groups(plain, "region") == {PLAIN_GROUP: plain[:2], "tumor": plain[2:]}
    with pytest.raises(InputError, match=r"single-timepoint columns .* and delta columns"):
        table_inputs([single[0], delta[0]])


# ---------------------------------------------------------------------------------- training


def _delta_tables(folder: Path, n: int = 120, seed: int = 0) -> tuple[Path, Path]:
    """A delta table (15 features per region, a planted signal in one tumor and one margin feature, the
    complete_response flag) and a clinical table with a binary ultrasound finding."""
    rng = np.random.default_rng(seed)
    columns = {f"delta__{region}__DCE3__original_firstorder_F{j}": rng.normal(size=n)
               for region in ("tumor", "margin3mm") for j in range(15)}
    features = pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], **columns, "complete_response": 0.0})
    us = rng.integers(0, 2, n)
    signal = (features["delta__tumor__DCE3__original_firstorder_F0"]
              + features["delta__margin3mm__DCE3__original_firstorder_F1"] + 0.8 * us)
    clinical = pd.DataFrame({"case_id": features["case_id"], "us_pcr": us,
                             "pcr": (signal + rng.normal(0, 0.7, n) > 0.4).astype(int)})
    features.to_csv(folder / "delta.csv", index=False)
    clinical.to_csv(folder / "clinical.csv", index=False)
    return folder / "delta.csv", folder / "clinical.csv"


def test_train_groups_delta_columns_by_region_and_the_package_records_the_pair(tmp_path, capsys):
    """Zeng et al.'s DIR and DPR: one RadScore of the intratumoral and one of the 3 mm peritumoral delta
    features, combined with the ultrasound finding; the package needs a baseline / on-treatment pair,
    the tumor and its 3 mm ring, the delta mode and tissue exclusion its table's sidecar records."""
    features, clinical = _delta_tables(tmp_path)
    sidecar = {"provenance": {"mode": "log-ratio", "regions": {
        "settings": {"margins_mm": [3.0], "exclude_below": 20.0, "components": "largest"},
        "excluded_masks": {"c1": {"baseline/DCE3": ["wall.nrrd"]}}}}}
    Path(f"{features}.json").write_text(json.dumps(sidecar), encoding="utf-8")
    assert main(["train", "--features", str(features), "--clinical", str(clinical), "--outcome", "pcr",
                 "--clinical-vars", "us_pcr", "--groups", "region", "--task", "ALN pCR after NAT",
                 "--out", str(tmp_path / "zeng.json")]) == 0
    assert "complete_response belong(s) to no region" in capsys.readouterr().out
    document = load_package(tmp_path / "zeng.json").document
    derived = {d["name"]: d["features"] for d in document["derived"]}
    assert list(derived) == ["tumor", "margin3mm"]
    assert all(c.startswith("delta__tumor__") for c in derived["tumor"])
    assert all(c.startswith("delta__margin3mm__") for c in derived["margin3mm"])
    assert "delta__tumor__DCE3__original_firstorder_F0" in derived["tumor"]
    assert "delta__margin3mm__DCE3__original_firstorder_F1" in derived["margin3mm"]
    assert document["features"] == ["tumor", "margin3mm", "us_pcr"]
    inputs = document["inputs"]
    assert {k: inputs[k] for k in ("views", "regions", "timepoints", "margins_mm", "delta_mode")} == {
        "views": ["DCE3"], "regions": ["tumor", "margin3mm"], "timepoints": ["baseline", "ontreatment"],
        "margins_mm": [3.0], "delta_mode": "log-ratio"}
    assert document["provenance"]["training_regions"] == {"exclude_below": 20.0, "components": "largest",
                                                          "excluded_masks": True}


def test_a_delta_model_may_use_the_complete_response_flag(tmp_path):
    """Without groups, ``complete_response`` is a candidate like any delta column: a package that keeps it
    is valid and asks for a baseline / on-treatment pair."""
    features, clinical = _delta_tables(tmp_path, seed=2)
    table, outcome = pd.read_csv(features), pd.read_csv(clinical)
    table["complete_response"] = ((outcome["pcr"] == 1) & (np.arange(len(table)) % 3 == 0)).astype(float)
    table.to_csv(features, index=False)
    assert main(["train", "--features", str(features), "--clinical", str(clinical), "--outcome", "pcr",
                 "--out", str(tmp_path / "m.json")]) == 0
    document = load_package(tmp_path / "m.json").document
    assert "complete_response" in document["features"]
    assert document["inputs"]["timepoints"] == ["baseline", "ontreatment"]
    assert document["inputs"]["delta_mode"] == "relative" and document["inputs"]["column_scheme"] == "radiomics"


def test_train_on_a_two_view_table_records_the_views_and_regions_its_model_uses(tmp_path):
    rng = np.random.default_rng(5)
    n = 120
    names = [f"{region}__{view}__original_firstorder_F{j}" for view in ("CC", "MLO")
             for region in ("tumor", "margin10mm", "margin5mm") for j in range(6)]
    features = pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], **{c: rng.normal(size=n) for c in names}})
    signal = features["tumor__CC__original_firstorder_F0"] + features["margin10mm__MLO__original_firstorder_F2"]
    clinical = pd.DataFrame({"case_id": features["case_id"], "aln": (signal + rng.normal(0, 0.6, n) > 0).astype(int)})
    features.to_csv(tmp_path / "f.csv", index=False)
    clinical.to_csv(tmp_path / "c.csv", index=False)
    assert main(["train", "--features", str(tmp_path / "f.csv"), "--clinical", str(tmp_path / "c.csv"), "--outcome",
                 "aln", "--groups", "view", "--profile", "he2025-dbt", "--out", str(tmp_path / "m.json")]) == 0
    document = load_package(tmp_path / "m.json").document
    assert [d["name"] for d in document["derived"]] == ["CC", "MLO"]
    used = [c.split("__") for c in raw_columns(document)]
    assert "tumor__CC__original_firstorder_F0" in raw_columns(document)
    order = {"tumor": 0, "margin5mm": 1, "margin10mm": 2}
    inputs = document["inputs"]
    assert inputs["views"] == ["CC", "MLO"] and inputs["timepoints"] == [] and inputs["delta_mode"] is None
    assert inputs["regions"] == sorted({region for region, _, _ in used}, key=order.get)
    assert inputs["margins_mm"] == sorted(float(r[6:-2]) for r in inputs["regions"] if r != "tumor")
    assert "provenance" in document and "training_regions" not in document["provenance"]


# ------------------------------------------------------------------------------ tissue exclusion


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A DCE phantom written to disk with a chest-wall mask through half the lesion's surroundings and a
    tissue threshold that clips a fifth of the rest of the 10 mm ring (its darkest voxels)."""
    from AxillaryPredictorLib.imaging.regions import build_region_set

    folder = tmp_path_factory.mktemp("case")
    phantom = make_phantom("dce", seed=6, lesion=LesionSpec(diameter_mm=12))
    files = phantom.write(folder, "c1")
    tumor = sitk.GetArrayFromImage(phantom.tumor).astype(bool)
    wall = np.zeros(tumor.shape, np.uint8)
    wall[:, int(np.flatnonzero(tumor.any(axis=(0, 2))).mean()):, :] = 1
    wall[tumor] = 0
    wall_image = sitk.GetImageFromArray(wall)
    wall_image.CopyInformation(phantom.image)
    sitk.WriteImage(wall_image, str(folder / "wall.nrrd"))
    (folder / "tiny.yaml").write_text(TINY_PROFILE, encoding="utf-8")
    image = sitk.GetArrayFromImage(phantom.image)
    ring = sitk.GetArrayFromImage(build_region_set(phantom.tumor, (10,)).images["margin10mm"]).astype(bool)
    threshold = float(np.percentile(image[ring & (wall == 0)], 20))
    return {"folder": folder, "image": files["image"], "tumor": files["tumor"], "wall": folder / "wall.nrrd",
            "wall_array": wall.astype(bool), "array": image, "threshold": threshold,
            "profile": folder / "tiny.yaml"}


def _regions(image: Path, mask: Path, out: Path, *options: str) -> tuple[dict[str, np.ndarray], dict]:
    assert main(["regions", "--image", str(image), "--mask", str(mask), "--margins", "3,10", *options,
                 "--out", str(out)]) == 0
    report = json.loads((out / "regions.json").read_text(encoding="utf-8"))
    masks = {name: sitk.GetArrayFromImage(sitk.ReadImage(str(out / f"{name}.nrrd"))).astype(bool)
             for name in report["regions"]}
    return masks, report


def _flags(case: dict) -> list[str]:
    return ["--exclude-below", repr(case["threshold"]), "--exclude-mask", str(case["wall"])]


def test_regions_clips_the_rings_to_tissue_outside_the_excluded_masks(case, tmp_path):
    plain, _ = _regions(case["image"], case["tumor"], tmp_path / "plain")
    clipped, report = _regions(case["image"], case["tumor"], tmp_path / "clipped", *_flags(case))
    dark = case["array"] < case["threshold"]
    tissue = ~dark & ~case["wall_array"]
    assert np.array_equal(clipped["tumor"], plain["tumor"])
    for ring in ("margin3mm", "margin10mm"):
        assert np.array_equal(clipped[ring], plain[ring] & tissue)
        assert (plain[ring] & dark & ~case["wall_array"]).any() and (plain[ring] & case["wall_array"]).any()
        assert 0 < clipped[ring].sum() < 0.7 * plain[ring].sum()
        assert np.array_equal(clipped[f"tumor_{ring}"], clipped[ring] | plain["tumor"])
    assert report["region_settings"] == {"margins_mm": [3.0, 10.0], "exclude_below": case["threshold"],
                                         "components": "largest"}
    assert report["excluded_masks"] == [str(case["wall"])]


def test_extract_applies_and_records_the_exclusion_as_regions_does(case, tmp_path):
    masks, _ = _regions(case["image"], case["tumor"], tmp_path / "regions", *_flags(case))
    out = tmp_path / "f.csv"
    assert main(["extract", "--image", str(case["image"]), "--mask", str(case["tumor"]), "--view", "DCE3",
                 "--margins", "3,10", *_flags(case), "--params", str(case["profile"]), "--workers", "1",
                 "--out", str(out)]) == 0
    sidecar = json.loads(Path(f"{out}.json").read_text(encoding="utf-8"))
    assert {d["region"]: d["voxels"] for d in sidecar["diagnostics"]} == {n: int(m.sum()) for n, m in masks.items()}
    table = pd.read_csv(out)
    for name, mask in masks.items():  # the features are those of the clipped regions
        assert table[f"{name}__DCE3__original_firstorder_Mean"].item() == pytest.approx(
            case["array"][mask].mean(), rel=1e-6)
    regions = sidecar["provenance"]["regions"]
    assert regions["settings"]["exclude_below"] == case["threshold"]
    assert regions["excluded_masks"] == {"DCE3": [str(case["wall"])]}
    assert recorded_settings([out]) == {"delta_mode": None, "regions": {
        "exclude_below": case["threshold"], "components": "largest", "excluded_masks": True}}


def test_exclusion_files_name_their_view_or_timepoint(case, tmp_path, capsys):
    common = ["--image", str(case["image"]), "--mask", str(case["tumor"]), "--view", "DCE3", "--params",
              str(case["profile"]), "--out", str(tmp_path / "x.csv")]
    assert main(["extract", *common, "--exclude-mask", f"CC={case['wall']}"]) == 2
    assert "'CC' is not a view or timepoint of this case; choose DCE3" in capsys.readouterr().err
    assert main(["extract", *common, "--exclude-segment", "chest wall"]) == 2
    assert "is a labelmap, not a .seg.nrrd or DICOM SEG" in capsys.readouterr().err
    assert main(["extract", *common, "--exclude-below", "nan"]) == 2
    assert "finite intensity" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_delta_applies_the_exclusion_per_timepoint_and_records_it(case, tmp_path):
    baseline, ontreatment = make_pair(seed=6, volume_factor=0.5, lesion=LesionSpec(diameter_mm=12))
    b, o = baseline.write(tmp_path, "b"), ontreatment.write(tmp_path, "o")
    threshold = repr(case["threshold"])
    out = tmp_path / "delta.csv"
    assert main(["delta", "--baseline-image", str(b["image"]), "--baseline-mask", str(b["tumor"]),
                 "--ontreatment-image", str(o["image"]), "--ontreatment-mask", str(o["tumor"]), "--exclude-below",
                 threshold, "--exclude-mask", f"baseline={case['wall']}", "--profile", str(case["profile"]),
                 "--workers", "1", "--out", str(out)]) == 0
    record = json.loads(Path(f"{out}.json").read_text(encoding="utf-8"))
    assert record["regions"]["excluded_masks"] == {"baseline/DCE3": [str(case["wall"])]}
    assert record["regions"]["settings"]["exclude_below"] == case["threshold"]
    for timepoint, files, options in (("baseline", b, ["--exclude-mask", str(case["wall"])]), ("ontreatment", o, [])):
        masks, _ = _regions(files["image"], files["tumor"], tmp_path / timepoint, "--exclude-below", threshold,
                            *options)
        voxels = record["regions"][f"{timepoint}/DCE3"]["regions"]
        assert voxels["margin3mm"]["voxels"] == int(masks["margin3mm"].sum()) > 0
    assert recorded_settings([out])["delta_mode"] == "relative"


def test_predict_applies_the_given_exclusion_and_records_it_in_the_json_and_report(case, tmp_path):
    masks, _ = _regions(case["image"], case["tumor"], tmp_path / "regions", *_flags(case))
    out = tmp_path / "report"
    assert main(["predict", "--model", "demo-dce-aln", "--image", str(case["image"]), "--mask", str(case["tumor"]),
                 "--clinical", "ki67=30", "--clinical", "us_aln=negative", "--exclude-below",
                 repr(case["threshold"]), "--exclude-mask", f"DCE3={case['wall']}", "--workers", "1",
                 "--out", str(out)]) == 0
    prediction = json.loads((out / "prediction.json").read_text(encoding="utf-8"))
    assert prediction["region_settings"] == {"margins_mm": [3.0], "exclude_below": case["threshold"],
                                             "components": "largest", "excluded_masks": {"DCE3": [str(case["wall"])]}}
    assert prediction["region_voxels"]["DCE3/margin3mm"] == int(masks["margin3mm"].sum())
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "excluded masks" in html and f"DCE3: {case['wall']}" in html and "tissue threshold" in html


def test_cohort_takes_excluded_files_and_segments_from_the_manifest(case, tmp_path):
    """Row c1 excludes the wall as a file, row c2 (the image as a DICOM series, Int16, with a DICOM SEG
    holding the tumor and the chest wall) as a segment: each gives the rings ``regions`` gives its image
    with the wall file."""
    from AxillaryPredictorLib.phantoms.dicom import write_dicom_seg, write_dicom_series

    series = write_dicom_series(sitk.ReadImage(str(case["image"])), tmp_path / "series", case_id="c2")
    wall = sitk.ReadImage(str(case["wall"]))
    seg = write_dicom_seg({"tumor": sitk.ReadImage(str(case["tumor"])), "chest wall": wall}, series,
                          tmp_path / "seg.dcm", case_id="c2")
    expected, _ = _regions(series, seg, tmp_path / "expected", "--segment", "tumor", *_flags(case))
    by_segment, _ = _regions(series, seg, tmp_path / "by-segment", "--segment", "tumor", "--exclude-below",
                             repr(case["threshold"]), "--exclude-segment", "chest wall")
    assert all(np.array_equal(expected[name], by_segment[name]) for name in expected)
    pd.DataFrame([{"case_id": "c1", "view": "DCE3", "image": str(case["image"]), "mask": str(case["tumor"]),
                   "segment": "", "exclude_mask": str(case["wall"]), "exclude_segment": ""},
                  {"case_id": "c2", "view": "DCE3", "image": str(series), "mask": str(seg), "segment": "tumor",
                   "exclude_mask": "", "exclude_segment": "chest wall"}]).to_csv(tmp_path / "m.csv", index=False)
    out = tmp_path / "cohort"
    assert main(["cohort", "extract", str(tmp_path / "m.csv"), "--out", str(out), "--profile", str(case["profile"]),
                 "--margins", "3,10", "--exclude-below", repr(case["threshold"]), "--workers", "1"]) == 0
    diagnostics = pd.read_csv(out / "diagnostics.csv")
    nrrd, _ = _regions(case["image"], case["tumor"], tmp_path / "nrrd", *_flags(case))
    for case_id, masks in (("c1", nrrd), ("c2", expected)):
        voxels = diagnostics[diagnostics.case_id == case_id].set_index("region")["voxels"].to_dict()
        assert voxels == {name: int(mask.sum()) for name, mask in masks.items()}
    sidecar = json.loads((out / "features.csv.json").read_text(encoding="utf-8"))
    assert sidecar["provenance"]["regions"]["excluded_masks"] == {"c1": {"DCE3": [str(case["wall"])]},
                                                                  "c2": {"DCE3": ["segment chest wall"]}}
    assert sidecar["case_regions"]["c1"]["exclude_below"] == case["threshold"]
    assert recorded_settings([out / "features.csv"])["regions"] == {
        "exclude_below": case["threshold"], "components": "largest", "excluded_masks": True}
    # another threshold is another setting: --resume runs the cases again
    assert main(["cohort", "extract", str(tmp_path / "m.csv"), "--out", str(out), "--profile", str(case["profile"]),
                 "--margins", "3,10", "--workers", "1", "--resume"]) == 0
    plain = pd.read_csv(out / "diagnostics.csv")
    assert (plain.set_index(["case_id", "region"])["voxels"] >= diagnostics.set_index(["case_id", "region"])[
        "voxels"]).all() and plain["voxels"].sum() > diagnostics["voxels"].sum()
    assert json.loads((out / "features.csv.json").read_text(encoding="utf-8"))["provenance"]["regions"][
        "excluded_masks"] == {"c1": {"DCE3": [str(case["wall"])]}, "c2": {"DCE3": ["segment chest wall"]}}


def test_predict_warns_when_the_case_is_clipped_otherwise_than_the_training_features(case):
    """A package whose training tables were made with a tissue threshold: a case scored without it (or
    with another) gets a warning; with the same settings, none."""
    import dataclasses

    from AxillaryPredictorLib.imaging.io import read_image, read_mask
    from AxillaryPredictorLib.packages.registry import find_model
    from AxillaryPredictorLib.pipeline import CaseInputs, RegionSettings, Scan, predict_case

    package = find_model("demo-dce-aln")
    trained = {"exclude_below": case["threshold"], "components": "largest", "excluded_masks": False}
    package = dataclasses.replace(package, document={**package.document, "provenance": {
        **package.document["provenance"], "training_regions": trained}})
    image = read_image(case["image"])
    inputs = CaseInputs.single("c1", {"DCE3": Scan(image, read_mask(case["tumor"], reference=image))},
                               {"ki67": 30, "us_aln": "negative"})
    plain = predict_case(package, inputs, workers=1)
    notes = [w for w in plain.warnings if "grown differently from the model's training features" in w]
    assert len(notes) == 1 and f"tissue threshold {case['threshold']:g} at training, none here" in notes[0]
    same = predict_case(package, inputs, RegionSettings((), case["threshold"]), workers=1)
    assert not [w for w in same.warnings if "grown differently" in w]
    assert same.region_voxels["DCE3/margin3mm"] < plain.region_voxels["DCE3/margin3mm"]
