"""Benchmark: cohort extraction with 1 vs 2 local workers and a 2-worker Dask LocalCluster.

16 phantom DBT cases, he2025-dbt profile, tumor + 3/5/10 mm regions (engine workers=1 in every
case, so parallelism is over cases). Prints cases/minute for each, the speed-up ratios measured in
one run, and the peak resident memory of the worker processes. The machine is shared and noisy, so
the three configurations run in interleaved rounds (``--rounds``, default 3): each round gives
paired ratios, and their median and range are reported; every round's rates are printed too.
The Dask workers run as docs/batch.md recommends (one thread, Dask's profiler off; ``--dask-profiler``
keeps Dask's default profiler on).
Targets: 2 local workers >= 1.7x and 2-worker Dask >= 1.6x the cases/minute of 1 worker.

Run: python Testing/benchmarks/bench_cohort.py [--cases 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from AxillaryPredictorLib.batch.cohort import run_cohort_command
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
    from AxillaryPredictorLib.extraction.engine import extract
    from AxillaryPredictorLib.imaging.regions import build_regions

    phantom = make_phantom("dbt-cc", seed=99, lesion=LesionSpec(diameter_mm=8))
    extract({"CC": (phantom.image, {"tumor": build_regions(phantom.tumor, (3,))["tumor"]})}, profile, workers=1)
    return True


def case_seconds(out_dir: Path) -> float:
    """Summed compute time of the cases (as each worker measured it around its case)."""
    return sum(json.loads(path.read_text())["seconds"] for path in (out_dir / "cases").glob("*.json")
               if not path.name.endswith(".error.json"))


def timed_run(manifest: Path, out_dir: Path, cases: int, profile: str, **options) -> tuple[float, str]:
    """One cohort extraction: (cases/minute, a line describing it)."""
    start = time.perf_counter()
    summary = run_cohort_command("extract", manifest, out_dir, profile=profile, progress=lambda *a: None, **options)
    rate = cases / ((time.perf_counter() - start) / 60)
    return rate, (f"{rate:6.2f} cases/min ({summary.done} done, {len(summary.failed)} failed; "
                  f"summed case compute {case_seconds(out_dir):.1f} s)")


def dask_run(manifest: Path, out_dir: Path, cases: int, profile: str,
             dask_profiler: bool = False) -> tuple[float, str, list[float]]:
    """The same on a fresh 2-worker LocalCluster on loopback (warmed up, as a running cluster is),
    configured as docs/batch.md recommends for workers: one thread each and Dask's statistical
    profiler off (it samples the task's stack every 10 ms, ~6% of a radiomics case) unless
    ``dask_profiler``; also returns the workers' peak memory in MB."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.worker.profile.enabled": dask_profiler}), \
            LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(warm_up, profile)
        rate, line = timed_run(manifest, out_dir, cases, profile, scheduler=client)
        memory = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return rate, line, list(memory.values())


def rounds_argument(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("--rounds must be at least 1")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=16)
    parser.add_argument("--profile", default="he2025-dbt")
    parser.add_argument("--rounds", type=rounds_argument, default=3,
                        help="rounds of (1 worker, 2 workers, Dask); the median of the per-round ratios is reported")
    parser.add_argument("--dask-profiler", action="store_true",
                        help="keep Dask's statistical profiler on in the workers (Dask's default; costs ~6%%)")
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"1 worker": [], "2 workers": [], "dask x2": []}
    ratios: dict[str, list[float]] = {"2 workers": [], "dask x2": []}
    dask_memory: list[float] = []
    local_memory = 0.0
    with tempfile.TemporaryDirectory() as folder:
        manifest = write_cases(Path(folder), args.cases)
        warm_up(args.profile)  # the parent (1 worker; local workers are forked from it, warm too)
        for round_ in range(1, args.rounds + 1):
            for label, options in (("1 worker", {"workers": 1}), ("2 workers", {"workers": 2})):
                rate, line = timed_run(manifest, Path(folder) / f"{label.replace(' ', '_')}_{round_}", args.cases,
                                       args.profile, **options)
                rates[label].append(rate)
                print(f"round {round_} {label:10s} {line}", flush=True)
            if round_ == 1:  # only the local pool's processes have ended so far
                local_memory = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            rate, line, worker_memory = dask_run(manifest, Path(folder) / f"dask_{round_}", args.cases, args.profile,
                                                     args.dask_profiler)
            rates["dask x2"].append(rate)
            dask_memory += worker_memory
            print(f"round {round_} {'dask x2':10s} {line}", flush=True)
            for label in ratios:
                ratios[label].append(rates[label][-1] / rates["1 worker"][-1])
            print(f"round {round_} speed-up 2 workers {ratios['2 workers'][-1]:.2f}, "
                  f"Dask {ratios['dask x2'][-1]:.2f}", flush=True)
    print(f"median of {args.rounds} round(s): " + ", ".join(
        f"{label} {statistics.median(values):.2f}" for label, values in rates.items()) + " cases/min")
    targets = {"2 workers": 1.7, "dask x2": 1.6}
    print("speed-up (median of the per-round ratios, range): " + "; ".join(
        f"{label} {statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f}, target >= {targets[label]})"
        for label, values in ratios.items()))
    print(f"peak memory: local worker processes {local_memory:.0f} MB; Dask workers up to {max(dask_memory):.0f} MB")


if __name__ == "__main__":
    main()
