"""The case allocator: Dask's fixed trim threshold no longer makes every array page-fault anew,
freed memory still goes back to the system after the case, and a process whose glibc was not
configured is left alone (even when a variable appears in ``os.environ`` later)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from AxillaryPredictorLib.batch.allocator import INT_MAX, _glibc, parse_thresholds

LIB = Path(__file__).resolve().parents[1] / "AxillaryPredictor"

CHURN = """
import json, os, resource
import numpy as np
from AxillaryPredictorLib.batch.allocator import case_allocator

def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

def churn():
    before = faults()
    for _ in range(60):
        block = np.ones(1_000_000)  # 8 MB, above the 128 KiB mmap threshold a fixed setting keeps
        del block
    return faults() - before

def resident_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20

os.environ["MALLOC_TRIM_THRESHOLD_"] = "65536"  # as Dask's in-process nanny leaks it: glibc never saw it
plain = churn()
with case_allocator():
    with case_allocator():
        pass
    inside = churn()  # still inside the outer block after the inner one ended
    held = [np.ones(250_000) for _ in range(24)]  # 46 MiB in 2 MB blocks, freed below the trim threshold
    del held
    resident_inside = resident_mb()
resident_after = resident_mb()
after = churn()
print(json.dumps({"plain": plain, "inside": inside, "after": after,
                  "released_mb": resident_inside - resident_after}))
"""


def _run_churn(environment: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k not in ("LD_PRELOAD", "GLIBC_TUNABLES")}
    env.update(environment, PYTHONPATH=os.pathsep.join([str(LIB), env.get("PYTHONPATH", "")]))
    finished = subprocess.run([sys.executable, "-c", CHURN], env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout.strip().splitlines()[-1])


glibc_only = pytest.mark.skipif(_glibc() is None, reason="mallopt thresholds are glibc's")


@glibc_only
@pytest.mark.parametrize("variable", ["MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"])
def test_fixed_threshold_no_longer_faults_every_array_and_memory_is_returned(variable):
    counts = _run_churn({variable: "65536" if variable == "MALLOC_TRIM_THRESHOLD_" else "131072"})
    # a fixed threshold (Dask's nanny sets the trim one): each 8 MB array is mapped afresh ...
    assert counts["plain"] > 60
    assert counts["inside"] * 10 < counts["plain"]  # ... inside a case the heap is reused
    assert counts["after"] * 2 > counts["plain"]  # the configured thresholds are back after the case
    assert counts["released_mb"] > 30  # malloc_trim hands the case's freed memory back


@glibc_only
def test_unconfigured_process_is_left_alone_even_with_the_variable_in_os_environ():
    configured = _run_churn({"MALLOC_TRIM_THRESHOLD_": "65536"})
    unconfigured = _run_churn({})  # the script sets os.environ only after start, as LocalCluster's nanny does
    assert unconfigured["plain"] * 10 < configured["plain"]  # glibc adjusts its threshold itself ...
    assert unconfigured["after"] * 10 < configured["plain"]  # ... and still does after a case


def test_thresholds_read_as_glibc_reads_them():
    assert parse_thresholds({}) == {}  # glibc adjusts them itself: the allocator is left alone
    assert parse_thresholds({"PATH": "/bin", "MALLOC_TRIM_THRESHOLD_": "65536"}) == {"MALLOC_TRIM_THRESHOLD_": 65536}
    assert parse_thresholds({"MALLOC_MMAP_THRESHOLD_": "0x20000"}) == {"MALLOC_MMAP_THRESHOLD_": 131072}
    assert parse_thresholds({"MALLOC_TRIM_THRESHOLD_": str(2**40)}) == {"MALLOC_TRIM_THRESHOLD_": INT_MAX}
    assert parse_thresholds({"MALLOC_TRIM_THRESHOLD_": "lots"}) == {"MALLOC_TRIM_THRESHOLD_": 128 * 1024}
