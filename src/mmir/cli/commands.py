"""``mmir index | search | similar | info | concepts`` (to be written)."""

from __future__ import annotations
