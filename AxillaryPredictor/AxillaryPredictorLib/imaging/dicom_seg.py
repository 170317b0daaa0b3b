"""DICOM Segmentation objects (DICOM SEG) as tumor masks, read with highdicom.

A DICOM SEG stores one or more segments as binary (or fractional) frames positioned in the
patient coordinate system (LPS, like SimpleITK). ``read_dicom_seg`` returns one segment as a
UInt8 0/1 image; with ``reference`` (the image the SEG was drawn on) it is placed on that
image's grid by nearest-neighbour resampling, exactly as ``.seg.nrrd`` files are (both store
only the segments' extent). Fractional segments are thresholded at 0.5.

Inside Slicer, DICOM SEG is loaded by the DICOM module (QuantitativeReporting) into a
segmentation node; this module serves the command line and cohort manifests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from AxillaryPredictorLib.errors import InputError

SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"


def _highdicom():
    try:
        import highdicom
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise InputError("Reading DICOM SEG needs highdicom: pip install highdicom "
                         "(installed with axillary-predictor outside Slicer).") from error
    return highdicom


def is_dicom_seg(path: str | Path) -> bool:
    """True when ``path`` is a DICOM file of the Segmentation Storage SOP class."""
    path = Path(path)
    if not path.is_file() or path.name.endswith((".nrrd", ".nii", ".nii.gz", ".mha", ".mhd")):
        return False
    try:
        import pydicom
        from pydicom.errors import InvalidDicomError
    except ImportError:  # pragma: no cover - depends on the installation
        return False
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
    except (InvalidDicomError, OSError, ValueError):
        return False
    return str(header.get("SOPClassUID", "")) == SEGMENTATION_STORAGE


#: what pydicom/highdicom raise for a truncated or damaged file (missing elements, short pixel data)
_DAMAGED = (AttributeError, KeyError, IndexError, ValueError, EOFError, OSError)


def _damaged(path: str | Path, error: Exception) -> InputError:
    detail = " ".join(str(error).split()) or type(error).__name__
    return InputError(f"Cannot read the mask {path}: the DICOM SEG is truncated or damaged ({detail}). Copy or "
                      "export it again (e.g. from the PACS or 3D Slicer).")


def dicom_seg_segments(path: str | Path) -> dict[str, int]:
    """Segments of a DICOM SEG: SegmentLabel -> SegmentNumber."""
    import pydicom

    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
        return {str(item.SegmentLabel): int(item.SegmentNumber) for item in header.SegmentSequence}
    except _DAMAGED as error:
        raise _damaged(path, error) from None


def choose_segment(path: str | Path, segment: str | None, label: int | None) -> int:
    """The SegmentNumber to read: by label (``segment``), by number (``label``), or the only one."""
    segments = dicom_seg_segments(path)
    listing = ", ".join(f"{name} (number {number})" for name, number in segments.items()) or "none"
    name = Path(path).name
    if segment is not None:
        if segment not in segments:
            raise InputError(f"No segment '{segment}' in the DICOM SEG {name}; segments: {listing}.")
        return segments[segment]
    if label is not None:
        if label not in segments.values():
            raise InputError(f"No segment number {label} in the DICOM SEG {name}; segments: {listing}.")
        return label
    if len(segments) != 1:
        raise InputError(f"The DICOM SEG {name} has {len(segments)} segments ({listing}); choose one with "
                         "segment=NAME or label=NUMBER (CLI: --segment NAME / --label N).")
    return next(iter(segments.values()))


def volume_to_sitk(array: np.ndarray, affine: np.ndarray) -> sitk.Image:
    """A highdicom ``Volume`` (array indexed [slice, row, column], 4x4 LPS affine) as a SimpleITK image."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))  # SimpleITK index (x, y, z) = (column, row, slice)
    columns = np.asarray(affine, dtype=float)[:3, [2, 1, 0]]
    spacing = np.linalg.norm(columns, axis=0)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetDirection(tuple(float(v) for v in (columns / spacing).ravel()))
    image.SetOrigin(tuple(float(v) for v in np.asarray(affine)[:3, 3]))
    return image


def _check_pixel_data(seg) -> None:
    """A truncated file has less pixel data than its frames need (ValueError, read as damaged);
    only checked for uncompressed transfer syntaxes (compressed frames have no fixed size)."""
    syntax = getattr(getattr(seg, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None or syntax.is_compressed:
        return
    bits = int(seg.BitsAllocated) * int(seg.Rows) * int(seg.Columns) * int(getattr(seg, "NumberOfFrames", 1))
    if len(seg.PixelData) < (bits + 7) // 8:
        raise ValueError(f"{len(seg.PixelData)} bytes of pixel data, {(bits + 7) // 8} needed")


def read_dicom_seg(path: str | Path, *, segment: str | None = None, label: int | None = None,
                   reference: sitk.Image | None = None) -> sitk.Image:
    """One segment of a DICOM SEG as a UInt8 0/1 mask (on ``reference``'s grid when given)."""
    hd = _highdicom()
    number = choose_segment(path, segment, label)
    try:
        seg = hd.seg.segread(str(path))
        _check_pixel_data(seg)
    except _DAMAGED as error:
        raise _damaged(path, error) from None
    try:
        volume = seg.get_volume(segment_numbers=[number], combine_segments=False, dtype=np.float32)
    except (RuntimeError, ValueError) as error:
        raise InputError(f"The DICOM SEG {Path(path).name} is not a regularly spaced volume ({error}); "
                         "convert it to a labelmap (e.g. in Slicer) and use that instead.") from None
    array = volume.array[..., 0] if volume.array.ndim == 4 else volume.array
    mask = sitk.Cast(volume_to_sitk((array >= 0.5).astype(np.uint8), volume.affine), sitk.sitkUInt8)
    if reference is not None:
        stored = int(np.count_nonzero(sitk.GetArrayViewFromImage(mask)))
        mask = sitk.Resample(mask, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        if stored and not np.any(sitk.GetArrayViewFromImage(mask)):
            raise InputError(f"The DICOM SEG {Path(path).name} does not overlap its image: it was drawn on another "
                             "series or frame of reference. Check the manifest's image for this mask.")
    return mask
