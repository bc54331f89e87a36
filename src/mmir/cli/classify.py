"""``mmir train classify`` / ``mmir eval classify`` (to be written)."""

from __future__ import annotations
