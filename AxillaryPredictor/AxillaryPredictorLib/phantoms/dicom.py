"""Phantom cases as DICOM: an MR image series and a DICOM SEG of its tumor.

For testing the DICOM paths (series folders, DICOM SEG masks in cohort manifests) without
patient data. UIDs are derived from ``case_id`` so the same phantom gives the same files.
"""

from __future__ import annotations

from pathlib import Path

import SimpleITK as sitk

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


def _uid(case_id: str, role: str) -> str:
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=["AxillaryPredictor phantom", case_id, role])


def write_dicom_series(image: sitk.Image, folder: str | Path, *, case_id: str = "phantom") -> Path:
    """Write a 3D image as a single-frame MR DICOM series (one file per slice, Int16)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    volume = sitk.Cast(sitk.Round(image), sitk.sitkInt16)
    d = volume.GetDirection()
    spacing = volume.GetSpacing()
    shared = {
        "0008|0016": MR_IMAGE_STORAGE, "0008|0060": "MR", "0008|0020": "20260101", "0008|0030": "000000",
        "0008|0050": "1", "0008|103e": "Synthetic phantom (no patient data)", "0010|0010": "Phantom^Synthetic",
        "0010|0020": case_id, "0020|000d": _uid(case_id, "study"), "0020|000e": _uid(case_id, "series"),
        "0020|0052": _uid(case_id, "frame"), "0020|0010": "1", "0020|0011": "1",
        "0020|0037": "\\".join(f"{v:.10f}" for v in (d[0], d[3], d[6], d[1], d[4], d[7])),
        "0028|0030": f"{spacing[1]:.10f}\\{spacing[0]:.10f}",
        "0018|0050": f"{spacing[2]:.10f}", "0018|0088": f"{spacing[2]:.10f}",
    }
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(volume.GetDepth()):
        plane = volume[:, :, k:k + 1]  # a one-slice 3D image keeps the slice spacing in the header
        for key, value in shared.items():
            plane.SetMetaData(key, value)
        plane.SetMetaData("0008|0018", _uid(case_id, f"slice{k}"))
        plane.SetMetaData("0020|0013", str(k + 1))
        plane.SetMetaData("0020|0032", "\\".join(f"{v:.10f}" for v in volume.TransformIndexToPhysicalPoint((0, 0, k))))
        writer.SetFileName(str(folder / f"slice{k:04d}.dcm"))
        writer.Execute(plane)
    return folder


def write_dicom_seg(masks: dict[str, sitk.Image], series_folder: str | Path, path: str | Path, *,
                    case_id: str = "phantom") -> Path:
    """Write binary masks (name -> mask on the image's grid) as one DICOM SEG referencing the series
    written by ``write_dicom_series``."""
    import highdicom as hd
    import numpy as np
    import pydicom

    sources = [pydicom.dcmread(f) for f in sorted(Path(series_folder).glob("slice*.dcm"))]  # slice k = file k
    descriptions, stack = [], []
    for number, (name, mask) in enumerate(masks.items(), start=1):
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=name,
            segmented_property_category=hd.sr.CodedConcept("49755003", "SCT", "Morphologically Altered Structure"),
            segmented_property_type=hd.sr.CodedConcept("108369006", "SCT", "Neoplasm"),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL))
        stack.append(sitk.GetArrayFromImage(mask) > 0)
    pixels = np.stack(stack, axis=-1)
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=_uid(case_id, "seg-series"), series_number=2,
        sop_instance_uid=_uid(case_id, "seg"), instance_number=1, manufacturer="AxillaryPredictor",
        manufacturer_model_name="phantom", software_versions="AxillaryPredictor", device_serial_number="0")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(str(path))
    return path
