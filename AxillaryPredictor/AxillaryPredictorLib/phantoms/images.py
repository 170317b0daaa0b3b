"""Deterministic synthetic breast phantoms: images, tumor and node masks, tissue labels.

A phantom is an analytic scene in world coordinates (LPS, mm) sampled on the voxel
grid of an imaging preset:

- breast: a half-ellipsoid anterior to a chest-wall plane, fatty tissue with a
  fibroglandular pattern (thresholded smoothed noise), a 2 mm skin line, air outside;
- lesion: an ellipsoid whose radius varies with direction — lobes (broad bumps) and
  spicules (narrow spikes) — with heterogeneous enhancement, an optional necrotic core
  and optional peritumoral enhancement (oedema) that decays over ~3 mm;
- optional lymph node: an ellipsoid with a cortex of given thickness around a fatty hilum.

Presets: ``dce`` (DCE-MRI, 0.7x0.7x1.5 mm, smooth bias field), ``dbt-cc`` and ``dbt-mlo``
(DBT slab stacks of the same lesion, 0.5x0.5x1 mm, blurred through-plane; MLO is
oblique: its grid is rotated 45 degrees about the antero-posterior axis) and ``us``
(2D B-mode ultrasound: one slice, speckle). The same seed gives bit-identical images.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

#: Tissue label values of ``Phantom.labels``.
TISSUE_LABELS = {"air": 0, "fat": 1, "glandular": 2, "skin": 3, "chest wall": 4, "tumor": 5, "node": 6}

CHEST_WALL_Y = 32.0  # mm; LPS +y is posterior, so the breast lies at y < CHEST_WALL_Y
BREAST_SEMI_AXES = (60.0, 57.0, 50.0)  # mm (x, y, z) of the half-ellipsoid
SKIN_MM = 2.0
LESION_CENTRE = (5.0, 0.0, 0.0)
NODE_OFFSET = (-27.0, -10.0, 0.0)  # node centre relative to the lesion centre


@dataclass(frozen=True)
class LesionSpec:
    """Lesion shape and appearance (sizes in mm, other values unitless 0..1 unless said)."""

    diameter_mm: float = 20.0  # diameter of the sphere with the lesion's base ellipsoid volume
    elongation: tuple[float, float, float] = (1.15, 1.0, 0.87)  # semi-axis ratios (x, y, z), product 1
    lobulation: float = 0.15  # relative amplitude of broad lobes
    spiculation: float = 0.0  # relative amplitude of narrow spicules
    heterogeneity: float = 0.3  # SD of internal texture relative to the lesion's enhancement
    enhancement: float = 1.0  # lesion signal relative to the preset's nominal lesion signal
    necrosis: float = 0.0  # radius fraction of a hypo-enhancing necrotic core (0 = none)
    peritumoral: float = 0.0  # peritumoral enhancement (oedema), relative to the lesion's


@dataclass(frozen=True)
class NodeSpec:
    """Axillary lymph node: ellipsoid with a cortex around a fatty hilum (mm)."""

    short_axis_mm: float = 6.0
    long_axis_mm: float = 11.0
    cortex_mm: float = 1.5


@dataclass(frozen=True)
class Preset:
    """Voxel grid and appearance of one imaging setting."""

    name: str
    modality: str
    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    rotation_deg: float = 0.0  # rotation of the grid about the antero-posterior (y) axis
    intensities: dict[str, float] = field(default_factory=dict)
    noise_sd: float = 10.0
    through_plane_blur_mm: float = 0.0
    bias_field: float = 0.0
    speckle: bool = False


PRESETS: dict[str, Preset] = {
    "dce": Preset(
        "dce", "MR", (128, 128, 48), (0.7, 0.7, 1.5),
        intensities={"air": 5, "fat": 120, "glandular": 300, "skin": 250, "chest wall": 200,
                     "tumor": 650, "necrosis": 160, "node": 380, "hilum": 130},
        noise_sd=12.0, bias_field=0.15),
    "dbt-cc": Preset(
        "dbt-cc", "DBT", (160, 160, 48), (0.5, 0.5, 1.0),
        intensities={"air": 0, "fat": 300, "glandular": 560, "skin": 520, "chest wall": 650,
                     "tumor": 720, "necrosis": 600, "node": 640, "hilum": 320},
        noise_sd=15.0, through_plane_blur_mm=2.0),
    "dbt-mlo": Preset(
        "dbt-mlo", "DBT", (160, 160, 48), (0.5, 0.5, 1.0), rotation_deg=45.0,
        intensities={"air": 0, "fat": 300, "glandular": 560, "skin": 520, "chest wall": 650,
                     "tumor": 720, "necrosis": 600, "node": 640, "hilum": 320},
        noise_sd=15.0, through_plane_blur_mm=2.0),
    "us": Preset(
        "us", "US", (256, 200, 1), (0.25, 0.25, 1.0),
        intensities={"air": 0, "fat": 70, "glandular": 150, "skin": 200, "chest wall": 110,
                     "tumor": 35, "necrosis": 15, "node": 45, "hilum": 160},
        noise_sd=0.0, speckle=True),
}


@dataclass
class Phantom:
    """One synthetic scan: image, masks (UInt8 0/1), tissue labels and the ground truth."""

    image: sitk.Image
    tumor: sitk.Image
    node: sitk.Image | None
    labels: sitk.Image
    truth: dict[str, Any]
    preset: str

    def write(self, folder: str | Path, case_id: str = "phantom") -> dict[str, Path]:
        """Write ``<case_id>_image.nrrd``, ``_tumor.nrrd``, ``_node.nrrd``, ``_labels.nrrd``
        and ``_truth.json`` into ``folder``; return the paths by role."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"image": folder / f"{case_id}_image.nrrd", "tumor": folder / f"{case_id}_tumor.nrrd",
                 "labels": folder / f"{case_id}_labels.nrrd", "truth": folder / f"{case_id}_truth.json"}
        sitk.WriteImage(self.image, str(paths["image"]), True)
        sitk.WriteImage(self.tumor, str(paths["tumor"]), True)
        sitk.WriteImage(self.labels, str(paths["labels"]), True)
        if self.node is not None:
            paths["node"] = folder / f"{case_id}_node.nrrd"
            sitk.WriteImage(self.node, str(paths["node"]), True)
        paths["truth"].write_text(json.dumps(self.truth, indent=2, sort_keys=True))
        return paths


# ------------------------------------------------------------------------- geometry


def _rotation_about_y(degrees: float) -> np.ndarray:
    t = np.deg2rad(degrees)
    return np.array([[np.cos(t), 0.0, np.sin(t)], [0.0, 1.0, 0.0], [-np.sin(t), 0.0, np.cos(t)]])


def preset_grid(preset: Preset, centre: tuple[float, float, float] = LESION_CENTRE) -> sitk.Image:
    """Empty float32 image with the preset's grid, centred on ``centre`` (mm).

    DCE grids are centred on the breast so that air, skin and chest wall are in view;
    DBT and US grids are centred on the lesion (US: skin line at the top row).
    """
    image = sitk.Image([int(s) for s in preset.size], sitk.sitkFloat32)
    image.SetSpacing(preset.spacing)
    direction = _rotation_about_y(preset.rotation_deg)
    image.SetDirection(direction.ravel().tolist())
    extent = (np.array(preset.size) - 1) * np.array(preset.spacing)
    if preset.name == "dce":
        grid_centre = np.array([centre[0], 0.0, centre[2]])
    elif preset.name == "us":
        # probe on the skin: the first row lies 2 mm anterior to the breast surface
        surface_y = _breast_surface_y(centre[0], centre[2])
        grid_centre = np.array([centre[0], surface_y - 2.0 + extent[1] / 2, centre[2]])
    else:
        grid_centre = np.array(centre, dtype=float)
    origin = grid_centre - direction @ (extent / 2)
    image.SetOrigin(origin.tolist())
    return image


def _breast_surface_y(x: float, z: float) -> float:
    ax, ay, az = BREAST_SEMI_AXES
    inside = max(1.0 - (x / ax) ** 2 - (z / az) ** 2, 0.0)
    return CHEST_WALL_Y - ay * np.sqrt(inside)


def physical_points(image: sitk.Image) -> np.ndarray:
    """World coordinates (mm) of every voxel, shape (k, j, i, 3) in numpy order."""
    size = image.GetSize()
    k, j, i = np.meshgrid(np.arange(size[2]), np.arange(size[1]), np.arange(size[0]), indexing="ij")
    ijk = np.stack([i, j, k], axis=-1).astype(np.float64) * np.array(image.GetSpacing())
    direction = np.array(image.GetDirection()).reshape(3, 3)
    return ijk @ direction.T + np.array(image.GetOrigin())


def _fibonacci_sphere(count: int) -> np.ndarray:
    index = np.arange(count) + 0.5
    polar = np.arccos(1 - 2 * index / count)
    azimuth = np.pi * (1 + 5**0.5) * index
    return np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], axis=1)


@dataclass(frozen=True)
class LesionShape:
    """Direction-dependent radius R(u) = r_ellipsoid(u) · (1 + lobes(u) + spicules(u)) (mm)."""

    semi_axes: tuple[float, float, float]
    lobe_directions: np.ndarray
    lobe_weights: np.ndarray
    spicule_directions: np.ndarray
    lobulation: float
    spiculation: float
    scale: float = 1.0

    def radius(self, unit: np.ndarray) -> np.ndarray:
        """Boundary distance from the centre along unit vectors ``unit`` (..., 3), in mm."""
        a = np.array(self.semi_axes)
        base = 1.0 / np.sqrt(np.sum((unit / a) ** 2, axis=-1))
        lobes = np.exp(4.0 * (unit @ self.lobe_directions.T - 1.0)) @ self.lobe_weights
        lobes = lobes - self.lobe_weights.sum() * 0.125  # roughly zero-mean over the sphere
        spikes = np.exp(60.0 * (unit @ self.spicule_directions.T - 1.0)).sum(axis=-1)
        return self.scale * base * (1.0 + self.lobulation * lobes + self.spiculation * spikes)

    def volume_mm3(self, directions: int = 40000) -> float:
        """Volume of the star-shaped lesion, (1/3)∮R(u)³dΩ, by quadrature on a Fibonacci sphere."""
        r = self.radius(_fibonacci_sphere(directions))
        return float(4.0 * np.pi * np.mean(r**3) / 3.0)

    def max_radius(self) -> float:
        return float(self.radius(_fibonacci_sphere(4000)).max() * 1.05 + 1.0)


def lesion_shape(spec: LesionSpec, rng: np.random.Generator) -> LesionShape:
    """Draw lobe and spicule directions for ``spec`` (consumes ``rng`` deterministically)."""
    ratios = np.array(spec.elongation, dtype=float)
    ratios = ratios / np.prod(ratios) ** (1 / 3)
    semi_axes = tuple(float(v) for v in ratios * spec.diameter_mm / 2)
    lobes = rng.normal(size=(6, 3))
    spicules = rng.normal(size=(10, 3))
    return LesionShape(
        semi_axes=semi_axes,
        lobe_directions=lobes / np.linalg.norm(lobes, axis=1, keepdims=True),
        lobe_weights=rng.uniform(0.5, 1.0, size=6),
        spicule_directions=spicules / np.linalg.norm(spicules, axis=1, keepdims=True),
        lobulation=spec.lobulation,
        spiculation=spec.spiculation,
    )


# --------------------------------------------------------------------------- sampling


def _smooth_noise(shape: tuple[int, ...], sigma_vox: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal(shape).astype(np.float64)
    field_ = ndimage.gaussian_filter(noise, sigma=sigma_vox, mode="reflect")
    sd = field_.std()
    return field_ / sd if sd > 0 else field_


def _sigma_voxels(image: sitk.Image, mm: float) -> np.ndarray:
    """Gaussian sigma in voxels (numpy order k, j, i) for ``mm``; 0 along 1-voxel axes."""
    spacing = np.array(image.GetSpacing())[::-1]
    size = np.array(image.GetSize())[::-1]
    return np.where(size > 1, mm / spacing, 0.0)


def make_phantom(
    preset: str = "dce",
    seed: int = 0,
    lesion: LesionSpec | None = None,
    node: NodeSpec | bool | None = None,
    *,
    lesion_scale: float = 1.0,
    noise_seed: int | None = None,
) -> Phantom:
    """Generate one phantom scan.

    ``seed`` fixes the anatomy (background texture, lesion shape); ``noise_seed``
    (default: ``seed``) fixes the acquisition noise, so a paired scan can share the
    anatomy and differ in noise. ``lesion_scale`` scales the lesion linearly
    (volume by its cube); 0 gives an empty tumor (complete response).
    """
    if preset not in PRESETS:
        raise ValueError(f"Unknown phantom preset '{preset}'. Choose one of: {', '.join(PRESETS)}.")
    p = PRESETS[preset]
    lesion = lesion or LesionSpec()
    node_spec = NodeSpec() if node is True else (node or None)
    anatomy = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    acquisition = np.random.default_rng(np.random.SeedSequence([seed if noise_seed is None else noise_seed, 11]))
    # The lesion's shape depends on the seed only, never on the preset: CC, MLO, US
    # and both timepoints of a pair show the same lesion.
    shape = replace(lesion_shape(lesion, np.random.default_rng(np.random.SeedSequence([seed, 3]))),
                    scale=lesion_scale)

    grid = preset_grid(p)
    points = physical_points(grid)
    arr_shape = points.shape[:3]

    # Breast, skin, chest wall, air.
    ax, ay, az = BREAST_SEMI_AXES
    rel_y = points[..., 1] - CHEST_WALL_Y
    rho = np.sqrt((points[..., 0] / ax) ** 2 + (rel_y / ay) ** 2 + (points[..., 2] / az) ** 2)
    anterior = rel_y < 0
    breast = anterior & (rho <= 1.0)
    skin = breast & (rho > 1.0 - SKIN_MM / min(BREAST_SEMI_AXES))
    chest = ~anterior
    labels = np.zeros(arr_shape, np.uint8)
    labels[breast] = TISSUE_LABELS["fat"]
    texture = _smooth_noise(arr_shape, _sigma_voxels(grid, 4.0), anatomy)
    glandular = breast & ~skin & (texture > 0.5)
    labels[glandular] = TISSUE_LABELS["glandular"]
    labels[skin] = TISSUE_LABELS["skin"]
    labels[chest] = TISSUE_LABELS["chest wall"]

    intensity = np.zeros(arr_shape, np.float64)
    for tissue in ("air", "fat", "glandular", "skin", "chest wall"):
        intensity[labels == TISSUE_LABELS[tissue]] = p.intensities[tissue]
    intensity += 0.08 * p.intensities["fat"] * _smooth_noise(arr_shape, _sigma_voxels(grid, 1.0), anatomy) * breast

    # Lesion: signed distance along the ray to the boundary gives a partial-volume edge.
    offset = points - np.array(LESION_CENTRE)
    dist = np.linalg.norm(offset, axis=-1)
    unit = offset / np.maximum(dist, 1e-9)[..., None]
    tumor = np.zeros(arr_shape, bool)
    lesion_texture = _smooth_noise(arr_shape, _sigma_voxels(grid, 1.5), anatomy)
    if lesion_scale > 0:
        near = dist <= shape.max_radius()
        radius = np.full(arr_shape, -1.0)
        radius[near] = shape.radius(unit[near])
        tumor = dist <= radius
        voxel = float(np.min(grid.GetSpacing()[:2] if p.size[2] == 1 else grid.GetSpacing()))
        coverage = np.clip((radius - dist) / voxel + 0.5, 0.0, 1.0)
        signal = p.intensities["tumor"] * lesion.enhancement * (1.0 + lesion.heterogeneity * lesion_texture)
        if lesion.necrosis > 0:
            core = dist <= lesion.necrosis * radius
            signal = np.where(core, p.intensities["necrosis"], signal)
        if lesion.peritumoral > 0:
            outside = np.clip(dist - radius, 0.0, None)
            halo = lesion.peritumoral * p.intensities["tumor"] * np.exp(-outside / 3.0) * (outside > 0)
            intensity = intensity + halo * breast * (outside < 10.0)
        intensity = intensity * (1 - coverage) + signal * coverage
        labels[tumor] = TISSUE_LABELS["tumor"]

    node_mask = None
    if node_spec is not None:
        node_mask, hilum = _node_masks(points, node_spec, anatomy)
        intensity[node_mask] = p.intensities["node"]
        intensity[hilum] = p.intensities["hilum"]
        labels[node_mask] = TISSUE_LABELS["node"]

    intensity = _acquire(intensity, labels, grid, p, acquisition)
    image = sitk.GetImageFromArray(intensity.astype(np.float32))
    image.CopyInformation(grid)

    def as_mask(array: np.ndarray) -> sitk.Image:
        mask = sitk.GetImageFromArray(array.astype(np.uint8))
        mask.CopyInformation(grid)
        return mask

    planar = p.size[2] == 1
    voxel_size = float(np.prod(grid.GetSpacing()[:2] if planar else grid.GetSpacing()))
    truth: dict[str, Any] = {
        "preset": p.name,
        "modality": p.modality,
        "seed": seed,
        "noise_seed": seed if noise_seed is None else noise_seed,
        "lesion": asdict(lesion),
        "lesion_scale": lesion_scale,
        "lesion_centre_mm": list(LESION_CENTRE),
        "lesion_volume_mm3": shape.volume_mm3() if lesion_scale > 0 else 0.0,
        "tumor_voxels": int(tumor.sum()),
        # 2D presets (US) measure the lesion's cross-section area instead of a volume
        ("tumor_area_mm2" if planar else "tumor_voxel_volume_mm3"): float(tumor.sum()) * voxel_size,
        "node": asdict(node_spec) if node_spec is not None else None,
        "spacing_mm": list(grid.GetSpacing()),
        "direction": list(grid.GetDirection()),
        "tissue_labels": TISSUE_LABELS,
    }
    return Phantom(image=image, tumor=as_mask(tumor), node=None if node_mask is None else as_mask(node_mask),
                   labels=as_mask(labels), truth=truth, preset=p.name)


def _node_masks(points: np.ndarray, spec: NodeSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Whole node and hilum masks; the long axis is drawn at random in the x-y plane."""
    centre = np.array(LESION_CENTRE) + np.array(NODE_OFFSET)
    angle = rng.uniform(0, np.pi)
    axes = np.array([[np.cos(angle), np.sin(angle), 0.0], [-np.sin(angle), np.cos(angle), 0.0], [0, 0, 1.0]])
    local = (points - centre) @ axes.T
    semi = np.array([spec.long_axis_mm, spec.short_axis_mm, spec.short_axis_mm]) / 2
    whole = np.sum((local / semi) ** 2, axis=-1) <= 1.0
    inner = np.maximum(semi - spec.cortex_mm, 0.1)
    hilum = np.sum((local / inner) ** 2, axis=-1) <= 1.0
    return whole, hilum & whole


def _acquire(intensity: np.ndarray, labels: np.ndarray, grid: sitk.Image, p: Preset,
             rng: np.random.Generator) -> np.ndarray:
    """Scanner effects: through-plane blur (DBT), bias field (MRI), noise or speckle (US)."""
    if p.through_plane_blur_mm > 0:
        # DBT resolves poorly along the slice (k) axis of its own grid.
        intensity = ndimage.gaussian_filter1d(intensity, p.through_plane_blur_mm / grid.GetSpacing()[2],
                                              axis=0, mode="nearest")
    if p.bias_field > 0:
        k, j, i = np.meshgrid(*[np.linspace(-1, 1, n) for n in intensity.shape], indexing="ij")
        intensity = intensity * (1.0 + p.bias_field * (0.6 * i + 0.4 * j - 0.3 * k))
    if p.speckle:
        # Fully developed speckle: Rayleigh-distributed multiplicative noise with mean 1.
        speckle = rng.rayleigh(scale=np.sqrt(2 / np.pi), size=intensity.shape)
        intensity = ndimage.gaussian_filter(intensity * speckle, sigma=(0, 0.8, 0.8))
    if p.noise_sd > 0:
        intensity = intensity + rng.normal(0.0, p.noise_sd, size=intensity.shape)
    return intensity


def make_pair(
    seed: int = 0,
    volume_factor: float = 0.5,
    preset: str = "dce",
    lesion: LesionSpec | None = None,
    *,
    enhancement_factor: float = 0.8,
    heterogeneity_change: float = -0.1,
    peritumoral_factor: float = 1.0,
    node: NodeSpec | bool | None = None,
) -> tuple[Phantom, Phantom]:
    """Baseline and on-treatment scans of the same breast and lesion.

    The on-treatment lesion has the same shape scaled to ``volume_factor`` times the
    baseline volume (linear scale ``volume_factor ** (1/3)``; 0 = complete response),
    enhancement times ``enhancement_factor``, peritumoral enhancement times
    ``peritumoral_factor`` and heterogeneity shifted by ``heterogeneity_change``.
    The analytic relative volume change is ``volume_factor - 1``.
    """
    if volume_factor < 0:
        raise ValueError("volume_factor must be >= 0 (on-treatment volume / baseline volume).")
    lesion = lesion or LesionSpec()
    baseline = make_phantom(preset, seed, lesion, node)
    treated = replace(lesion, enhancement=lesion.enhancement * enhancement_factor,
                      heterogeneity=max(lesion.heterogeneity + heterogeneity_change, 0.0),
                      peritumoral=max(lesion.peritumoral * peritumoral_factor, 0.0))
    ontreatment = make_phantom(preset, seed, treated, node, lesion_scale=volume_factor ** (1 / 3),
                               noise_seed=seed + 1_000_003)
    for phantom, timepoint in ((baseline, "baseline"), (ontreatment, "ontreatment")):
        phantom.truth["timepoint"] = timepoint
        phantom.truth["volume_factor"] = volume_factor
        phantom.truth["relative_volume_change"] = volume_factor - 1.0
    return baseline, ontreatment
