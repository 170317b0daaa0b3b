"""The prediction report of one case: an HTML page and a PDF (matplotlib only), with images.

``write_report(report, out_dir)`` writes ``report.html``, ``report.pdf``, ``nomogram.png``
and one ``slice_<timepoint>.png`` per timepoint (an axial slice through the tumor centre
with the region contours). The HTML is self-contained: its images are embedded as
``data:image/png;base64,…`` URIs (the PNG files are written too, for other uses). Patient
names never appear: the report shows the case ID only.

``key_feature_rows`` and ``radscore_with_values`` give, for a logistic package, each term's
value, standardized value z, coefficient β and contribution β·z for one case, and the
RadScore formula evaluated with the case's values.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from AxillaryPredictorLib.errors import InputError

REGION_COLORS = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
DEMONSTRATION_WARNING = ("This model is a DEMONSTRATION trained on synthetic data. Its output carries no "
                         "clinical meaning and must not be used for patient care.")
NOT_VALIDATED_WARNING = ("This model has not been validated on local data. Do not use its output for "
                         "clinical decisions before local recalibration and validation.")


@dataclass
class TimepointImages:
    """An image and its region masks (name -> UInt8 mask) to show in the report."""

    label: str
    image: sitk.Image
    regions: dict[str, sitk.Image]


@dataclass
class CaseReport:
    """Everything the report shows (units in the strings where they apply)."""

    case_id: str
    probability: float
    risk_group: str
    threshold: float
    task: str
    model_id: str
    model_card: dict[str, Any]
    inputs: dict[str, Any]
    key_features: list[dict[str, Any]]  # name, value; optional: z, coefficient, contribution (β·z), score
    radscore_formula: str | None = None
    radscore_values: str | None = None  # the formula with this case's values (``radscore_with_values``)
    predictor_points: dict[str, float] = field(default_factory=dict)
    total_points: float | None = None
    nomogram: Any = None  # AxillaryPredictorLib.reporting.nomogram.Nomogram
    nomogram_values: dict[str, Any] | None = None
    images: list[TimepointImages] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)

    def status_warnings(self) -> list[str]:
        status = str(self.model_card.get("status", ""))
        notes = []
        if status == "demonstration":
            notes.append(DEMONSTRATION_WARNING)
        elif status != "locally-validated":
            notes.append(NOT_VALIDATED_WARNING)
        return notes


def tumor_centre_slice(mask: sitk.Image) -> int:
    """Index (k) of the axial slice through the centre of the mask's voxels."""
    array = sitk.GetArrayViewFromImage(mask)
    if not array.any():
        return array.shape[0] // 2
    k = np.nonzero(array.any(axis=(1, 2)))[0]
    return round((k.min() + k.max()) / 2)


def render_slice(images: TimepointImages, path: Path) -> Path:
    """PNG of the slice through the tumor centre with every region's contour."""
    from matplotlib.figure import Figure

    reference = images.regions["tumor"] if "tumor" in images.regions else next(iter(images.regions.values()), None)
    array = sitk.GetArrayViewFromImage(images.image)
    k = tumor_centre_slice(reference) if reference is not None else array.shape[0] // 2
    spacing = images.image.GetSpacing()
    figure = Figure(figsize=(5.2, 5.2), dpi=110)
    ax = figure.add_axes((0.02, 0.02, 0.96, 0.9))
    plane = np.asarray(array[k], dtype=float)
    low, high = np.percentile(plane, (1, 99.5))
    extent = (0, plane.shape[1] * spacing[0], plane.shape[0] * spacing[1], 0)
    ax.imshow(plane, cmap="gray", vmin=low, vmax=high, extent=extent, interpolation="nearest")
    handles = []
    for index, (name, mask) in enumerate(images.regions.items()):
        region = sitk.GetArrayViewFromImage(mask)[k]
        if region.any() and region.min() != region.max():
            color = REGION_COLORS[index % len(REGION_COLORS)]
            ax.contour(np.asarray(region, float), levels=[0.5], colors=[color], linewidths=1.2, extent=extent,
                       origin="upper", zorder=10 - index)  # the tumor (first) stays on top
            handles.append((color, name))
    for row, (color, name) in enumerate(handles):
        ax.text(0.02, 0.97 - row * 0.05, name, color=color, transform=ax.transAxes, fontsize=8, va="top",
                bbox={"facecolor": "black", "alpha": 0.4, "pad": 1, "edgecolor": "none"})
    ax.set_title(f"{images.label}: slice {k} (mm)", fontsize=9)
    ax.tick_params(labelsize=7)
    figure.savefig(path)
    return path


def _table(rows: list[list[Any]], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.4g}"
    return str(value)


STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 2em; color: #222; max-width: 980px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; border-bottom: 1px solid #ccc; padding-bottom: 2px; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
.result { font-size: 1.3em; padding: 0.6em; background: #f3f6fa; border-left: 5px solid #1f77b4; }
.warning { background: #fff3cd; border-left: 5px solid #d39e00; padding: 0.5em; margin: 0.4em 0; }
.formula { font-family: monospace; white-space: pre-wrap; background: #f7f7f7; padding: 0.5em; }
img { max-width: 100%; }
"""


def png_data_uri(source: str | Path | bytes) -> str:
    """A ``data:image/png;base64,…`` URI of a PNG file (or its bytes)."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise InputError(f"{source if not isinstance(source, bytes) else 'data'} is not a PNG image.")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def write_report(report: CaseReport, out_dir: str | Path) -> dict[str, Path]:
    """Write the HTML (images embedded) and PDF report, and the PNG images; returns the paths by role."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    if report.nomogram is not None:
        figure = report.nomogram.draw(report.nomogram_values, title=f"Nomogram — case {report.case_id}: "
                                      f"{report.risk_group} risk (cut-off {report.threshold:.0%})")
        figure.savefig(out_dir / "nomogram.png")
        paths["nomogram"] = out_dir / "nomogram.png"
    for images in report.images:
        name = f"slice_{images.label.replace(' ', '_').lower()}.png"
        paths[f"slice_{images.label}"] = render_slice(images, out_dir / name)
    html_text = render_html(report, {k: png_data_uri(v) for k, v in paths.items()},
                            files={k: v.name for k, v in paths.items()})
    (out_dir / "report.html").write_text(html_text, encoding="utf-8")
    paths["html"] = out_dir / "report.html"
    paths["pdf"] = write_pdf(report, out_dir / "report.pdf", paths)
    return paths


KEY_FEATURE_COLUMNS = (("name", "feature"), ("value", "value"), ("z", "z (standardized)"),
                       ("coefficient", "coefficient β"), ("contribution", "contribution β·z"), ("score", "term of"))


def _contribution(row: Mapping[str, Any]) -> Any:
    """The row's contribution, or β·z when it has both and no contribution of its own."""
    if row.get("contribution") not in (None, ""):
        return row["contribution"]
    if row.get("coefficient") not in (None, "") and row.get("z") not in (None, ""):
        return float(row["coefficient"]) * float(row["z"])
    return ""


def _key_features_table(rows: list[dict[str, Any]]) -> str:
    table = [{**row, "contribution": _contribution(row)} for row in rows]
    # name, value and coefficient always; z / contribution / score only when some row has them
    shown = [(key, title) for key, title in KEY_FEATURE_COLUMNS
             if key in ("name", "value", "coefficient") or any(r.get(key) not in (None, "") for r in table)]
    return _table([[r.get(key, "") if r.get(key) is not None else "" for key, _ in shown] for r in table],
                  [title for _, title in shown])


def render_html(report: CaseReport, images: dict[str, str], files: dict[str, str] | None = None) -> str:
    """The report page; ``images`` maps roles to each image's ``src`` (a ``data:`` URI for a
    self-contained page, or a file name); ``files`` optionally names the PNG written beside it."""
    card = report.model_card
    files = files or {}
    warnings = report.status_warnings() + report.warnings

    def img(role: str, alt: str, element_id: str | None = None) -> str:
        extra = f" id='{element_id}'" if element_id else ""
        if role in files:
            extra += f" data-file='{html.escape(files[role], quote=True)}'"
        return f"<img{extra} src='{html.escape(images[role], quote=True)}' alt='{html.escape(alt, quote=True)}'>"

    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>AxillaryPredictor report — {html.escape(report.case_id)}</title>"
             f"<style>{STYLE}</style></head><body>",
             f"<h1>AxillaryPredictor report — case {html.escape(report.case_id)}</h1>"]
    parts += [f"<div class='warning' id='warning-{i}'>{html.escape(w)}</div>" for i, w in enumerate(warnings)]
    parts.append(
        f"<div class='result' id='result'>Predicted probability of {html.escape(report.task)}: "
        f"<b>{report.probability:.1%}</b> — risk group <b>{html.escape(report.risk_group)}</b> "
        f"(model cut-off {report.threshold:.3f})</div>")
    parts.append("<h2>Inputs and settings</h2>" + _table([[k, v] for k, v in report.inputs.items()],
                                                         ["input", "value"]))
    if report.images:
        parts.append("<h2>Regions</h2>")
        for item in report.images:
            key = f"slice_{item.label}"
            parts.append(f"<figure>{img(key, f'{item.label} slice with region contours')}<figcaption>"
                         f"{html.escape(item.label)}: axial slice through the tumor centre "
                         f"with the region contours</figcaption></figure>")
    parts.append("<h2>Key features</h2>" + _key_features_table(report.key_features))
    if report.radscore_formula or report.radscore_values:
        parts.append("<h2>RadScore</h2>")
        if report.radscore_formula:
            parts.append(f"<div class='formula' id='radscore'>{html.escape(report.radscore_formula)}</div>")
        if report.radscore_values:
            parts.append("<p>With this case's values (z = standardized value):</p>"
                         f"<div class='formula' id='radscore-values'>{html.escape(report.radscore_values)}</div>")
    if "nomogram" in images:
        parts.append("<h2>Nomogram</h2>" + _table(
            [[k, v] for k, v in report.predictor_points.items()] + [["Total points (Nomo-score)",
                                                                     report.total_points]],
            ["predictor", "points"]))
        parts.append(img("nomogram", "nomogram with the patient marked", "nomogram"))
    parts.append("<h2>Model card</h2>" + _table([[k, _card_value(v)] for k, v in card.items()], ["field", "value"]))
    parts.append("<h2>Versions and provenance</h2>" + _table([[k, v] for k, v in report.versions.items()],
                                                            ["component", "version / hash"]))
    parts.append("<p><small>Generated by AxillaryPredictor. Research use only; not a medical device.</small></p>")
    parts.append("</body></html>")
    return "\n".join(parts)


# ------------------------------------------------------------ terms of a logistic package


def _score_label(name: str) -> str:
    return "RadScore" if name == "radscore" else name


def _case_frame(design: Any):
    """The first case of a design (``ModelPackage.design``), as a one-row frame."""
    import pandas as pd

    return pd.DataFrame([dict(design)]) if isinstance(design, Mapping) else design.iloc[[0]]


def _linear_terms(package: Any, design: Any) -> list[dict[str, Any]]:
    """Each linear score of a logistic package for one case: name, intercept and its terms
    (feature, value used, z, β, β·z), in the order of |β| as the printed formulas."""
    document = package.document
    if document.get("status") == "published-needs-recalibration":
        return []  # its z-scores are undefined until recalibrated
    case = _case_frame(design)
    scores = []
    specs = [(d["name"], d["features"], d.get("mean"), d.get("scale"), d.get("intercept", 0.0), d["coefficients"],
              d.get("impute")) for d in document.get("derived", [])]
    estimator = document["estimator"]
    if not specs:
        if estimator.get("type") != "logistic":
            return []
        standardization = document.get("standardization") or {}
        name = "radscore" if document.get("radscore_formula") and standardization else "linear predictor"
        specs.append((name, document["features"], standardization.get("mean"), standardization.get("scale"),
                      estimator["intercept"], estimator["coefficients"],
                      (document.get("imputation") or {}).get("values")))
    for name, features, means, scales, intercept, coefficients, fills in specs:
        terms = []
        for index, feature in enumerate(features):
            value = float(case[feature].iloc[0])
            if math.isnan(value) and fills is not None:
                value = float(fills[index])
            mean = float(means[index]) if means is not None else 0.0
            scale = float(scales[index]) if scales is not None else 1.0
            z = (value - mean) / scale
            coefficient = float(coefficients[index])
            terms.append({"name": feature, "value": value, "z": z, "coefficient": coefficient,
                          "contribution": coefficient * z, "score": _score_label(name)})
        terms.sort(key=lambda t: -abs(t["coefficient"]))
        scores.append({"name": _score_label(name), "intercept": float(intercept), "terms": terms,
                       "standardized": means is not None})
    return scores


def key_feature_rows(package: Any, design: Any) -> list[dict[str, Any]]:
    """Key-feature rows of a logistic package for one case (``design``: the package's design of the
    case, ``ModelPackage.design``, first row used): each RadScore term (derived scores; for a plain
    logistic package the model's own inputs) with its value, z, β and contribution β·z.
    Empty for packages without linear scores (e.g. xgboost)."""
    return [term for score in _linear_terms(package, design) for term in score["terms"]]


def radscore_with_values(package: Any, design: Any) -> str | None:
    """Each RadScore (linear score) written out with this case's standardized values:
    ``RadScore = −0.953 − 0.371 × (0.512) + … = −1.204``; None without linear scores."""
    lines = []
    for score in _linear_terms(package, design):
        total = score["intercept"] + sum(t["contribution"] for t in score["terms"])
        text = " ".join(f"{'−' if t['coefficient'] < 0 else '+'} {abs(t['coefficient']):.3f} × ({t['z']:.3f})"
                        for t in score["terms"])
        lines.append(f"{score['name']} = {score['intercept']:.3f} {text} = {total:.3f}")
    return "\n".join(lines) or None


def _card_value(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_card_value(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_card_value(v) for v in value)
    return _fmt(value)


def write_pdf(report: CaseReport, path: Path, images: dict[str, Path]) -> Path:
    """A PDF of the same content (text page, images, nomogram, model card) with matplotlib."""
    import matplotlib.image as mpimg
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    def text_page(title: str, lines: list[str]) -> Figure:
        figure = Figure(figsize=(8.27, 11.69))
        figure.text(0.07, 0.95, title, fontsize=14, weight="bold", va="top")
        y = 0.91
        for line in lines:
            for chunk in _wrap(line, 95):
                figure.text(0.07, y, chunk, fontsize=9, va="top", family="monospace")
                y -= 0.018
                if y < 0.04:
                    break
        return figure

    summary = [*report.status_warnings(), *report.warnings, "",
               f"Predicted probability of {report.task}: {report.probability:.1%}",
               f"Risk group: {report.risk_group} (cut-off {report.threshold:.3f})", ""]
    summary += [f"{k}: {v}" for k, v in report.inputs.items()]
    summary += ["", "Key features:"]
    for feature in report.key_features:
        contribution = _contribution(feature)
        summary.append(f"  {feature.get('name')} = {_fmt(feature.get('value'))}"
                       + (f"  (β·z = {_fmt(float(contribution))})" if contribution != "" else ""))
    if report.radscore_formula:
        summary += ["", "RadScore:", report.radscore_formula]
    if report.radscore_values:
        summary += ["", "With this case's values:", report.radscore_values]
    if report.total_points is not None:
        summary += ["", f"Total points (Nomo-score): {report.total_points:.2f}"]
        summary += [f"  {k}: {v:.2f}" for k, v in report.predictor_points.items()]
    card = [f"{k}: {_card_value(v)}" for k, v in report.model_card.items()]
    versions = [f"{k}: {v}" for k, v in report.versions.items()]
    with PdfPages(path) as pdf:
        pdf.savefig(text_page(f"AxillaryPredictor report — case {report.case_id}", summary))
        for role, image_path in images.items():
            if image_path.suffix != ".png":
                continue
            figure = Figure(figsize=(8.27, 11.69))
            ax = figure.add_axes((0.05, 0.25, 0.9, 0.7))
            ax.imshow(mpimg.imread(image_path))
            ax.axis("off")
            figure.text(0.07, 0.97, role.replace("_", " ").capitalize(), fontsize=12, va="top")
            pdf.savefig(figure)
        pdf.savefig(text_page("Model card and versions", [*card, "", *versions]))
    return path


def _wrap(line: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(line, width) or [""]
