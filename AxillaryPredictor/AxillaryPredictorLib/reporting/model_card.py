"""The model card: what a model package is, shown before and with every prediction.

One builder (``model_card``) serves the case report, the Slicer panel and the web page, so a
model's status, intended use and reported performance read the same everywhere.

The card says where the package comes from: bundled (the bundled registry lists its id and SHA-256)
or "user-supplied, unverified", whose status is shown as claimed by the file (anyone can recompute a
package's SHA-256, so a file's own claims are not evidence)."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any


def performance_text(performance: Mapping[str, Any]) -> str:
    """``cross-validated AUC 0.812 (95% CI 0.751-0.873), <method>`` (with the image-only RadScore's and
    the permuted-outcome null test's cross-validated AUCs when the package reports them, as the
    demonstration models do) or ``not reported``."""
    cv = performance.get("cv", {})
    if not cv:
        return "not reported"
    text = (f"cross-validated AUC {cv['auc']:.3f} (95% CI {cv.get('auc_lower', math.nan):.3f}-"
            f"{cv.get('auc_upper', math.nan):.3f}), {cv.get('method', '')}")
    extras = [f"{label} {cv[key]:.3f}" for key, label in (("radscore_auc", "image-only RadScore(s)"),
                                                           ("null_auc", "same recipe on permuted outcomes"))
              if isinstance(cv.get(key), int | float)]
    return text + (f"; cross-validated AUC of the {', of the '.join(extras)}" if extras else "")


USER_WARNING = ("User-supplied model package, not verified: it is not one bundled with AxillaryPredictor, so its "
                "status, performance and intended use are claims of the file.")


def status_warning(status: str, origin: str = "bundled") -> str:
    """The caution a model's status and origin call for ('' for bundled, locally validated models)."""
    if origin != "bundled":  # its claimed status proves nothing: at best "not validated"
        claimed = status_warning(status if status == "demonstration" else "unverified")
        return f"{USER_WARNING} {claimed}"
    if status == "demonstration":
        return "Demonstration model trained on synthetic data: no clinical meaning."
    if status != "locally-validated":
        return "Not validated on local data."
    return ""


def _document_and_origin(source: Any) -> tuple[Mapping[str, Any], str, Any]:
    """(document, origin, path) of a ``ModelPackage`` or a package document (origin looked up in the
    bundled registry by id and SHA-256)."""
    from AxillaryPredictorLib.packages.registry import document_origin

    if hasattr(source, "document"):
        return source.document, getattr(source, "origin", None) or document_origin(source.document), \
            getattr(source, "path", None)
    return source, document_origin(source), None


def model_card(source: Any) -> dict[str, str]:
    """The card's fields in display order (label -> text) of a ``ModelPackage`` or package document."""
    from AxillaryPredictorLib.packages.package import origin_text, status_text

    document, origin, path = _document_and_origin(source)
    inputs = document["inputs"]
    card = {"model": f"{document['title']} ({document['id']} v{document['version']})",
            "origin": origin_text(origin, path), "status": status_text(document["status"], origin),
            "task": document["task"], "modality": document["modality"],
            "inputs": ", ".join(inputs["views"]) + " — " + ", ".join(inputs["regions"]),
            "training data": document.get("description", ""),
            "reported performance": performance_text(document.get("performance", {})),
            "intended use": document["intended_use"]}
    if document.get("citation"):
        card["citation"] = document["citation"]
    return card


def model_card_html(source: Any) -> str:
    """The card as an HTML fragment (a caution line, then a two-column table)."""
    document, origin, _ = _document_and_origin(source)
    warning = status_warning(document["status"], origin)
    rows = "".join(f"<tr><td>{html.escape(label.capitalize())}</td><td>{html.escape(str(text))}</td></tr>"
                   for label, text in model_card(source).items())
    return (f"<p><b>{html.escape(warning)}</b></p>" if warning else "") + f"<table>{rows}</table>"
