"""``mmir train metric`` / ``mmir eval retrieval`` (to be written)."""

from __future__ import annotations
