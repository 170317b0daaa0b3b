"""Benchmark: cohort extraction with 1 vs 2 local workers and a 2-worker Dask LocalCluster.

16 phantom DBT cases, he2025-dbt profile, tumor + 3/5/10 mm regions (engine workers=1 in every
case, so parallelism is over cases). Prints cases/minute for each, the speed-up ratios measured in
one run, and the peak resident memory of the worker processes.
Targets: 2 local workers >= 1.7x and 2-worker Dask >= 1.6x the cases/minute of 1 worker.

Run: python Testing/benchmarks/bench_cohort.py [--cases 16]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd

from AxillaryPredictorLib.cohort_run import run_cohort_command
from AxillaryPredictorLib.phantoms import LesionSpec, make_phantom


def write_cases(folder: Path, count: int) -> Path:
    rows = []
    for i in range(count):
        files = make_phantom("dbt-cc", seed=i, lesion=LesionSpec(diameter_mm=10 + i % 6)).write(folder, f"c{i:02d}")
        rows.append({"case_id": f"c{i:02d}", "view": "CC", "image": files["image"].name,
                     "mask": files["tumor"].name})
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    return folder / "manifest.csv"


def warm_up(profile: str = "he2025-dbt") -> bool:
    """One small extraction, so every process timed has its modules imported and its C
    extensions loaded (as a long-running workstation or cluster has): the cold start of the
    first case is not what the benchmark compares."""
    from AxillaryPredictorLib.features import extract
    from AxillaryPredictorLib.regions import build_regions

    phantom = make_phantom("dbt-cc", seed=99, lesion=LesionSpec(diameter_mm=8))
    extract({"CC": (phantom.image, {"tumor": build_regions(phantom.tumor, (3,))["tumor"]})}, profile, workers=1)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=16)
    parser.add_argument("--profile", default="he2025-dbt")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        manifest = write_cases(Path(folder), args.cases)
        warm_up(args.profile)  # the parent (1 worker; local workers are forked from it, warm too)
        rates = {}
        for label, options in (("1 worker", {"workers": 1}), ("2 workers", {"workers": 2})):
            start = time.perf_counter()
            summary = run_cohort_command("extract", manifest, Path(folder) / label.replace(" ", "_"),
                                         profile=args.profile, progress=lambda *a: None, **options)
            rates[label] = args.cases / ((time.perf_counter() - start) / 60)
            print(f"{label:10s} {rates[label]:6.2f} cases/min ({summary.done} done, {len(summary.failed)} failed)")
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster, \
                Client(cluster) as client:
            # a running cluster has its packages imported already: warm the workers up first
            client.run(warm_up, args.profile)
            start = time.perf_counter()
            summary = run_cohort_command("extract", manifest, Path(folder) / "dask", profile=args.profile,
                                         scheduler=client, progress=lambda *a: None)
            rates["dask"] = args.cases / ((time.perf_counter() - start) / 60)
            memory = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        print(f"{'dask x2':10s} {rates['dask']:6.2f} cases/min ({summary.done} done)")
        print(f"speed-up 2 workers: {rates['2 workers'] / rates['1 worker']:.2f} (target >= 1.7); "
              f"Dask: {rates['dask'] / rates['1 worker']:.2f} (target >= 1.6)")
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak memory: local worker processes {children:.0f} MB; Dask workers "
              + ", ".join(f"{v / 1024:.0f} MB" for v in memory.values()))


if __name__ == "__main__":
    main()
