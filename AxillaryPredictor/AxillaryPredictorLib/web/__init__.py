"""Web front-end: ``axillary-predictor serve`` (trame-slicer; the [web] extra). See docs/web.md.

A front-end like ``cli``: it may import every layer and nothing in the Lib imports it. It is installed
with the Slicer extension but never imported there (Slicer has its own module panel).
"""
