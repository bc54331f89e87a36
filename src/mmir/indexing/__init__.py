"""Indexing: the pipeline that turns a folder of photos and videos into a collection's stored data.

:mod:`mmir.index` holds what is stored (catalog, vectors, ledger); this package holds the work that produces it:
the batched, resumable photo pipeline (:mod:`.pipeline`), video shots (:mod:`.video`), back-fill of channels added
later (:mod:`.backfill`), visible text and speech (:mod:`.text`) and sequence concepts over stored shots
(:mod:`.video_concepts`).
"""
