"""Deep-learning features: a CNN backbone (ONNX, run with ONNX Runtime on CPU) on the region's
largest cross-section, as Lu, Liu and Zhang et al. use them beside radiomics (docs/deep-features.md).

Crop protocol (``PROTOCOL``; recorded in the provenance, the crop box per case in the diagnostics):

1. the image and mask as read, before any profile preprocessing;
2. the slice ``sitk.GetArrayFromImage(image)[k]`` (rows j, columns i) with the most region voxels,
   ties to the lowest k (a 2D image is its own slice);
3. the region's bounding rectangle on it, grown by ``context_mm`` (converted to pixels per axis with
   the pixel spacing, rounded to the nearest pixel) and clipped to the image; values as float64;
4. min-max scaling within the crop to [0, 1] (a constant crop becomes zeros, with a warning);
5. bilinear resize to the model's input size with half-pixel centres, clamped at the edges, no
   antialiasing: torch's ``interpolate(mode="bilinear", align_corners=False, antialias=False)``;
6. 3 channels, ImageNet mean and SD, NCHW float32, batch of 1.

The named graph output gives the features; a 4-D output (N, C, H, W) is global-average-pooled to C.
Columns: ``<region>__<view>__deep-<name>_<k>``.

Backbones: ``resources/backbones/Backbones.json`` lists ImageNet ONNX backbones (URL, SHA-256,
licence). Weights are never bundled and only downloaded by ``fetch_backbone`` (``axillary-predictor
backbones fetch NAME``) into the user cache (``$AXILLARY_PREDICTOR_BACKBONES``, default
``~/.axillary-predictor/backbones``); every use hashes the file and refuses a mismatch.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from AxillaryPredictorLib.errors import ExtractionError, InputError, InputFileNotFoundError

if TYPE_CHECKING:
    import SimpleITK as sitk

DEEP_PREFIX = "deep-"
DEFAULT_INPUT_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_SD = (0.229, 0.224, 0.225)
CACHE_ENV = "AXILLARY_PREDICTOR_BACKBONES"
THREADS_ENV = "AXILLARY_PREDICTOR_DEEP_THREADS"
PROTOCOL = {
    "version": 1,
    "input": "image and mask as read (no profile preprocessing)",
    "slice": "array[k] with the most region voxels, ties to the lowest k",
    "crop": "bounding rectangle grown by context_mm (rounded to pixels per axis), clipped to the image",
    "intensity": "min-max to [0, 1] within the crop (constant crop -> zeros)",
    "resize": "bilinear, half-pixel centres, clamped, no antialias (torch align_corners=False)",
    "channels": "replicated to 3",
    "normalisation": {"mean": list(IMAGENET_MEAN), "sd": list(IMAGENET_SD)},
    "pooling": "4-D outputs global-average-pooled over H, W",
}


# ------------------------------------------------------------------------------ columns


def safe_name(text: str) -> str:
    """A backbone name for column names: characters outside ``[A-Za-z0-9-]`` become ``-``."""
    return re.sub(r"[^A-Za-z0-9-]", "-", text)


def is_deep_column(column: str) -> bool:
    """True for a deep-feature column (``...__deep-<name>_<k>``, also with a ``delta__`` prefix)."""
    return column.rsplit("__", 1)[-1].startswith(DEEP_PREFIX)


def feature_source(column: str) -> str:
    """``deep`` or ``radiomics``: the column's source (``train --groups source``)."""
    return "deep" if is_deep_column(column) else "radiomics"


# --------------------------------------------------------------------------- crop protocol


@dataclass(frozen=True)
class CropBox:
    """The crop of one case: slice ``k`` and rows ``[row0, row1)``, columns ``[col0, col1)``."""

    k: int
    row0: int
    row1: int
    col0: int
    col1: int
    context_px: tuple[int, int]  # (rows, columns)
    region_pixels: int

    def to_dict(self) -> dict[str, Any]:
        return {"slice": self.k, "rows": [self.row0, self.row1], "columns": [self.col0, self.col1],
                "context_px": list(self.context_px), "region_pixels": self.region_pixels}


def largest_slice(mask: np.ndarray) -> int:
    """The index k of ``mask[k]`` (a (K, rows, columns) array) with the most region voxels; ties go
    to the lowest k (``argmax`` returns the first maximum)."""
    counts = (mask != 0).reshape(mask.shape[0], -1).sum(axis=1)
    if not counts.any():
        raise ExtractionError("The region for deep features is empty; segment the tumor first.")
    return int(np.argmax(counts))


def crop_box(mask2d: np.ndarray, spacing_rc: tuple[float, float], context_mm: float, k: int = 0) -> CropBox:
    """The region's bounding rectangle on ``mask2d`` grown by ``context_mm`` (per axis: pixels =
    round(context_mm / spacing), half up) and clipped to the slice."""
    rows, cols = np.nonzero(mask2d)
    if rows.size == 0:
        raise ExtractionError("The region for deep features is empty on its largest slice.")
    grow = tuple(math.floor(context_mm / s + 0.5) if context_mm > 0 else 0 for s in spacing_rc)
    height, width = mask2d.shape
    return CropBox(k, max(int(rows.min()) - grow[0], 0), min(int(rows.max()) + 1 + grow[0], height),
                   max(int(cols.min()) - grow[1], 0), min(int(cols.max()) + 1 + grow[1], width), grow,
                   int(rows.size))


def minmax(crop: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Min-max scaling to [0, 1]; a constant crop becomes zeros, with a warning."""
    low, high = float(crop.min()), float(crop.max())
    if high <= low:
        return np.zeros_like(crop, dtype=np.float64), [
            f"The deep-feature crop is constant ({low:g}): it was set to zeros; the features carry no image "
            "information."]
    return (crop - low) / (high - low), []


def _source_index(out_size: int, in_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower and upper input indices and weights of each output pixel (half-pixel centres, clamped)."""
    scale = in_size / out_size
    source = np.maximum((np.arange(out_size) + 0.5) * scale - 0.5, 0.0)
    lower = np.minimum(np.floor(source).astype(int), in_size - 1)
    upper = np.minimum(lower + 1, in_size - 1)
    return lower, upper, source - lower


def resize_bilinear(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a 2D array: output (r, c) samples the input at ((r + 0.5)·H/height − 0.5,
    (c + 0.5)·W/width − 0.5), clamped at the edges, no antialiasing — torch's ``interpolate(mode=
    "bilinear", align_corners=False, antialias=False)``."""
    r0, r1, wr = _source_index(height, array.shape[0])
    c0, c1, wc = _source_index(width, array.shape[1])
    top = array[r0][:, c0] * (1 - wc) + array[r0][:, c1] * wc
    bottom = array[r1][:, c0] * (1 - wc) + array[r1][:, c1] * wc
    return top * (1 - wr)[:, None] + bottom * wr[:, None]


def to_tensor(scaled: np.ndarray) -> np.ndarray:
    """(H, W) in [0, 1] -> (1, 3, H, W) float32 with the ImageNet mean and SD."""
    mean = np.asarray(IMAGENET_MEAN)[:, None, None]
    sd = np.asarray(IMAGENET_SD)[:, None, None]
    return ((scaled[None, :, :] - mean) / sd)[None].astype(np.float32)


def crop_input(image: sitk.Image, mask: sitk.Image, context_mm: float = 0.0, size: int = DEFAULT_INPUT_SIZE,
               ) -> tuple[np.ndarray, CropBox, list[str]]:
    """The network input of one region (see the module docstring): tensor, crop box, warnings."""
    import SimpleITK as sitk

    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ExtractionError("Deep features need a scalar (grey-level) image; this one has "
                              f"{image.GetNumberOfComponentsPerPixel()} components per pixel.")
    pixels = sitk.GetArrayViewFromImage(image)
    region = sitk.GetArrayViewFromImage(mask)
    if pixels.shape != region.shape:
        raise ExtractionError(f"Image {pixels.shape} and region {region.shape} grids differ; the region must be "
                              "on the image's grid.")
    if pixels.ndim == 2:
        pixels, region = pixels[None], region[None]
    k = largest_slice(region)
    spacing = image.GetSpacing()
    box = crop_box(region[k], (float(spacing[1]), float(spacing[0])), float(context_mm), k)
    crop = np.asarray(pixels[k, box.row0:box.row1, box.col0:box.col1], dtype=np.float64)
    scaled, warnings = minmax(crop)
    return to_tensor(resize_bilinear(scaled, size, size)), box, warnings


# ------------------------------------------------------------------------------- registry


def registry_path() -> Path:
    return Path(str(resources.files("AxillaryPredictorLib") / "resources" / "backbones" / "Backbones.json"))


def load_registry(path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """The backbone registry (schema-checked), by name."""
    import jsonschema

    path = Path(path) if path else registry_path()
    document = json.loads(path.read_text(encoding="utf-8"))
    schema_file = Path(str(resources.files("AxillaryPredictorLib") / "resources" / "schemas"
                           / "backbones.schema.json"))
    try:
        jsonschema.validate(document, json.loads(schema_file.read_text(encoding="utf-8")))
    except jsonschema.ValidationError as error:
        raise InputError(f"The backbone registry {path.name} is invalid: {error.message}") from None
    return {entry["name"]: entry for entry in document["backbones"]}


def cache_directory() -> Path:
    """Where fetched backbones live: ``$AXILLARY_PREDICTOR_BACKBONES`` or ``~/.axillary-predictor/backbones``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".axillary-predictor" / "backbones")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pinned(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def expected_sha256(entry: Mapping[str, Any], cached: Path) -> str | None:
    """The registry's SHA-256, or (registry ``null``) the one pinned in the cache at first fetch."""
    if entry.get("sha256"):
        return str(entry["sha256"]).lower()
    pin = _pinned(cached)
    return pin.read_text(encoding="utf-8").strip() if pin.is_file() else None


def _unknown_backbone(name: str, registry: Mapping[str, Any]) -> ExtractionError:
    return ExtractionError(f"Unknown backbone '{name}'. Registry backbones: {', '.join(registry)} "
                           "('axillary-predictor backbones list'); or give the path of an .onnx file.")


def fetch_backbone(name: str, *, url: str | None = None, cache: Path | None = None,
                   registry: Mapping[str, Mapping[str, Any]] | None = None, timeout: float = 60.0) -> Path:
    """Download backbone ``name`` (from its registry URL, or ``url``: a mirror) into the cache and
    verify its SHA-256; a mismatch is refused and nothing is kept. The one place that downloads."""
    import tempfile
    import urllib.error
    import urllib.request

    registry = registry if registry is not None else load_registry()
    if name not in registry:
        raise _unknown_backbone(name, registry)
    entry = registry[name]
    cache = Path(cache) if cache else cache_directory()
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"{name}.onnx"
    digest = hashlib.sha256()
    handle, partial = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=cache)
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url or entry["url"], timeout=timeout) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        actual = digest.hexdigest()
        wanted = str(entry["sha256"]).lower() if entry.get("sha256") else None
        if wanted and actual != wanted:
            raise ExtractionError(f"The download of backbone '{name}' from {url or entry['url']} has SHA-256 "
                                  f"{actual}, but the registry expects {wanted}: refused (the file is corrupt or not "
                                  "the published one). Nothing was kept; try again or check the URL.")
        os.replace(partial, target)
        if not wanted:  # registry publishes no checksum: pin the first download's
            _pinned(target).write_text(actual + "\n", encoding="utf-8")
    except (urllib.error.URLError, OSError) as error:
        raise InputError(f"Could not download backbone '{name}' from {url or entry['url']}: {error}") from None
    finally:
        Path(partial).unlink(missing_ok=True)
    return target


# --------------------------------------------------------------------------------- models


@dataclass(frozen=True)
class DeepSpec:
    """What to run: ``model`` (a registry name or an .onnx path), the graph ``output`` (default: the
    registry's, else the first), the ``region`` (default tumor; several comma-separated, e.g.
    ``tumor,node``), ``context_mm`` and ``input_size``
    (default: the registry's, else the model's fixed input size, else 224)."""

    model: str
    output: str | None = None
    region: str = "tumor"
    context_mm: float = 0.0
    input_size: int | None = None

    @classmethod
    def from_value(cls, value: DeepSpec | Mapping[str, Any] | str, base: Path | None = None) -> DeepSpec:
        """A spec from a spec, a profile's ``deep`` block (``backbone``/``model``, ``output``,
        ``region``, ``context_mm``/``context``, ``input_size``; paths relative to ``base``) or a name."""
        if isinstance(value, DeepSpec):
            return value
        if isinstance(value, str):
            return cls(value)
        model = value.get("backbone") or value.get("model")
        if not model:
            raise InputError("A 'deep' block needs 'backbone': a registry name or the path of an .onnx file.")
        model = str(model)
        if base is not None and model.lower().endswith(".onnx") and not Path(model).is_absolute():
            model = str(base / model)
        context = value.get("context_mm", value.get("context", 0.0))
        size = value.get("input_size")
        return cls(model, value.get("output"), str(value.get("region") or "tumor"), float(context or 0.0),
                   None if size is None else int(size))

    def to_dict(self) -> dict[str, Any]:
        return {"backbone": self.model, "output": self.output, "region": self.region,
                "context_mm": self.context_mm, "input_size": self.input_size}


_SESSIONS: dict[tuple[str, int], Any] = {}


def _threads(workers: int | None) -> int:
    if os.environ.get(THREADS_ENV):
        return max(1, int(os.environ[THREADS_ENV]))
    if workers:  # one process per worker: as many threads (cohort workers: 1)
        return max(1, int(workers))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, cores))


@dataclass
class DeepModel:
    """A verified ONNX backbone, ready to run (``resolve_model``)."""

    name: str
    path: Path
    sha256: str
    output: str
    input_size: int
    region: str = "tumor"
    context_mm: float = 0.0
    source: str = "file"  # "registry" or "file"
    threads: int = 1
    input_name: str = field(default="", repr=False)

    def session(self) -> Any:
        """The ONNX Runtime session (CPU), shared per file hash and thread count in this process."""
        key = (self.sha256, self.threads)
        if key not in _SESSIONS:
            _SESSIONS[key] = _open_session(self.path, self.threads)
        return _SESSIONS[key]

    def run(self, tensor: np.ndarray) -> np.ndarray:
        """Features of one input: the named output, 4-D outputs global-average-pooled."""
        session = self.session()
        output = np.asarray(session.run([self.output], {session.get_inputs()[0].name: tensor})[0],
                            dtype=np.float64)
        if output.ndim == 4:
            output = output.mean(axis=(2, 3))
        return output[0].ravel()

    @property
    def regions(self) -> list[str]:
        """The regions cropped (``region`` may list several, comma-separated: ``tumor,node``)."""
        return [r.strip() for r in self.region.split(",") if r.strip()]

    def features(self, image: sitk.Image, mask: sitk.Image, view: str, region: str | None = None,
                 ) -> tuple[dict[str, float], CropBox, list[str]]:
        """The deep columns of one region (default: the first of ``regions``) of one view, its crop
        box and the crop's warnings."""
        from AxillaryPredictorLib.extraction.tables import column_name

        region = region or self.regions[0]
        tensor, box, warnings = crop_input(image, mask, self.context_mm, self.input_size)
        values = self.run(tensor)
        prefix = f"{DEEP_PREFIX}{self.name}"
        return ({column_name(region, view, f"{prefix}_{k}"): float(v) for k, v in enumerate(values)}, box,
                [f"view {view}, region {region}: {w}" for w in warnings])

    def provenance(self) -> dict[str, Any]:
        return {"backbone": self.name, "file": self.path.name, "sha256": self.sha256, "output": self.output,
                "source": self.source, "region": self.region, "context_mm": self.context_mm,
                "input_size": self.input_size, "protocol": PROTOCOL}


def _open_session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for invalid files
        raise ExtractionError(f"ONNX Runtime could not load {path.name}: {error}") from None


def _locate(spec: DeepSpec, registry: Mapping[str, Mapping[str, Any]] | None, cache: Path | None,
            ) -> tuple[str, Path, str | None, Mapping[str, Any]]:
    """(name, file, expected SHA-256 or None, registry entry or {}) of a spec's model."""
    if spec.model.lower().endswith(".onnx") or Path(spec.model).is_file():
        path = Path(spec.model)
        if not path.is_file():
            raise InputFileNotFoundError(f"No ONNX model at {path}.")
        return safe_name(path.stem), path, None, {}
    registry = registry if registry is not None else load_registry()
    if spec.model not in registry:
        raise _unknown_backbone(spec.model, registry)
    entry = registry[spec.model]
    path = (Path(cache) if cache else cache_directory()) / f"{spec.model}.onnx"
    if not path.is_file():
        size = f" ({entry['size_bytes'] / 1e6:.0f} MB)" if entry.get("size_bytes") else ""
        raise ExtractionError(f"Backbone '{spec.model}' is not downloaded. Download it{size} with "
                              f"'axillary-predictor backbones fetch {spec.model}' (to {path.parent}).")
    return safe_name(spec.model), path, expected_sha256(entry, path), entry


def resolve_model(spec: DeepSpec | Mapping[str, Any] | str, *, workers: int | None = None,
                  registry: Mapping[str, Mapping[str, Any]] | None = None, cache: Path | None = None) -> DeepModel:
    """The verified model of ``spec``: its file is hashed now (every use) and a registry backbone whose
    SHA-256 differs from the registry's (or the one pinned at first fetch) is refused."""
    spec = DeepSpec.from_value(spec)
    name, path, wanted, entry = _locate(spec, registry, cache)
    actual = file_sha256(path)
    if wanted and actual != wanted:
        raise ExtractionError(f"Backbone '{spec.model}' at {path} has SHA-256 {actual}, but {wanted} is expected: "
                              "the file changed or is corrupt; refused. Fetch it again "
                              f"('axillary-predictor backbones fetch {spec.model}').")
    model = DeepModel(name, path, actual, "", 0, spec.region, spec.context_mm,
                      "registry" if entry else "file", _threads(workers))
    session = model.session()
    outputs = [o.name for o in session.get_outputs()]
    model.output = spec.output or entry.get("output") or outputs[0]
    if model.output not in outputs:
        raise ExtractionError(f"The model {path.name} has no output '{model.output}'; its outputs: "
                              f"{', '.join(outputs)}.")
    model.input_size = int(spec.input_size or entry.get("input_size") or _fixed_size(session) or DEFAULT_INPUT_SIZE)
    return model


def _fixed_size(session: Any) -> int | None:
    """The model's input size when its graph fixes a square H = W."""
    shape = session.get_inputs()[0].shape
    if len(shape) == 4 and isinstance(shape[2], int) and shape[2] == shape[3] and shape[2] > 0:
        return int(shape[2])
    return None


def check_package_backbone(recorded: Mapping[str, Any], model: DeepModel, model_id: str) -> None:
    """Refuse a case whose backbone (file SHA-256) or output differs from the one a package was trained on."""
    from AxillaryPredictorLib.errors import ModelError

    if recorded.get("sha256") != model.sha256 or (recorded.get("output") and recorded["output"] != model.output):
        raise ModelError(f"Model '{model_id}' was trained on deep features of backbone '{recorded.get('backbone')}' "
                         f"(sha256 {str(recorded.get('sha256'))[:12]}…, output {recorded.get('output')}), but this "
                         f"case's backbone is '{model.name}' (sha256 {model.sha256[:12]}…, output {model.output}): "
                         "the features would not be comparable. Use the same ONNX file.")
    crop = (recorded.get("region", "tumor"), float(recorded.get("context_mm", 0.0)),
            recorded.get("input_size") or model.input_size)
    if crop != (model.region, model.context_mm, model.input_size):
        raise ModelError(f"Model '{model_id}' was trained on deep features of region {crop[0]} with "
                         f"{crop[1]:g} mm context at {crop[2]} px, not {model.region}, {model.context_mm:g} mm, "
                         f"{model.input_size} px; use the package's settings.")
