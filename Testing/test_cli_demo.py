"""The console script: help, the phantom writer and the demo (README's first command)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import SimpleITK as sitk

from AxillaryPredictorLib.cli.main import COMMANDS, main


def test_help_lists_every_command(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_console_script_runs_as_a_process():
    result = subprocess.run([sys.executable, "-m", "AxillaryPredictorLib.cli.main", "--version"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "axillary-predictor" in result.stdout


def test_phantom_command_writes_the_case(tmp_path, capsys):
    assert main(["phantom", "--preset", "dbt-cc", "--seed", "2", "--node", "--out", str(tmp_path)]) == 0
    written = json.loads(capsys.readouterr().out)["scan"]
    image = sitk.ReadImage(written["image"])
    tumor = sitk.ReadImage(written["tumor"])
    assert image.GetSize() == tumor.GetSize() and sitk.GetArrayFromImage(tumor).sum() > 0
    from pathlib import Path

    truth = json.loads(Path(written["truth"]).read_text(encoding="utf-8"))
    assert truth["preset"] == "dbt-cc" and truth["seed"] == 2


def test_phantom_pair_command(tmp_path, capsys):
    assert main(["phantom", "--pair", "0.5", "--out", str(tmp_path), "--case-id", "p1"]) == 0
    written = json.loads(capsys.readouterr().out)
    base = sitk.GetArrayFromImage(sitk.ReadImage(written["baseline"]["tumor"])).sum()
    on = sitk.GetArrayFromImage(sitk.ReadImage(written["ontreatment"]["tumor"])).sum()
    assert on / base - 1 == __import__("pytest").approx(-0.5, abs=0.03)


def test_demo_case_segments_round_trip_through_the_saved_scene(tmp_path):
    from AxillaryPredictorLib.cli.demo import run_demo
    from AxillaryPredictorLib.scene.nodes import load_scene, segment_to_image

    summary = run_demo(tmp_path / "demo", seed=1, workers=2)
    reloaded = load_scene(summary["scene"])
    segmentation = reloaded.scene.GetNodesByClass("vtkMRMLSegmentationNode").GetItemAsObject(0)
    volume = reloaded.scene.GetNodesByClass("vtkMRMLScalarVolumeNode").GetItemAsObject(0)
    expected = sitk.ReadImage(summary["case_files"]["tumor"])
    mask = segment_to_image(segmentation, "tumor", volume)
    assert np.array_equal(sitk.GetArrayFromImage(mask), sitk.GetArrayFromImage(expected))
    names = [segmentation.GetSegmentation().GetNthSegment(i).GetName()
             for i in range(segmentation.GetSegmentation().GetNumberOfSegments())]
    assert names == ["tumor", "node", "tumor_margin3mm", "margin3mm"]
    assert json.loads((tmp_path / "demo" / "summary.json").read_text(encoding="utf-8"))["model"] == "demo-dce-aln"


def test_readme_headless_console_example_runs():
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    headless = [b for b in blocks if "create_headless_scene" in b]
    assert headless, "README lost its headless console example"
    namespace: dict = {}
    exec(headless[0], namespace)
    assert namespace["logic"].segmentNames(namespace["segmentation"]) == ["tumor", "node", "tumor_margin3mm",
                                                                           "margin3mm"]
    assert 0 < namespace["result"].prediction.probability < 1
