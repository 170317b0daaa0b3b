"""Batch: cohort manifests, the runner (local processes or Dask, resume, failure isolation) and
the per-case allocator settings. A front-end: calls ``pipeline`` for every case."""
