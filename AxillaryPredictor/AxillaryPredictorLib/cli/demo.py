"""``axillary-predictor demo``: the main job on a synthetic sample case, end to end.

Generates a synthetic DCE-MRI case (tumor and lymph node, seed-controlled), loads it into a
headless MRML scene (the same scene API Slicer uses), grows the 3 mm peritumoral region as
segments, predicts ALN metastasis with the bundled DEMONSTRATION model (Logic.predict: features
-> RadScore + Ki-67 + US-reported ALN -> nomogram), writes the report (HTML, PDF, nomogram.png,
prediction.json), saves the scene with the result nodes, and writes ``summary.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

DEMO_MODEL = "demo-dce-aln"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    parser.add_argument("--seed", type=int, default=7, help="synthetic case seed (default: 7)")
    parser.add_argument("--model", default=DEMO_MODEL, help=f"model package or registry id (default: {DEMO_MODEL})")


def run_demo(out: str | Path, seed: int = 7, model: str = DEMO_MODEL, workers: int | None = None) -> dict[str, Any]:
    """Run the demo and return its summary (also written to ``out/summary.json``)."""
    from AxillaryPredictorLib.phantoms import phantom_for_aln_record, simulate_aln_cohort
    from AxillaryPredictorLib.reporting.prediction_report import write_prediction
    from AxillaryPredictorLib.scene.logic import AxillaryPredictorLogicBase
    from AxillaryPredictorLib.scene.nodes import create_headless_scene, save_scene

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record = simulate_aln_cohort(1, seed=10_000 + seed).iloc[0]
    phantom = phantom_for_aln_record(record, "dce", seed=10_000 + seed)
    case_id = f"SYNTHETIC-{seed:04d}"
    files = phantom.write(out / "case", case_id)
    clinical = {"ki67": round(float(record["ki67"]), 1),
                "us_aln": "positive" if int(record["us_reported_aln"]) else "negative"}
    print(f"1. Synthetic DCE-MRI case {case_id}: lesion {record['tumor_diameter_mm']:.1f} mm, Ki-67 "
          f"{clinical['ki67']}%, US-reported ALN {clinical['us_aln']} -> {out / 'case'}")

    headless = create_headless_scene()
    logic = AxillaryPredictorLogicBase(headless.scene)
    volume, segmentation = logic.loadPhantomCase(phantom, name=case_id)
    print(f"2. Loaded into a headless MRML scene: segments {logic.segmentNames(segmentation)}")
    regions = logic.buildRegions(segmentation, "tumor", volume, "3")
    print("3. Peritumoral region built (Slicer's margin rule):")
    for line in regions.describe().splitlines():
        print(f"     {line}")
    result = logic.predict(model, {"DCE3": (volume, segmentation)}, clinical=clinical, caseId=case_id,
                           workers=workers)
    prediction = result.prediction
    print(f"4. {prediction.summary()}")
    print(f"   nomogram: total points {prediction.total_points:.1f}; "
          + ", ".join(f"{k} {v:.1f}" for k, v in prediction.predictor_points.items()))
    paths = write_prediction(result.package, prediction, out, inputs={"image": str(files["image"]),
                                                                       "tumor mask": str(files["tumor"])})
    scene_path = save_scene(headless.scene, out / "scene")
    print(f"5. Report: {paths['html']} and {paths['pdf']}; nomogram {paths['nomogram']}; scene {scene_path}")
    for warning in prediction.warnings:
        print(f"   note: {warning}")
    summary = {
        "case_id": case_id, "model": result.package.id, "model_status": result.package.status,
        "probability": prediction.probability, "risk_group": prediction.risk_group,
        "total_points": prediction.total_points, "predictor_points": prediction.predictor_points,
        "report": {k: str(v) for k, v in paths.items()}, "scene": str(scene_path),
        "case_files": {k: str(v) for k, v in files.items()}, "truth": phantom.truth,
        "note": "Synthetic case and demonstration model: no clinical meaning.",
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=float))
    return summary


def run(args: argparse.Namespace) -> int:
    run_demo(args.out, args.seed, args.model)
    print(f"Demo finished: {Path(args.out) / 'summary.json'}")
    return 0
