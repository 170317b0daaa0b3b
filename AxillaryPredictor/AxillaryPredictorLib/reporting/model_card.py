"""The model card: what a model package is, shown before and with every prediction.

One builder (``model_card``) serves the case report, the Slicer panel and the web page, so a
model's status, intended use and reported performance read the same everywhere."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any


def performance_text(performance: Mapping[str, Any]) -> str:
    """``cross-validated AUC 0.812 (95% CI 0.751-0.873), <method>`` or ``not reported``."""
    cv = performance.get("cv", {})
    if not cv:
        return "not reported"
    return (f"cross-validated AUC {cv['auc']:.3f} (95% CI {cv.get('auc_lower', math.nan):.3f}-"
            f"{cv.get('auc_upper', math.nan):.3f}), {cv.get('method', '')}")


def status_warning(status: str) -> str:
    """The caution a model's status calls for ('' for locally validated models)."""
    if status == "demonstration":
        return "Demonstration model trained on synthetic data: no clinical meaning."
    if status != "locally-validated":
        return "Not validated on local data."
    return ""


def model_card(document: Mapping[str, Any]) -> dict[str, str]:
    """The card's fields in display order (label -> text)."""
    inputs = document["inputs"]
    card = {"model": f"{document['title']} ({document['id']} v{document['version']})", "status": document["status"],
            "task": document["task"], "modality": document["modality"],
            "inputs": ", ".join(inputs["views"]) + " — " + ", ".join(inputs["regions"]),
            "training data": document.get("description", ""),
            "reported performance": performance_text(document.get("performance", {})),
            "intended use": document["intended_use"]}
    if document.get("citation"):
        card["citation"] = document["citation"]
    return card


def model_card_html(document: Mapping[str, Any]) -> str:
    """The card as an HTML fragment (a caution line, then a two-column table)."""
    warning = status_warning(document["status"])
    rows = "".join(f"<tr><td>{html.escape(label.capitalize())}</td><td>{html.escape(str(text))}</td></tr>"
                   for label, text in model_card(document).items())
    return (f"<p><b>{html.escape(warning)}</b></p>" if warning else "") + f"<table>{rows}</table>"
