"""Result adapters on the real MRML scene: tables, report text, nomogram image; saved and reloaded."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pandas as pd

from AxillaryPredictorLib.scene import nodes as S
from AxillaryPredictorLib.scene.results import (
    frame_from_table_node,
    image_node_from_png,
    rgb_array_from_node,
    table_node_from_frame,
    text_node_with,
)


def test_table_round_trip_and_reuse(headless):
    frame = pd.DataFrame({"case_id": ["a", "b"], "probability": [0.25, 0.8], "points": [10.5, np.nan]})
    node = table_node_from_frame(headless.scene, frame, "Prediction")
    back = frame_from_table_node(node)
    assert list(back.columns) == ["case_id", "probability", "points"]
    assert back["case_id"].tolist() == ["a", "b"] and back["probability"].tolist() == [0.25, 0.8]
    assert np.isnan(back["points"][1])
    again = table_node_from_frame(headless.scene, frame.iloc[:1], "Prediction")
    assert again is node and node.GetNumberOfRows() == 1


def test_report_text_nomogram_image_and_table_survive_scene_save(headless, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3, 2), dpi=50)
    figure.add_subplot().plot([0, 1], [1, 0], color="red")
    png = tmp_path / "nomogram.png"
    figure.savefig(png)
    pixels = (np.clip(mpimg.imread(png)[:, :, :3], 0, 1) * 255).round().astype(np.uint8)

    image_node = image_node_from_png(headless.scene, png, "Nomogram")
    assert np.array_equal(rgb_array_from_node(image_node), pixels)
    text_node_with(headless.scene, "<html><body>report</body></html>", "Report")
    table_node_from_frame(headless.scene, pd.DataFrame({"predictor": ["radscore"], "points": [42.0]}), "Points")
    mrml = S.save_scene(headless.scene, tmp_path / "scene")
    reloaded = S.load_scene(mrml).scene
    text = reloaded.GetFirstNodeByName("Report")
    assert text is not None and text.GetText() == "<html><body>report</body></html>"
    assert frame_from_table_node(reloaded.GetFirstNodeByName("Points"))["points"].tolist() == [42.0]
    assert np.array_equal(rgb_array_from_node(reloaded.GetFirstNodeByName("Nomogram")), pixels)
