"""Scene adapter for extraction: volume + segmentation nodes in, a table node out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from AxillaryPredictorLib.errors import InputError


def extract_from_scene(views: Mapping[str, tuple[Any, Any]], segment: str = "tumor", *,
                       margins: Sequence[float] | str = (3, 5, 10), regions: list[str] | None = None,
                       profile: str = "zeng2025-dce-delta", case_id: str = "case", workers: int | None = None,
                       table_name: str = "Radiomics features") -> tuple[Any, Any]:
    """Features of every region of every view; ``views``: view name -> (volume node,
    segmentation node holding ``segment``). Returns (table node with one row per feature:
    region, view, feature, value; the ``ExtractionResult``)."""
    from AxillaryPredictorLib.extraction.tables import split_column
    from AxillaryPredictorLib.pipeline import CaseInputs, RegionSettings, Scan, extract_case
    from AxillaryPredictorLib.scene.nodes import volume_node_to_image
    from AxillaryPredictorLib.scene.regions import tumor_mask_from_segment
    from AxillaryPredictorLib.scene.results import table_node_from_frame

    scans, scene = {}, None
    for view, (volume, segmentation) in views.items():
        if volume is None or segmentation is None:
            raise InputError(f"View '{view}': select both its image and its segmentation.")
        scene = volume.GetScene()
        scans[view] = Scan(volume_node_to_image(volume), tumor_mask_from_segment(segmentation, segment, volume))
    result = extract_case(CaseInputs.single(case_id, scans), profile, RegionSettings.from_value(margins),
                          regions=regions, workers=workers)
    rows = [(*split_column(column), value) for column, value in result.features.items()]
    frame = pd.DataFrame(rows, columns=["region", "view", "feature", "value"])
    return table_node_from_frame(scene, frame, table_name), result


def extract_delta_from_scene(baseline: tuple[Any, Any], ontreatment: tuple[Any, Any], segment: str = "tumor", *,
                             view: str = "DCE3", margins: Sequence[float] | str = (3,),
                             regions: list[str] | None = ("tumor", "margin3mm"), profile: str = "zeng2025-dce-delta",
                             mode: str = "relative", case_id: str = "case", workers: int | None = None,
                             table_name: str = "Delta radiomics") -> tuple[Any, Any]:
    """Delta features of two (volume node, segmentation node) pairs; returns (table node with
    region, view, feature, baseline, ontreatment and delta columns; the ``DeltaExtraction``).
    An empty on-treatment tumor segment is a complete response, not an error."""
    from AxillaryPredictorLib.extraction.tables import split_column
    from AxillaryPredictorLib.pipeline import extract_delta
    from AxillaryPredictorLib.scene.regions import paired_scans
    from AxillaryPredictorLib.scene.results import table_node_from_frame

    pairs = paired_scans(baseline, ontreatment, segment)
    result = extract_delta(pairs[0], pairs[1], case_id=case_id, view=view, margins=margins, regions=regions,
                           profile=profile, mode=mode, workers=workers)
    rows = []
    for column, base in result.baseline.items():
        region, view_name, feature = split_column(column)
        on = (result.ontreatment or {}).get(column, float("nan"))
        rows.append((region, view_name, feature, base, on, result.delta.values[f"delta__{column}"]))
    frame = pd.DataFrame(rows, columns=["region", "view", "feature", "baseline", "ontreatment", "delta"])
    node = table_node_from_frame(baseline[0].GetScene(), frame, table_name)
    node.SetAttribute("AxillaryPredictor.DeltaMode", mode)
    node.SetAttribute("AxillaryPredictor.CompleteResponse", "true" if result.delta.complete_response else "false")
    node.SetAttribute("AxillaryPredictor.UndefinedDeltas", str(len(result.delta.undefined)))
    return node, result


def delta_changes_chart(scene: Any, table_node: Any, top: int = 20, name: str = "Largest delta changes") -> Any:
    """A bar chart (plot chart node) of the ``top`` largest |delta| values of a delta table node
    (from ``extract_delta_from_scene``); undefined deltas are left out. Saved with the scene."""
    from AxillaryPredictorLib.scene.results import frame_from_table_node, table_node_from_frame

    frame = frame_from_table_node(table_node)
    delta = pd.to_numeric(frame["delta"], errors="coerce")
    chosen = frame.assign(delta=delta).dropna(subset=["delta"])
    chosen = chosen.loc[chosen["delta"].abs().sort_values(ascending=False).index[:top]]
    if chosen.empty:
        raise InputError("No defined delta values to chart (complete response or every baseline zero).")
    data = pd.DataFrame({"rank": range(1, len(chosen) + 1), "delta": chosen["delta"].to_numpy(float),
                         "feature": (chosen["region"] + " " + chosen["feature"]).to_numpy()})
    table = table_node_from_frame(scene, data, f"{name} data")
    chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", name)
    chart.SetTitle(f"{name} ({table_node.GetAttribute('AxillaryPredictor.DeltaMode') or 'relative'})")
    chart.SetXAxisTitle("feature (rank)")
    chart.SetYAxisTitle("delta")
    series = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", f"{name}: delta")
    series.SetAndObserveTableNodeID(table.GetID())
    series.SetXColumnName("rank")
    series.SetYColumnName("delta")
    series.SetLabelColumnName("feature")
    series.SetPlotType(series.PlotTypeBar)
    chart.AddAndObservePlotSeriesNodeID(series.GetID())
    return chart
