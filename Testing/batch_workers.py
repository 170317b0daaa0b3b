"""A small real worker for batch tests: first-order pyradiomics features of the tumor mask.

Lives in its own module so worker processes (fork, spawn, Dask) can import it.
"""

from __future__ import annotations

import os
import time

import SimpleITK as sitk

from AxillaryPredictorLib.batch.manifest import CaseEntry
from AxillaryPredictorLib.batch.runner import CaseError


def firstorder_worker(case: CaseEntry) -> dict:
    from radiomics import firstorder

    row = {}
    delay = float(os.environ.get("AP_TEST_WORKER_DELAY", "0"))
    for entry in case.rows:
        image = sitk.ReadImage(str(entry.image))
        mask = sitk.ReadImage(str(entry.mask))
        if sitk.GetArrayViewFromImage(mask).max() == 0:
            raise CaseError("regions", f"the tumor mask of view '{entry.view}' is empty")
        features = firstorder.RadiomicsFirstOrder(image, mask, binWidth=25, force2D=True)
        features.enableAllFeatures()
        for name, value in features.execute().items():
            row[f"tumor__{entry.view}__original_firstorder_{name}"] = float(value)
        time.sleep(delay)
    return row
