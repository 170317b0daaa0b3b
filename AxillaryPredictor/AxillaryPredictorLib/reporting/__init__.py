"""Reporting: nomogram maths (equal to ``rms::nomogram``) and drawing, the case report
(HTML/PDF), the model card. Imports ``packages`` and below."""

from AxillaryPredictorLib.reporting.nomogram import Nomogram

__all__ = ["Nomogram"]
