"""Benchmark: deep features of one view (crop + inference) with a ResNet18-shaped ONNX model.

The model is built here with onnx.helper (the ResNet18 layer plan: 7x7 stem, max pooling, 4 stages
of 2 basic blocks with 64/128/256/512 channels, global average pooling, a 1000-way fc) with random
weights, so nothing is downloaded. Runs ONNX Runtime on 2 threads and prints the time per case:
crop (largest slice, bounding box, resize, normalisation) + inference. Target: <= 1 s.
Run: python Testing/benchmarks/bench_deep.py   (needs the 'onnx' package, from the test extra)
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

THREADS = 2
TARGET_S = 1.0


class Builder:
    """Nodes and initialisers of a ResNet18-shaped graph (convolutions with folded batch norm)."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.weights, self.count = [], [], 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def conv(self, x: str, c_in: int, c_out: int, k: int, stride: int = 1, relu: bool = True) -> str:
        from onnx import helper, numpy_helper

        w, b, out = self.name("w"), self.name("b"), self.name("conv")
        scale = np.sqrt(2.0 / (c_in * k * k))
        self.weights += [numpy_helper.from_array(self.rng.normal(0, scale, (c_out, c_in, k, k)).astype(np.float32), w),
                         numpy_helper.from_array(np.zeros(c_out, np.float32), b)]
        pad = k // 2
        self.nodes.append(helper.make_node("Conv", [x, w, b], [out], kernel_shape=[k, k], strides=[stride, stride],
                                           pads=[pad] * 4))
        return self.relu(out) if relu else out

    def relu(self, x: str) -> str:
        from onnx import helper

        out = self.name("relu")
        self.nodes.append(helper.make_node("Relu", [x], [out]))
        return out

    def block(self, x: str, c_in: int, c_out: int, stride: int) -> str:
        from onnx import helper

        y = self.conv(self.conv(x, c_in, c_out, 3, stride), c_out, c_out, 3, relu=False)
        shortcut = x if stride == 1 and c_in == c_out else self.conv(x, c_in, c_out, 1, stride, relu=False)
        added = self.name("add")
        self.nodes.append(helper.make_node("Add", [y, shortcut], [added]))
        return self.relu(added)


def resnet18_onnx(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    b = Builder()
    x = b.conv("image", 3, 64, 7, 2)
    b.nodes.append(helper.make_node("MaxPool", [x], ["pool0"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4))
    x, c_in = "pool0", 64
    for stage, c_out in enumerate((64, 128, 256, 512)):
        for index in range(2):
            x = b.block(x, c_in, c_out, 2 if stage and not index else 1)
            c_in = c_out
    b.nodes += [helper.make_node("GlobalAveragePool", [x], ["pooled"]),
                helper.make_node("Flatten", ["pooled"], ["flat"]),
                helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["fc"], transB=1)]
    b.weights += [numpy_helper.from_array(b.rng.normal(0, 0.01, (1000, 512)).astype(np.float32), "fc_w"),
                  numpy_helper.from_array(np.zeros(1000, np.float32), "fc_b")]
    graph = helper.make_graph(b.nodes, "resnet18-shaped",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 224, 224])],
                              [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, [1, 512, 1, 1]),
                               helper.make_tensor_value_info("fc", TensorProto.FLOAT, [1, 1000])], b.weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def dce_view(seed: int) -> tuple[sitk.Image, sitk.Image]:
    """A 60 x 256 x 256 DCE-like volume (0.7 x 0.7 x 1.5 mm) with an ellipsoidal tumor."""
    rng = np.random.default_rng(seed)
    shape = (60, 256, 256)
    k, j, i = np.indices(shape)
    radius = rng.uniform(8, 15)
    inside = ((k - 30) * 1.5) ** 2 + ((j - 128) * 0.7) ** 2 + ((i - 120) * 0.7 / 1.3) ** 2 < radius ** 2
    pixels = rng.normal(200, 30, shape) + 400 * inside
    image, mask = sitk.GetImageFromArray(pixels.astype(np.int16)), sitk.GetImageFromArray(inside.astype(np.uint8))
    for item in (image, mask):
        item.SetSpacing((0.7, 0.7, 1.5))
    return image, mask


def main() -> None:
    from AxillaryPredictorLib.extraction.deep import DeepSpec, resolve_model

    os.environ["AXILLARY_PREDICTOR_DEEP_THREADS"] = str(THREADS)
    with tempfile.TemporaryDirectory() as folder:
        path = resnet18_onnx(Path(folder) / "resnet18-random.onnx")
        start = time.perf_counter()
        model = resolve_model(DeepSpec(str(path), "pooled", context_mm=5.0))
        load = time.perf_counter() - start
        cases = [dce_view(seed) for seed in range(6)]
        model.features(*cases[0], "DCE3")  # warm-up
        times = []
        for image, mask in cases:
            start = time.perf_counter()
            features, _, _ = model.features(image, mask, "DCE3")
            times.append(time.perf_counter() - start)
    per_case = float(np.median(times))
    print(f"ResNet18-shaped ONNX, {len(features)} features, {THREADS} threads: model load + SHA-256 {load:.2f} s "
          f"(once); per case (crop + inference): median {per_case:.3f} s, max {max(times):.3f} s over {len(times)} "
          f"cases (target <= {TARGET_S:.1f} s): {'OK' if per_case <= TARGET_S else 'SLOWER THAN TARGET'}")


if __name__ == "__main__":
    main()
