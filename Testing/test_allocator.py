"""The case allocator: Dask's fixed trim threshold no longer makes every array page-fault anew,
and freed memory still goes back to the system after the case."""

from __future__ import annotations

import ctypes.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from AxillaryPredictorLib.allocator import configured_thresholds

LIB = Path(__file__).resolve().parents[1] / "AxillaryPredictor"

CHURN = """
import json, resource
import numpy as np
from AxillaryPredictorLib.allocator import case_allocator

def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

def churn():
    before = faults()
    for _ in range(60):
        block = np.ones(1_000_000)  # 8 MB, above the 128 KiB mmap threshold Dask's setting fixes
        del block
    return faults() - before

def resident_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20

plain = churn()
with case_allocator():
    inside = churn()
    held = [np.ones(250_000) for _ in range(24)]  # 48 MB in 2 MB blocks, freed below the case's trim threshold
    del held
    resident_inside = resident_mb()
resident_after = resident_mb()
after = churn()
print(json.dumps({"plain": plain, "inside": inside, "after": after,
                  "released_mb": resident_inside - resident_after}))
"""


def _run_churn(environment: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(environment, PYTHONPATH=os.pathsep.join([str(LIB), env.get("PYTHONPATH", "")]))
    finished = subprocess.run([sys.executable, "-c", CHURN], env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux") or ctypes.util.find_library("c") is None,
                    reason="glibc's mallopt is Linux-only")
def test_dask_trim_threshold_no_longer_faults_every_array_and_memory_is_returned():
    counts = _run_churn({"MALLOC_TRIM_THRESHOLD_": "65536"})  # what Dask's nanny sets
    # the fixed threshold: each 8 MB array is mapped afresh (at least one fault per array) ...
    assert counts["plain"] > 60
    assert counts["inside"] * 10 < counts["plain"]  # ... inside a case the heap is reused
    assert counts["after"] * 2 > counts["plain"]  # the configured thresholds are back after the case
    assert counts["released_mb"] > 40  # malloc_trim hands the case's freed memory back


def test_thresholds_read_from_the_environment(monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    assert configured_thresholds() == {}  # glibc adjusts them itself: the allocator is left alone
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "not a number")
    assert configured_thresholds() == {"MALLOC_TRIM_THRESHOLD_": 65536}
