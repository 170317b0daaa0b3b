"""Benchmark: the shared-grid engine vs the pyradiomics reference path (one run, same inputs).

DBT profile (he2025-dbt), 7 regions (tumor + 3/5/10 mm) x 2 views (CC, MLO) of a phantom lesion
sized like a real DBT lesion (default 18 mm). Prints the reference time (one process), the engine
at workers=1 and workers=2, the two ratios, and the largest relative difference between values.
Targets: ratio >= 1.3 at workers=1 and >= 2.4 at workers=2.

Run: python Testing/benchmarks/bench_extraction.py [--diameter 18]
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np

from AxillaryPredictorLib.extraction.engine import extract
from AxillaryPredictorLib.extraction.profiles import load_profile
from AxillaryPredictorLib.imaging.preprocessing import prepare_view
from AxillaryPredictorLib.imaging.regions import build_regions
from AxillaryPredictorLib.phantoms import LesionSpec, make_phantom


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--diameter", type=float, default=18.0, help="lesion diameter in mm")
    parser.add_argument("--profile", default="he2025-dbt")
    args = parser.parse_args()
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    profile = load_profile(args.profile)
    lesion = LesionSpec(diameter_mm=args.diameter, lobulation=0.2, spiculation=0.2)
    prepared = []
    for view, preset in (("CC", "dbt-cc"), ("MLO", "dbt-mlo")):
        phantom = make_phantom(preset, seed=7, lesion=lesion)
        prepared.append(prepare_view(phantom.image, build_regions(phantom.tumor, (3, 5, 10)), profile, view=view))
    print(f"profile {profile.name}, lesion {args.diameter:g} mm, 7 regions x 2 views, shared grids "
          f"{[p.image.GetSize() for p in prepared]}")
    timings, results = {}, {}
    for label, engine, workers in (("reference", "pyradiomics", 1), ("engine w=1", "shared", 1),
                                   ("engine w=2", "shared", 2)):
        start = time.perf_counter()
        results[label] = extract({}, profile, engine=engine, workers=workers, prepared=prepared).features
        timings[label] = time.perf_counter() - start
        print(f"{label:12s} {timings[label]:8.2f} s  ({len(results[label])} features)")
    reference = results["reference"]
    for label in ("engine w=1", "engine w=2"):
        values = np.array([results[label][k] for k in reference])
        expected = np.array(list(reference.values()))
        both = np.isfinite(values) & np.isfinite(expected)
        relative = np.abs(values[both] - expected[both]) / np.maximum(np.abs(expected[both]), 1e-9)
        nan_mismatch = int((np.isnan(values) != np.isnan(expected)).sum())
        print(f"{label}: ratio reference/engine = {timings['reference'] / timings[label]:.2f}, "
              f"max relative difference {relative.max():.2e}, NaN mismatches {nan_mismatch}")
    print("targets: >= 1.3 (workers=1), >= 2.4 (workers=2)")


if __name__ == "__main__":
    main()
