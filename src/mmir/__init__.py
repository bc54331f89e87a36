"""mmir: deep-learning multimedia indexing and retrieval.

Importing :mod:`mmir` is cheap: heavy parts (torch, FAISS, FastAPI, PyAV) load lazily in the
modules that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
