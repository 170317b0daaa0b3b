"""Scene adapter for regions: tumor segment in, one segment per region out.

The user's segments are never modified. Segments this tool creates carry the tag
``AxillaryPredictor.Region`` (value: the region name), and re-running replaces exactly
those, so edits to other segments survive.
"""

from __future__ import annotations

from typing import Any

import SimpleITK as sitk

from AxillaryPredictorLib.errors import InputError
from AxillaryPredictorLib.imaging.regions import RegionSet

REGION_TAG = "AxillaryPredictor.Region"
#: segmentation node attribute: the settings of the last ``buildRegions`` (JSON)
SETTINGS_ATTRIBUTE = "AxillaryPredictor.RegionSettings"

#: RGB 0..1 colours by region kind; rings are lighter shades of their margin's colour.
REGION_COLORS = {
    "tumor": (0.85, 0.25, 0.20), "node": (0.95, 0.80, 0.20),
    "3mm": (0.20, 0.45, 0.85), "5mm": (0.20, 0.70, 0.45), "10mm": (0.60, 0.35, 0.80),
}
FALLBACK_COLORS = ((0.9, 0.5, 0.1), (0.1, 0.7, 0.8), (0.6, 0.6, 0.2), (0.8, 0.3, 0.6))


def region_color(name: str, index: int = 0) -> tuple[float, float, float]:
    """Colour of a region segment: by margin, rings lighter than tumor+margin regions."""
    if name in REGION_COLORS:
        return REGION_COLORS[name]
    margin = name.replace("tumor_margin", "").replace("margin", "")
    base = REGION_COLORS.get(margin, FALLBACK_COLORS[index % len(FALLBACK_COLORS)])
    if name.startswith("margin"):
        return tuple(min(1.0, 0.5 + c / 2) for c in base)
    return base


def tumor_mask_from_segment(segmentation_node: Any, segment: str, reference_volume: Any) -> sitk.Image:
    """The tumor segment as a UInt8 0/1 image on the reference volume's grid."""
    from AxillaryPredictorLib.scene.nodes import segment_to_image

    if reference_volume is None:
        raise InputError("Select the reference image (the volume the tumor was segmented on).")
    return segment_to_image(segmentation_node, segment, reference_volume)


def paired_scans(baseline: tuple[Any, Any], ontreatment: tuple[Any, Any], segment: str) -> list[tuple]:
    """(image, tumor mask) of a baseline and an on-treatment (volume, segmentation) pair; an
    empty on-treatment segment (complete response) gives an empty mask, not an error."""
    from AxillaryPredictorLib.scene.nodes import segment_is_empty, volume_node_to_image

    scans = []
    for label, (volume, segmentation) in (("baseline", baseline), ("on-treatment", ontreatment)):
        if volume is None or segmentation is None:
            raise InputError(f"Select the {label} image and its segmentation.")
        image = volume_node_to_image(volume)
        if segment_is_empty(segmentation, segment):
            mask = sitk.Image(image.GetSize(), sitk.sitkUInt8)
            mask.CopyInformation(image)
        else:
            mask = tumor_mask_from_segment(segmentation, segment, volume)
        scans.append((image, mask))
    return scans


def created_segments(segmentation_node: Any) -> dict[str, str]:
    """Region name -> segment ID of the segments this tool created in a node."""
    from AxillaryPredictorLib.scene.nodes import segment_ids

    found = {}
    segmentation = segmentation_node.GetSegmentation()
    for segment_id in segment_ids(segmentation_node):
        segment = segmentation.GetSegment(segment_id)
        if segment.HasTag(REGION_TAG):
            found[segment.GetName()] = segment_id
    return found


#: segment showing the lesion component the regions were grown from, when others were discarded
USED_TUMOR = "tumor_largest_component"


def write_region_segments(segmentation_node: Any, region_set: RegionSet, *, skip: tuple[str, ...] = ("tumor", "node"),
                          ) -> dict[str, str]:
    """Add each region (except ``skip``, the user's own segments) as a tagged segment,
    replacing the segments a previous run created. Returns region name -> segment ID."""
    from AxillaryPredictorLib.scene.nodes import import_label_image

    segmentation = segmentation_node.GetSegmentation()
    for segment_id in created_segments(segmentation_node).values():
        segmentation.RemoveSegment(segment_id)
    written = {}
    shown = dict(region_set.images)
    if region_set.components.get("discarded_mm3") and "tumor" in shown:
        # smaller lesion components were left out: show which piece the regions were grown from
        shown = {USED_TUMOR: shown["tumor"], **shown}
    for index, (name, image) in enumerate(shown.items()):
        if name in skip or not sitk.GetArrayViewFromImage(image).any():
            continue
        mapping = import_label_image(segmentation_node, image, {1: name}, {1: region_color(name, index)})
        segment_id = mapping[1]
        segmentation.GetSegment(segment_id).SetTag(REGION_TAG, name)
        written[name] = segment_id
    return written


def empty_mask(image: sitk.Image) -> sitk.Image:
    """An all-zero UInt8 mask on ``image``'s grid (an empty segment: complete response)."""
    mask = sitk.Image(image.GetSize(), sitk.sitkUInt8)
    mask.CopyInformation(image)
    return mask


def record_region_settings(segmentation_node: Any, settings: Any, segment: str,
                           exclude_segments: tuple[str, ...] | list[str] = ()) -> None:
    """Record on the segmentation node how its region segments were grown (saved with the scene)."""
    import json

    record = {**settings.to_dict(), "tumor_segment": segment, "exclude_segments": list(exclude_segments)}
    segmentation_node.SetAttribute(SETTINGS_ATTRIBUTE, json.dumps(record))


def recorded_region_settings(segmentation_node: Any, segment: str) -> tuple[Any, tuple[str, ...]]:
    """(``RegionSettings``, excluded segment names) recorded by ``record_region_settings`` for the
    tumor ``segment``; (None, ()) when regions were not built from that segment."""
    import json

    from AxillaryPredictorLib.pipeline import RegionSettings

    text = segmentation_node.GetAttribute(SETTINGS_ATTRIBUTE) if segmentation_node is not None else None
    if not text:
        return None, ()
    record = json.loads(text)
    if record.get("tumor_segment") != segment:
        return None, ()
    return RegionSettings.from_value(record), tuple(record.get("exclude_segments") or ())
