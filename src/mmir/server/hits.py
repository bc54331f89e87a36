"""Hits as JSON for the UI and API clients: printable names, and paths relative to the collection's roots."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mmir.media import display_path
from mmir.types import Hit, MediaKind

# The speech producer's why line (mmir.index.visible_text.explain): "said at 12.4 s: 'welcome everyone'".
_SAID_AT = re.compile(r"^said at (\d+(?:\.\d+)?) s: ")


def said_at(hit: Hit) -> float | None:
    """The second a video hit's matched speech was said (its first ``said at`` reason), else ``None``."""
    if hit.media.kind is not MediaKind.VIDEO:
        return None
    for reason in hit.why:
        found = _SAID_AT.match(reason)
        if found:
            return float(found.group(1))
    return None


@dataclass(frozen=True)
class PathMapper:
    """Shows paths below known roots as ``rootname/rest`` so no absolute server path leaves the server.

    Attributes:
        roots: Absolute root folders (``str``, possibly surrogate-escaped), longest first.
    """

    roots: tuple[str, ...]

    @classmethod
    def for_roots(cls, roots: Sequence[str]) -> PathMapper:
        """A mapper over ``roots`` (order does not matter; nested roots map to the deepest)."""
        cleaned = {os.path.normpath(root) for root in roots if root}
        return cls(tuple(sorted(cleaned, key=len, reverse=True)))

    @classmethod
    def common_root(cls, paths: Sequence[str]) -> PathMapper:
        """A mapper over the deepest folder that holds every path in ``paths`` (the collection's own root)."""
        if not paths:
            return cls(())
        try:
            common = os.path.commonpath([os.path.dirname(path) for path in paths])
        except ValueError:  # mixed absolute/relative paths: no common root
            return cls(())
        return cls.for_roots([common])

    def _label(self, root: str) -> str:
        return os.path.basename(root.rstrip(os.sep))

    def relative(self, path: str) -> str:
        """``path`` relative to its root, prefixed with the root's name; a bare file name if under no root."""
        for root in self.roots:
            prefix = root.rstrip(os.sep) + os.sep
            if path.startswith(prefix):
                label = self._label(root)
                rest = path[len(prefix) :]
                return display_path(f"{label}{os.sep}{rest}" if label else rest)
        return display_path(os.path.basename(path))

    def scrub(self, text: str) -> str:
        """``text`` (already printable) with every root's absolute prefix replaced by the root's name."""
        for root in self.roots:
            shown = display_path(root.rstrip(os.sep) + os.sep)
            label = self._label(root)
            text = text.replace(shown, f"{label}{os.sep}" if label else "")
        return text


def hit_json(rank: int, hit: Hit, paths: PathMapper) -> dict[str, Any]:
    """A hit as clients see it; every string is printable UTF-8 (names may not be)."""
    is_video = hit.media.kind is MediaKind.VIDEO
    return {
        "rank": rank,
        "score": round(hit.score, 6),
        "path": paths.relative(hit.media.path),
        "name": display_path(os.path.basename(hit.media.path)),
        "why": [paths.scrub(reason) for reason in hit.why],
        "media_id": hit.media.id,
        "segment_id": hit.segment.id,
        "kind": hit.media.kind.value,
        "start": hit.segment.start_s if is_video else None,
        "end": hit.segment.end_s if is_video else None,
        "said_at": said_at(hit),  # a speech hit's player starts where the words were said
        "url": f"/api/media/{hit.media.id}",
    }
