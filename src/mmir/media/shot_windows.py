"""Shot detection over overlapping windows of small frames, so that detection memory stays bounded on long videos."""

from __future__ import annotations

import numpy as np

from mmir.media.shots import ShotDetector, Transition


class ChunkedDetector:
    """Runs a detector over overlapping windows of small frames, keeping only ``chunk + 2 * context`` frames.

    A transition belongs to the window that holds its centre, so one found near a window edge is kept once.

    Attributes:
        found: Transitions so far, in frame indices of the whole video; final once reported (a later window
            never changes them).
        windows: Detection runs so far (a change tells the caller that ``found`` may have grown).
    """

    def __init__(self, detector: ShotDetector, chunk: int, context: int) -> None:
        self.detector, self.chunk, self.context = detector, chunk, context
        self.frames: list[np.ndarray] = []
        self.times: list[float] = []
        self.base = 0
        self.owned_from = 0
        self.found: list[Transition] = []
        self.windows = 0

    def push(self, small: np.ndarray, time_s: float) -> None:
        """Add the next analysed frame ``uint8[h, w, 3]`` at ``time_s``; detects when a window is full."""
        self.frames.append(small)
        self.times.append(time_s)
        if len(self.frames) >= self.chunk + 2 * self.context:
            self._detect(final=False)
            keep = 2 * self.context
            self.base += len(self.frames) - keep
            del self.frames[:-keep], self.times[:-keep]

    def finish(self) -> list[Transition]:
        """Detect over the frames left and return every transition of the video."""
        if len(self.frames) > 1:
            self._detect(final=True)
        return self.found

    def _detect(self, final: bool) -> None:
        self.windows += 1
        owned_to = self.base + len(self.frames) - (0 if final else self.context)
        local = self.detector.detect(np.stack(self.frames), np.asarray(self.times))
        for t in local:
            centre = self.base + 0.5 * (t.start + t.end)
            if self.owned_from <= centre < owned_to:
                self.found.append(Transition(t.start + self.base, t.end + self.base, t.kind))
        self.owned_from = owned_to
