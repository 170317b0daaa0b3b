"""``axillary-predictor demo``: the end-to-end job on a synthetic sample case.

Generates a phantom DCE-MRI case with a tumor and a lymph node, loads it into a
headless MRML scene (the same scene API Slicer uses), checks that the segments
round-trip voxel for voxel, saves the scene and writes ``summary.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    parser.add_argument("--seed", type=int, default=0, help="phantom seed (default: 0)")
    parser.add_argument("--preset", default="dce", help="phantom preset (default: dce)")


def run_demo(out: str | Path, seed: int = 0, preset: str = "dce") -> dict[str, Any]:
    """Run the demo and return its summary (also written to ``out/summary.json``)."""
    import numpy as np
    import SimpleITK as sitk

    from AxillaryPredictorLib.logic import AxillaryPredictorLogicBase
    from AxillaryPredictorLib.phantoms import make_phantom
    from AxillaryPredictorLib.scene import create_headless_scene, save_scene

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    phantom = make_phantom(preset, seed, node=True)
    files = phantom.write(out / "case", "demo")
    print(f"Generated a synthetic {preset} case (seed {seed}): tumor {phantom.truth['tumor_voxels']} voxels, "
          f"analytic lesion volume {phantom.truth['lesion_volume_mm3']:.0f} mm³ -> {out / 'case'}")

    headless = create_headless_scene()
    logic = AxillaryPredictorLogicBase(headless.scene)
    volume, segmentation = logic.loadPhantomCase(phantom, name="DemoCase")
    print(f"Loaded into a headless MRML scene: volume '{volume.GetName()}', segmentation "
          f"'{segmentation.GetName()}' with segments {logic.segmentNames(segmentation)}")
    roundtrip = {}
    for segment, expected in (("tumor", phantom.tumor), ("node", phantom.node)):
        mask = logic.segmentMask(segmentation, segment, volume)
        same = bool(np.array_equal(sitk.GetArrayViewFromImage(mask), sitk.GetArrayViewFromImage(expected)))
        roundtrip[segment] = same
        print(f"  segment '{segment}': exported labelmap identical to the phantom mask: {same}")
    surface_points = logic.createClosedSurface(segmentation)
    print(f"  closed-surface representation: {surface_points} points")
    scene_path = save_scene(headless.scene, out / "scene")
    print(f"Saved the scene: {scene_path}")
    summary = {
        "case_files": {k: str(v) for k, v in files.items()},
        "scene": str(scene_path),
        "segments_roundtrip_identical": roundtrip,
        "closed_surface_points": surface_points,
        "truth": phantom.truth,
        "note": "Synthetic phantom: demonstration only, no clinical meaning.",
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    return summary


def run(args: argparse.Namespace) -> int:
    summary = run_demo(args.out, args.seed, args.preset)
    ok = all(summary["segments_roundtrip_identical"].values())
    print(f"Demo finished: {Path(args.out) / 'summary.json'}")
    return 0 if ok else 1
