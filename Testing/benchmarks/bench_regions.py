"""Benchmark: building the 7 regions (3/5/10 mm) vs one signed distance map of the whole volume.

Prints both times measured in the same run and their ratio (target: <= 1.3), for a lesion at the
centre of the volume and for one near its far corner (the distance map's box starts at index 0
along axes with non-dyadic spacing, so the far corner is the worst case).
Run: python Testing/benchmarks/bench_regions.py
"""

from __future__ import annotations

import time

import numpy as np
import SimpleITK as sitk

from AxillaryPredictorLib.imaging.regions import build_regions


def lesion_volume(shape=(120, 256, 256), spacing=(0.7, 0.7, 1.5), centre=None) -> sitk.Image:
    rng = np.random.default_rng(0)
    k, j, i = np.indices(shape)
    centre = np.array(shape) / 2 if centre is None else np.array(centre)
    r = np.sqrt(((k - centre[0]) * spacing[2]) ** 2 + ((j - centre[1]) * spacing[1]) ** 2
                + ((i - centre[2]) * spacing[0]) ** 2)
    mask = (r < 12 + rng.normal(0, 0.5, shape)).astype(np.uint8)
    image = sitk.GetImageFromArray(mask)
    image.SetSpacing(spacing)
    return image


def best_of(function, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    for where, centre in (("centre", None), ("far corner", (100, 216, 216))):
        mask = lesion_volume(centre=centre)
        distance = best_of(lambda mask=mask: sitk.SignedMaurerDistanceMap(
            mask, insideIsPositive=False, squaredDistance=True, useImageSpacing=True))
        regions = best_of(lambda mask=mask: build_regions(mask, (3, 5, 10)))
        print(f"lesion at the {where}: volume {mask.GetSize()} spacing {mask.GetSpacing()}")
        print(f"  one signed distance map (whole volume): {distance:.3f} s")
        print(f"  build 7 regions:                        {regions:.3f} s")
        print(f"  ratio regions / distance map: {regions / distance:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
