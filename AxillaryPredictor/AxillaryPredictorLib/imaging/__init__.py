"""Imaging: read images and masks (files, DICOM series, DICOM SEG), grow peritumoral regions,
preprocess a view for a profile. Image + mask in, regions out; imports no other subpackage."""

from AxillaryPredictorLib.imaging.io import read_image, read_mask, write_image
from AxillaryPredictorLib.imaging.regions import (
    RegionSet,
    build_region_set,
    build_regions,
    parse_margins,
    region_names,
    tissue_mask,
)

__all__ = ["RegionSet", "build_region_set", "build_regions", "parse_margins", "read_image", "read_mask",
           "region_names", "tissue_mask", "write_image"]
