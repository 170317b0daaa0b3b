"""Scene adapters for results: tables, the report text, and images such as the nomogram.

- ``table_node_from_frame`` / ``frame_from_table_node``: pandas DataFrame <-> vtkMRMLTableNode
  (numeric columns as double arrays, everything else as strings);
- ``text_node_with`` : HTML (the report) in a vtkMRMLTextNode, saved with the scene;
- ``image_node_from_png``: an RGB(A) PNG as a vtkMRMLVectorVolumeNode, saved with the scene; it
  lies in an axial plane, upright and not mirrored in an axial (Red) slice view;
- ``report_for_panel``: the report HTML with its embedded images split out, for a Qt text browser.

``slicer``/``vtk`` are imported inside the functions (they exist only in Slicer or with
the ``slicer-core`` package).
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _get_or_add(scene: Any, class_name: str, name: str, node: Any | None) -> Any:
    if node is not None:
        return node
    existing = scene.GetFirstNode(name, class_name, False, True)
    return existing if existing is not None else scene.AddNewNodeByClass(class_name, name)


def table_node_from_frame(scene: Any, frame: pd.DataFrame, name: str, node: Any | None = None) -> Any:
    """Write ``frame`` into a table node (reused when given or when one of that name exists)."""
    import vtk

    node = _get_or_add(scene, "vtkMRMLTableNode", name, node)
    table = vtk.vtkTable()
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            array = vtk.vtkDoubleArray()
            for value in values.to_numpy(dtype=float):
                array.InsertNextValue(float(value))
        else:
            array = vtk.vtkStringArray()
            for value in values:
                array.InsertNextValue("" if value is None or (isinstance(value, float) and np.isnan(value))
                                      else str(value))
        array.SetName(str(column))
        table.AddColumn(array)
    node.SetAndObserveTable(table)
    return node


def frame_from_table_node(node: Any) -> pd.DataFrame:
    """Read a table node back into a DataFrame (double columns as float, others as str)."""
    table = node.GetTable()
    data = {}
    for index in range(table.GetNumberOfColumns()):
        column = table.GetColumn(index)
        values = [column.GetValue(row) for row in range(column.GetNumberOfTuples())]
        data[column.GetName()] = values
    return pd.DataFrame(data)


def text_node_with(scene: Any, text: str, name: str, node: Any | None = None) -> Any:
    """Store ``text`` (e.g. the report HTML) in a text node saved with the scene."""
    node = _get_or_add(scene, "vtkMRMLTextNode", name, node)
    node.SetText(text)
    node.SetForceCreateStorageNode(True)  # save to its own file even when short
    return node


def image_node_from_png(scene: Any, path: str | Path, name: str, node: Any | None = None) -> Any:
    """Load a PNG as an RGB vector volume (one slice, 1 mm pixels) to show it in a view."""
    import matplotlib.image as mpimg
    import vtk
    from vtk.util import numpy_support

    pixels = mpimg.imread(str(path))
    if pixels.dtype != np.uint8:
        pixels = np.clip(np.round(pixels * 255), 0, 255).astype(np.uint8)
    rgb = np.ascontiguousarray(pixels[::-1, :, :3])  # image rows run bottom-up in IJK
    node = _get_or_add(scene, "vtkMRMLVectorVolumeNode", name, node)
    image = vtk.vtkImageData()
    image.SetDimensions(rgb.shape[1], rgb.shape[0], 1)
    array = numpy_support.numpy_to_vtk(rgb.reshape(-1, 3), deep=True, array_type=vtk.VTK_UNSIGNED_CHAR)
    array.SetNumberOfComponents(3)
    image.GetPointData().SetScalars(array)
    node.SetAndObserveImageData(image)
    node.SetSpacing(1.0, 1.0, 1.0)
    node.SetOrigin(0.0, 0.0, 0.0)
    # An axial view shows patient right (+R) on the screen's left and anterior (+A) at the top:
    # columns run towards -R (left to right on screen), rows (stored bottom-up) towards +A.
    node.SetIJKToRASDirections(-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node


def rgb_array_from_node(node: Any) -> np.ndarray:
    """Pixels (rows top-down, RGB uint8) of a vector volume made by ``image_node_from_png``."""
    from vtk.util import numpy_support

    image = node.GetImageData()
    width, height, _ = image.GetDimensions()
    pixels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, 3)
    return pixels[::-1]


_DATA_IMAGE = re.compile(r"""src=(['"])data:image/png;base64,([A-Za-z0-9+/=]+)\1""")


def report_for_panel(html: str) -> tuple[str, dict[str, bytes]]:
    """The report HTML with each embedded PNG (``data:`` URI, which Qt's text browser does not
    read) replaced by a name, and the PNG bytes by name: the panel registers each as an image
    resource of its text document under that name."""
    images: dict[str, bytes] = {}

    def replace(match: re.Match) -> str:
        name = f"axillary-predictor-image-{len(images)}.png"
        images[name] = base64.b64decode(match.group(2))
        return f"src={match.group(1)}{name}{match.group(1)}"

    return _DATA_IMAGE.sub(replace, html), images
