"""Benchmark: the shared-grid engine vs the pyradiomics reference path, in one process, interleaved.

Default: the he2025-dbt profile, 7 regions (tumor + 3/5/10 mm, rings) x 2 views (CC, MLO) of a DBT
phantom with an 18 mm lesion. Each round runs the reference (pyradiomics' ``execute`` per region, one
process), then the engine with 1 worker and with 2 workers, on the same preprocessed views; the ratios
reference/engine are taken per round and their medians reported, so load from other processes on the
machine affects both sides of each ratio alike. A warm-up run (numba kernels, imports) comes first.

Ends with::

    engine w=1: ratio reference/engine = X, max relative difference Y
    engine w=2: ratio reference/engine = X, max relative difference Y
    peak memory per worker: Z MB

Targets: >= 3 (w=1), >= 5 (w=2), <= 1500 MB. "peak memory per worker" is the largest peak resident
set size of the engine's worker processes (w=2) and of a separate process running the engine with
w=1 (``--memory-only``), not of this process, which also holds the reference run.

Run: python Testing/benchmarks/bench_extraction.py [--diameter 10|18|40] [--profile zeng2025-dce-delta] [--rounds 3]
"""

from __future__ import annotations

import argparse
import logging
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

from AxillaryPredictorLib.extraction.engine import extract
from AxillaryPredictorLib.extraction.profiles import load_profile
from AxillaryPredictorLib.imaging.preprocessing import PreparedView, prepare_view
from AxillaryPredictorLib.imaging.regions import build_regions
from AxillaryPredictorLib.phantoms import LesionSpec, make_pair, make_phantom


def prepared_views(profile_name: str, diameter: float) -> list[PreparedView]:
    """DBT profiles: CC and MLO views with tumor + 3/5/10 mm regions; others: the two DCE timepoints of a
    treatment pair (T0, T1; what a delta profile extracts) with tumor + 3 mm regions."""
    profile = load_profile(profile_name)
    lesion = LesionSpec(diameter_mm=diameter, lobulation=0.2, spiculation=0.2)
    if profile.modality == "DBT":
        phantoms = [("CC", make_phantom("dbt-cc", seed=7, lesion=lesion)),
                    ("MLO", make_phantom("dbt-mlo", seed=7, lesion=lesion))]
        margins: tuple[float, ...] = (3, 5, 10)
    else:
        phantoms = list(zip(("T0", "T1"), make_pair(seed=7, lesion=lesion), strict=True))
        margins = (3,)
    return [prepare_view(phantom.image, build_regions(phantom.tumor, margins), profile, view=view)
            for view, phantom in phantoms]


def max_relative_difference(values: dict[str, float], reference: dict[str, float]) -> tuple[float, int]:
    """Largest |engine - reference| / |reference| over the finite values, and the NaN pattern mismatches."""
    engine = np.array([values.get(k, np.nan) for k in reference])
    expected = np.array(list(reference.values()))
    both = np.isfinite(engine) & np.isfinite(expected)
    relative = np.abs(engine[both] - expected[both]) / np.maximum(np.abs(expected[both]), 1e-300)
    relative[engine[both] == expected[both]] = 0.0
    return float(relative.max(initial=0.0)), int((np.isnan(engine) != np.isnan(expected)).sum())


def engine_peak_mb(profile_name: str, diameter: float) -> float:
    """Peak RSS of a fresh process that prepares the views and runs the engine with 1 worker."""
    output = subprocess.run([sys.executable, __file__, "--memory-only", "--profile", profile_name,
                             "--diameter", str(diameter)], capture_output=True, text=True, check=True).stdout
    return float(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--diameter", type=float, default=18.0, help="lesion diameter in mm (e.g. 10, 18, 40)")
    parser.add_argument("--profile", default="he2025-dbt", help="e.g. he2025-dbt, zeng2025-dce-delta")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    profile = load_profile(args.profile)
    prepared = prepared_views(args.profile, args.diameter)
    if args.memory_only:
        extract({}, profile, engine="shared", workers=1, prepared=prepared)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        return
    print(f"profile {profile.name}, lesion {args.diameter:g} mm, {len(prepared[0].regions)} regions x "
          f"{len(prepared)} views, shared grids {[p.image.GetSize() for p in prepared]}")
    warm = extract({}, profile, engine="shared", workers=1, prepared=prepared)
    print(f"texture matrices: {warm.provenance.get('kernels', '?')}")
    runs = (("reference", "pyradiomics", 1), ("engine w=1", "shared", 1), ("engine w=2", "shared", 2))
    times: dict[str, list[float]] = {label: [] for label, _, _ in runs}
    cpu: dict[str, list[float]] = {label: [] for label, _, _ in runs}
    results: dict[str, dict[str, float]] = {}
    for round_index in range(args.rounds):
        for label, engine, workers in runs:
            start, start_cpu = time.perf_counter(), time.process_time()
            results[label] = extract({}, profile, engine=engine, workers=workers, prepared=prepared).features
            times[label].append(time.perf_counter() - start)
            cpu[label].append(time.process_time() - start_cpu)
        print(f"round {round_index + 1}: " + ", ".join(f"{label} {times[label][-1]:.2f} s" for label, _, _ in runs))
    print(f"{len(results['reference'])} features per run")
    lines = []
    for label in ("engine w=1", "engine w=2"):
        ratio = statistics.median(r / e for r, e in zip(times["reference"], times[label], strict=True))
        difference, nan_mismatches = max_relative_difference(results[label], results["reference"])
        if nan_mismatches:
            print(f"{label}: {nan_mismatches} NaN mismatches")
        lines.append(f"{label}: ratio reference/engine = {ratio:.2f}, max relative difference {difference:.2e}")
    workers_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    peak = max(workers_peak, engine_peak_mb(args.profile, args.diameter))
    cpu_ratio = statistics.median(r / e for r, e in zip(cpu["reference"], cpu["engine w=1"], strict=True))
    reference_cpu, engine_cpu = statistics.median(cpu["reference"]), statistics.median(cpu["engine w=1"])
    print(f"this process's CPU time, reference/engine w=1 = {cpu_ratio:.2f} (less sensitive to other load; "
          f"reference {reference_cpu:.1f} s, engine {engine_cpu:.1f} s)")
    print("targets: ratio >= 3 (w=1), >= 5 (w=2); peak memory <= 1500 MB")
    print("\n".join(lines))
    print(f"peak memory per worker: {peak:.0f} MB")


if __name__ == "__main__":
    main()
