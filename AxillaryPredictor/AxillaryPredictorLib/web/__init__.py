"""Web front-end: ``axillary-predictor serve`` (trame-slicer; the [web] extra). See docs/web.md.

A front-end like ``cli``: it may import every layer, nothing in the Lib imports it, and it is not
shipped in the Slicer extension (Slicer has its own module panel).
"""
