"""Reading images and masks the way users have them; writing outputs atomically.

- ``read_image``: an image file (NRRD, NIfTI, MHA ...) or a DICOM series folder (``series=UID``
  when it holds several; ``phase=N`` for a 4D image or a multi-phase series, ``dicom_phases``);
  RGB(A) is converted to grey levels with the ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B;
- ``read_mask``: a labelmap (choose ``label=N`` when it has several labels), a Slicer
  ``.seg.nrrd`` segmentation or a DICOM SEG (choose ``segment=NAME``), as a UInt8 0/1 image,
  optionally placed on a reference image's grid (``.seg.nrrd`` and DICOM SEG files store only
  the segments' extent);
- an empty, truncated or unknown file is an ``InputError`` naming the file, the cause
  (``read_failure_cause``, not ITK's source file and line) and the fix; a float labelmap with
  fractional values (a probability map) is refused as not a labelmap;
- ``write_image``, ``write_text_atomic``: temporary file in the target folder + rename, so a
  failed or killed run never leaves a half-written file; ``write_texts_atomic``: several files
  as one set (all or none).
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from AxillaryPredictorLib.errors import InputError, InputFileNotFoundError

#: ITU-R BT.601 luma weights for converting RGB(A) ultrasound screenshots to grey levels.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
#: metadata key set by ``to_grayscale`` on the images it converted (its value says how)
CONVERTED_KEY = "AxillaryPredictor_grey_conversion"
logger = logging.getLogger(__name__)


def to_grayscale(image: sitk.Image) -> sitk.Image:
    """RGB(A) -> grey levels Y = 0.299·R + 0.587·G + 0.114·B (alpha ignored); scalars unchanged."""
    components = image.GetNumberOfComponentsPerPixel()
    if components == 1:
        return image
    if components not in (3, 4):
        raise InputError(f"Cannot convert a {components}-component image to grey levels (expected RGB or RGBA).")
    channels = [sitk.Cast(sitk.VectorIndexSelectionCast(image, i), sitk.sitkFloat32) for i in range(3)]
    grey = channels[0] * LUMA_WEIGHTS[0] + channels[1] * LUMA_WEIGHTS[1] + channels[2] * LUMA_WEIGHTS[2]
    grey.CopyInformation(image)
    # travels with the image to preprocessing, which records it in the provenance and warns when
    # the profile is not for ultrasound (an RGB image there is probably the wrong file)
    grey.SetMetaData(CONVERTED_KEY, f"{'RGBA' if components == 4 else 'RGB'} converted to grey levels "
                     "(ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B)")
    return grey


def select_phase(image: sitk.Image, phase: int) -> sitk.Image:
    """One 3D volume of a 4D (multi-phase DCE-MRI) image, by 0-based phase index."""
    if image.GetDimension() != 4:
        raise InputError("select_phase needs a 4D image (e.g. a multi-phase DCE-MRI series).")
    phases = image.GetSize()[3]
    if not 0 <= phase < phases:
        raise InputError(f"Phase {phase} does not exist: the series has phases 0 to {phases - 1}.")
    size = [*image.GetSize()[:3], 0]
    return sitk.Extract(image, size, [0, 0, 0, phase])


def read_image(path: str | Path, *, series: str | None = None, phase: int | None = None) -> sitk.Image:
    """Read an image file or a DICOM series folder (``series``: SeriesInstanceUID when the
    folder holds several series). A 4D image, or a DICOM series holding several volumes
    (``dicom_phases``), needs ``phase`` (0-based DCE-MRI phase index); ``phase`` is ignored for a
    single 3D volume. An RGB image (ultrasound screenshots) is converted to grey levels
    (``to_grayscale``)."""
    image = _read_any(path, series, phase)
    if image.GetDimension() == 4:
        if phase is None:
            raise InputError(f"{Path(path).name} is a 4D series with {image.GetSize()[3]} phases; choose one "
                             "(phase=N, 0-based), e.g. the 3rd post-contrast phase.")
        image = select_phase(image, phase)
    return to_grayscale(image)


def _read_any(path: str | Path, series: str | None, phase: int | None = None) -> sitk.Image:
    path = Path(path)
    if not path.exists():
        raise InputFileNotFoundError(f"No image at {path}.")
    if path.is_file():
        return _read_file(path, "image")
    reader = sitk.ImageSeriesReader()
    series_ids = list(reader.GetGDCMSeriesIDs(str(path)))
    if not series_ids:
        raise InputError(f"The folder {path} holds no DICOM series.")
    if series is None and len(series_ids) > 1:
        listing = "; ".join(f"{uid} ({_series_description(path, uid)})" for uid in series_ids)
        raise InputError(f"The folder {path} holds {len(series_ids)} DICOM series: {listing}. "
                         "Choose one by its SeriesInstanceUID.")
    uid = series or series_ids[0]
    if uid not in series_ids:
        raise InputError(f"Series {uid} is not in {path}; available: {', '.join(series_ids)}.")
    files = list(reader.GetGDCMSeriesFileNames(str(path), uid))
    phases = dicom_phases(files)
    if phases is not None:
        tag, groups = phases
        values = ", ".join(f"{i}: {value}" for i, (value, _) in enumerate(groups))
        if phase is None:
            raise InputError(f"The DICOM series {uid} in {path} holds {len(groups)} phases (volumes told apart by "
                             f"{tag}: {values}); choose one (phase=N, 0-based; CLI: --phase N).")
        if not 0 <= phase < len(groups):
            raise InputError(f"Phase {phase} does not exist: the DICOM series {uid} has phases 0 to "
                             f"{len(groups) - 1} ({tag} {values}).")
        files = groups[phase][1]
    reader.SetFileNames(files)
    try:
        return reader.Execute()
    except RuntimeError as error:
        raise InputError(f"Cannot read the DICOM series {uid} in {path}: {read_failure_cause(error)}. Check that "
                         "every file of the series was copied completely.") from None


def _read_file(path: Path, what: str) -> sitk.Image:
    """``sitk.ReadImage`` with ITK's failure (empty, truncated or unknown file) as an ``InputError``
    naming the file, the cause and the fix (never ITK's source file and line)."""
    if path.stat().st_size == 0:
        raise InputError(f"Cannot read the {what} {path}: the file is empty (0 bytes). {_REREAD_HINT}")
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise InputError(f"Cannot read the {what} {path}: {read_failure_cause(error)}. {_REREAD_HINT}") from None


_REREAD_HINT = "Check the path, or save or copy the file again (e.g. from 3D Slicer: Save as .nrrd)."
#: ITK/NRRD/MetaImage message lines that say where the failure happened, not why
_NOISE = re.compile(r"^(Exception thrown in |\[nrrd\] (nrrdLoad|nrrdRead|_nrrdRead):|\[nrrd\] _nrrdFormat\w+_read:$|"
                    r"Reason: )")  # MetaImage adds errno's 'Reason', stale and misleading for an existing file
_PREFIX = re.compile(r"^(sitk::ERROR: |itk::ERROR: |ITK ERROR: |\[nrrd\] _nrrd\w+: |\w+ImageIO\(0x[0-9a-f]+\): )+")
_TRUNCATED = re.compile(r"fread got only|expected \d+ bytes but received|not read completely|File cannot be read|"
                        r"hit end of header")


def read_failure_cause(error: Exception) -> str:
    """What a SimpleITK read failure means for the user: 'not an image format ITK reads',
    'truncated' (with the reader's byte counts), else the reader's last informative line."""
    text = str(error)
    if "Unable to determine ImageIO reader" in text:
        return ("it is not in an image format SimpleITK can read (NRRD, NIfTI, MetaImage, ...), or its header is "
                "damaged")
    lines = [_PREFIX.sub("", line.strip()) for line in text.strip().splitlines()]
    lines = [line for line in lines if line and not _NOISE.match(line) and not line.endswith(":")]
    detail = lines[-1].rstrip(".") if lines else type(error).__name__
    if _TRUNCATED.search(text):
        return f"the file is truncated or damaged ({detail})"
    return detail


#: DICOM tags telling apart the volumes (phases) of one multi-phase series, in order of preference
PHASE_TAGS = (("0020|0100", "TemporalPositionIdentifier"), ("0020|0012", "AcquisitionNumber"),
              ("0018|1060", "TriggerTime"))


def dicom_phases(files: Sequence[str]) -> tuple[str, list[tuple[str, list[str]]]] | None:
    """The volumes of a DICOM series holding several (multi-phase DCE-MRI interleaved in one
    SeriesInstanceUID): None when every file has its own slice position (one volume); otherwise
    (tag name, [(tag value, files sorted along the slice normal)]) ordered by the tag's value, using
    the first of TemporalPositionIdentifier (0020,0100), AcquisitionNumber (0020,0012) and
    TriggerTime (0018,1060) that every file has and that splits the files into equal-sized volumes
    with one file per slice position. When none does (or the positions are missing or unreliable),
    None with a logged warning: the files are read as one volume, in GDCM's order, as before."""
    headers = []
    for name in files:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(name))
        reader.ReadImageInformation()
        tags = {key: reader.GetMetaData(key).strip() for key, _ in PHASE_TAGS if reader.HasMetaDataKey(key)}
        headers.append((str(name), _slice_position(reader), tags))
    if len({position for _, position, _ in headers}) == len(headers):
        return None
    for key, tag in PHASE_TAGS:
        if not all(key in tags and tags[key] for _, _, tags in headers):
            continue
        groups: dict[str, list[tuple[str, float]]] = {}
        for name, position, tags in headers:
            groups.setdefault(tags[key], []).append((name, position))
        sizes = {len(members) for members in groups.values()}
        unique = all(len({p for _, p in members}) == len(members) for members in groups.values())
        if len(groups) > 1 and len(sizes) == 1 and unique:
            ordered = sorted(groups.items(), key=lambda item: _number_or_text(item[0]))
            return tag, [(value, [n for n, _ in sorted(members, key=lambda m: m[1])]) for value, members in ordered]
    logger.warning("The DICOM series has several images at the same slice position (%d files) and no "
                   "TemporalPositionIdentifier, AcquisitionNumber or TriggerTime separates them into volumes; it is "
                   "read as one volume in GDCM's order.", len(headers))
    return None


def _slice_position(reader: sitk.ImageFileReader) -> float:
    """Position along the slice normal (ImagePositionPatient · (row x column of ImageOrientationPatient)),
    rounded to 1 µm; from the image origin and direction when the tags are missing."""
    try:
        position = np.array([float(v) for v in reader.GetMetaData("0020|0032").split("\\") if v.strip()])
        orientation = np.array([float(v) for v in reader.GetMetaData("0020|0037").split("\\") if v.strip()])
        normal = np.cross(orientation[:3], orientation[3:6])
    except (RuntimeError, ValueError, IndexError):
        position = np.array(reader.GetOrigin())
        direction = np.array(reader.GetDirection()).reshape(reader.GetDimension(), reader.GetDimension())
        normal = direction[:, -1]
    return round(float(position[: len(normal)] @ normal), 3)


def _number_or_text(value: str) -> tuple[int, float | str]:
    try:
        return 0, float(value)
    except ValueError:
        return 1, value


def _series_description(folder: Path, uid: str) -> str:
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid)
    reader = sitk.ImageFileReader()
    reader.SetFileName(files[0])
    reader.ReadImageInformation()
    description = reader.GetMetaData("0008|103e").strip() if reader.HasMetaDataKey("0008|103e") else "no description"
    return f"{description}, {len(files)} files"


def segment_names(path: str | Path) -> dict[str, tuple[int, int]]:
    """Segments of a ``.seg.nrrd``: name -> (layer, label value)."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    keys = set(reader.GetMetaDataKeys())
    segments: dict[str, tuple[int, int]] = {}
    index = 0
    while f"Segment{index}_Name" in keys:
        name = reader.GetMetaData(f"Segment{index}_Name")
        layer = int(reader.GetMetaData(f"Segment{index}_Layer")) if f"Segment{index}_Layer" in keys else 0
        value = int(reader.GetMetaData(f"Segment{index}_LabelValue")) if f"Segment{index}_LabelValue" in keys \
            else index + 1
        segments[name] = (layer, value)
        index += 1
    return segments


def read_mask(path: str | Path, *, label: int | None = None, segment: str | None = None,
              reference: sitk.Image | None = None, tolerance: float | None = None) -> sitk.Image:
    """A UInt8 0/1 mask from a labelmap, a ``.seg.nrrd`` or a DICOM SEG file (see module docstring).

    With ``reference``, a labelmap must be on the image's grid: a ValueError names the
    difference, unless ``tolerance`` (mm) allows nearest-neighbour resampling onto it."""
    from AxillaryPredictorLib.imaging.dicom_seg import is_dicom_seg, read_dicom_seg

    path = Path(path)
    if not path.is_file():
        raise InputFileNotFoundError(f"No mask at {path}.")
    if is_dicom_seg(path):
        return read_dicom_seg(path, segment=segment, label=label, reference=reference)
    image = _read_file(path, "mask")
    if path.name.endswith(".seg.nrrd"):
        return _segment_mask(path, image, segment, reference)
    return _labelmap_mask(image, path, label=label, segment=segment, reference=reference, tolerance=tolerance)


def _labelmap_mask(image: sitk.Image, path: Path, *, label: int | None, segment: str | None,
                   reference: sitk.Image | None, tolerance: float | None) -> sitk.Image:
    """``read_mask`` for a scalar labelmap file: its only label, or ``label``; on the reference grid."""
    if segment is not None:
        raise InputError(f"{path.name} is a labelmap, not a .seg.nrrd segmentation: use label=N instead of segment.")
    mask = _label_mask(path, image, label)
    if reference is not None:
        from AxillaryPredictorLib.imaging.regions import match_grid

        mask = match_grid(mask, reference, f"mask {path.name}", tolerance, against="image")
    return mask


def _segment_mask(path: Path, image: sitk.Image, segment: str | None, reference: sitk.Image | None) -> sitk.Image:
    """One segment of a ``.seg.nrrd`` (the only one when ``segment`` is None), on ``reference``'s grid."""
    segments = segment_names(path)
    if segment is None:
        if len(segments) != 1:
            raise InputError(f"{path.name} has {len(segments)} segments ({', '.join(segments) or 'none'}); "
                             "choose one with segment=NAME (CLI: --segment NAME).")
        segment = next(iter(segments))
    if segment not in segments:
        raise InputError(f"No segment '{segment}' in {path.name}; segments: {', '.join(segments) or 'none'}.")
    layer, value = segments[segment]
    if image.GetNumberOfComponentsPerPixel() > 1:
        image = sitk.VectorIndexSelectionCast(image, layer)
    mask = sitk.Cast(sitk.Equal(image, value), sitk.sitkUInt8)
    if reference is not None:
        mask = sitk.Resample(mask, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return mask


def _label_mask(path: Path, image: sitk.Image, label: int | None) -> sitk.Image:
    """Voxels of ``label`` in a labelmap (any non-zero voxel when it holds a single label)."""
    if image.GetNumberOfComponentsPerPixel() > 1:
        raise InputError(f"{path.name} has several components per voxel; give a scalar labelmap.")
    array = sitk.GetArrayViewFromImage(image)
    _check_labelmap_values(path, array)
    values = [int(v) for v in np.unique(array) if v != 0]
    if label is None:
        if len(values) > 1:
            raise InputError(f"{path.name} has several labels ({', '.join(map(str, values))}); choose the tumor with "
                             "label=N (CLI: --label N).")
        return sitk.Cast(sitk.NotEqual(image, 0), sitk.sitkUInt8)
    if label not in values:
        raise InputError(f"Label {label} is not in {path.name}; labels present: {', '.join(map(str, values))}.")
    return sitk.Cast(sitk.Equal(image, label), sitk.sitkUInt8)


def _check_labelmap_values(path: Path, array: np.ndarray) -> None:
    """A labelmap holds whole numbers; a float image with fractions (a probability map, a
    soft or interpolated segmentation) is refused, with how to make a labelmap of it."""
    if not np.issubdtype(array.dtype, np.floating):
        return
    finite = np.isfinite(array)
    fractional = finite & (array != np.round(array))
    if finite.all() and not fractional.any():
        return  # a labelmap stored as float (0.0/1.0): fine
    if finite.all():
        what = (f"{int(fractional.sum())} voxel(s) with fractional values (range {float(array.min()):g} to "
                f"{float(array.max()):g}); it looks like a probability map or a soft segmentation")
    else:
        what = f"{int((~finite).sum())} NaN or infinite voxel(s)"
    raise InputError(f"{path.name} is not a labelmap: it has {what}. Threshold it into a labelmap (e.g. 1 where "
                     "the value is >= 0.5, 0 elsewhere, saved as an integer image; in 3D Slicer: Segment Editor > "
                     "Threshold) and give that as the mask.")


def write_image(image: sitk.Image, path: str | Path, *, compress: bool = True) -> Path:
    """Write ``image`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{path.name}")
    try:
        sitk.WriteImage(image, str(temporary), compress)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
