"""DICOM inputs: MR series folders with DICOM SEG tumor/node masks, alone and in cohort manifests."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from AxillaryPredictorLib.cli.main import main
from AxillaryPredictorLib.imaging.io import read_image, read_mask
from AxillaryPredictorLib.phantoms import LesionSpec, make_phantom
from AxillaryPredictorLib.phantoms.dicom import write_dicom_seg, write_dicom_series


def _dicom_case(folder, preset="dce", seed=3, node=True):
    phantom = make_phantom(preset, seed=seed, lesion=LesionSpec(diameter_mm=12), node=node)
    series = write_dicom_series(phantom.image, folder / "series", case_id=f"case{seed}")
    masks = {"tumor": phantom.tumor, **({"node": phantom.node} if node else {})}
    seg = write_dicom_seg(masks, series, folder / "seg.dcm", case_id=f"case{seed}")
    return phantom, series, seg


def _same_grid(a: sitk.Image, b: sitk.Image) -> bool:
    return (a.GetSize() == b.GetSize() and np.allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-6)
            and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-4)
            and np.allclose(a.GetDirection(), b.GetDirection(), atol=1e-6))


@pytest.mark.parametrize("preset", ["dce", "dbt-mlo"])  # axis-aligned anisotropic; oblique direction
def test_dicom_seg_segments_equal_the_labelmaps_voxel_for_voxel(tmp_path, preset):
    phantom, series, seg = _dicom_case(tmp_path, preset)
    image = read_image(series)
    assert _same_grid(image, phantom.image)
    for name, truth in (("tumor", phantom.tumor), ("node", phantom.node)):
        mask = read_mask(seg, segment=name, reference=image)
        assert _same_grid(mask, image) and mask.GetPixelID() == sitk.sitkUInt8
        assert np.array_equal(sitk.GetArrayFromImage(mask), sitk.GetArrayFromImage(truth))
    by_number = read_mask(seg, label=2, reference=image)
    assert np.array_equal(sitk.GetArrayFromImage(by_number), sitk.GetArrayFromImage(phantom.node))


def test_dicom_seg_errors_name_the_segments_and_the_fix(tmp_path):
    _, series, seg = _dicom_case(tmp_path)
    image = read_image(series)
    with pytest.raises(ValueError, match=r"2 segments \(tumor \(number 1\), node \(number 2\)\).*--segment NAME"):
        read_mask(seg, reference=image)
    with pytest.raises(ValueError, match=r"No segment 'lesion'.*tumor \(number 1\)"):
        read_mask(seg, segment="lesion", reference=image)
    with pytest.raises(ValueError, match="No segment number 7"):
        read_mask(seg, label=7, reference=image)
    elsewhere = sitk.Image(image)
    elsewhere.SetOrigin([v + 500.0 for v in image.GetOrigin()])
    with pytest.raises(ValueError, match="does not overlap its image"):
        read_mask(seg, segment="tumor", reference=elsewhere)


def test_cohort_extract_from_dicom_series_seg_and_node_masks(tmp_path):
    """A manifest of DICOM series + DICOM SEG (with the node segment as node_mask) gives the same
    features as the NRRD files of the same phantoms."""
    rows_dicom, rows_nrrd = [], []
    for seed in (3, 4):
        phantom, _, _ = _dicom_case(tmp_path / f"c{seed}", seed=seed)
        files = phantom.write(tmp_path / "nrrd", f"c{seed}")
        rows_dicom.append({"case_id": f"c{seed}", "view": "DCE3", "image": f"c{seed}/series",
                           "mask": f"c{seed}/seg.dcm", "segment": "tumor", "node_mask": f"c{seed}/seg.dcm",
                           "node_segment": "node"})
        rows_nrrd.append({"case_id": f"c{seed}", "view": "DCE3", "image": str(files["image"]),
                          "mask": str(files["tumor"]), "node_mask": str(files["node"])})
    pd.DataFrame(rows_dicom).to_csv(tmp_path / "dicom.csv", index=False)
    pd.DataFrame(rows_nrrd).to_csv(tmp_path / "nrrd.csv", index=False)
    common = ["--margins", "3", "--regions", "tumor,margin3mm,node", "--workers", "1"]
    assert main(["cohort", "extract", str(tmp_path / "dicom.csv"), "--out", str(tmp_path / "a"), *common]) == 0
    assert main(["cohort", "extract", str(tmp_path / "nrrd.csv"), "--out", str(tmp_path / "b"), *common]) == 0
    dicom, nrrd = pd.read_csv(tmp_path / "a" / "features.csv"), pd.read_csv(tmp_path / "b" / "features.csv")
    assert any(c.startswith("node__DCE3__") for c in dicom.columns)
    # the series stores Int16 voxels (the phantom is float): features agree to the rounding, shapes exactly
    shape = [c for c in dicom.columns if "_shape_" in c]
    assert np.array_equal(dicom[shape].to_numpy(), nrrd[shape].to_numpy())
    assert dicom.columns.tolist() == nrrd.columns.tolist()


def test_manifest_reports_a_missing_dicom_segment_before_any_work(tmp_path):
    _dicom_case(tmp_path / "c1", node=False)
    pd.DataFrame([{"case_id": "c1", "image": "c1/series", "mask": "c1/seg.dcm", "segment": "tumour"}]).to_csv(
        tmp_path / "m.csv", index=False)
    assert main(["cohort", "extract", str(tmp_path / "m.csv"), "--out", str(tmp_path / "out"), "--strict"]) == 2
    assert not (tmp_path / "out").exists()
    assert main(["cohort", "extract", str(tmp_path / "m.csv"), "--out", str(tmp_path / "out")]) == 1
    errors = pd.read_csv(tmp_path / "out" / "errors.csv")
    assert errors.loc[0, "step"] == "validate" and "No segment 'tumour'" in errors.loc[0, "message"]


def test_cohort_predict_uses_the_node_mask_column(tmp_path):
    rows = []
    for seed in (8, 9):
        files = make_phantom("us", seed=seed, lesion=LesionSpec(diameter_mm=14), node=True).write(tmp_path, f"u{seed}")
        rows.append({"case_id": f"u{seed}", "image": files["image"].name, "mask": files["tumor"].name,
                     "node_mask": files["node"].name, "us_aln": "positive"})
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    assert main(["cohort", "predict", str(tmp_path / "m.csv"), "--model", "demo-us-aln", "--out",
                 str(tmp_path / "out"), "--workers", "1"]) == 0
    cohort = pd.read_csv(tmp_path / "out" / "predictions.csv")
    single = tmp_path / "single"
    assert main(["predict", "--model", "demo-us-aln", "--image", str(tmp_path / "u8_image.nrrd"), "--mask",
                 str(tmp_path / "u8_tumor.nrrd"), "--node-mask", str(tmp_path / "u8_node.nrrd"),
                 "--clinical", "us_aln=positive", "--out", str(single)]) == 0
    expected = json.loads((single / "prediction.json").read_text(encoding="utf-8"))["probability"]
    assert cohort.loc[0, "probability"] == pytest.approx(expected, rel=1e-12)
