"""Non-reference frames decoded only near likely cuts: a packet filter for H.264 read before the decoder.

Frames that no other frame references (most B-frames) can be left out of decoding without harming the others.
Leaving them all out at 25 fps doubles the motion between the frames the shot detector compares, and cuts inside
fast motion stop standing out from their neighbours. But nearly every cut of real footage shows in the packets
before any pixel is decoded: encoders start a new intra-coded picture there (x264's scene-cut decision; 129 of
the 134 annotated cuts of the real benchmark footage open on an I-slice), or, where they do not, the first
reference picture of the new shot is far larger than its predecessors (it cannot be predicted from them).

:class:`NearCutFilter` reads each packet's NAL headers (``nal_ref_idc``, slice type; no decoding), keeps a short
lookahead of packets and lets a non-reference packet through only when its presentation time lies within
``window`` frames of such a likely cut. Around a cut the detector thus sees every frame (its score and the local
median of its neighbours as with every frame decoded); elsewhere about every other frame. Streams it cannot read
(other codecs, unknown packaging, packets without timestamps) pass through untouched: every frame is decoded.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_SLICE_TYPES = {0: "P", 1: "B", 2: "I", 3: "P", 4: "I"}  # slice_type % 5 (SP decodes like P, SI like I)
_LOOKAHEAD = 64  # packets held at most (a stream whose reference pictures stop coming is judged as it stands)


@dataclass(frozen=True)
class NearCuts:
    """Where non-reference frames are decoded.

    Attributes:
        window: Frames on each side of a likely cut within which every frame is decoded.
        spike: A reference picture this many times larger than the median of the last ``history`` reference
            pictures of its slice type is a likely cut (an intra picture always is).
        history: Reference pictures of one slice type whose median size is the usual size.
    """

    window: int = 4
    spike: float = 2.0
    history: int = 8


@dataclass(frozen=True)
class PacketKind:
    """What the NAL headers of one H.264 access unit say.

    Attributes:
        reference: Whether any of its pictures is used for reference (``nal_ref_idc != 0``).
        slice_type: ``"I"``, ``"P"`` or ``"B"`` of its first slice.
    """

    reference: bool
    slice_type: str


def length_size(codec: str, extradata: bytes | None) -> int | None:
    """Bytes of each NAL length prefix for H.264 in AVCC packaging (MP4, MKV), 0 for Annex B, else ``None``."""
    if codec != "h264":
        return None
    data = bytes(extradata or b"")
    if data[:1] == b"\x01" and len(data) >= 7:
        return (data[4] & 3) + 1
    if not data or data.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01")):
        return 0
    return None


def _nal_units(data: bytes, size: int) -> Iterator[bytes]:
    """NAL units of a packet: length-prefixed (``size`` bytes) or, for ``size == 0``, after start codes."""
    if size == 0:
        parts = data.split(b"\x00\x00\x01")
        yield from (part for part in parts[1:] if part)
        return
    at = 0
    while at + size < len(data):
        length = int.from_bytes(data[at : at + size], "big")
        yield data[at + size : at + size + length]
        at += size + length


def _exp_golomb(bits: str, at: int) -> tuple[int, int]:
    """An unsigned Exp-Golomb value read from the ``'0'``/``'1'`` string ``bits`` at ``at``; ``(value, next)``."""
    zeros = 0
    while bits[at + zeros] == "0":
        zeros += 1
    end = at + 2 * zeros + 1
    if end > len(bits):
        raise IndexError(at)
    return int(bits[at + zeros : end], 2) - 1, end


def packet_kind(data: bytes, size: int) -> PacketKind | None:
    """The kind of the H.264 access unit ``data`` (``size``: see :func:`length_size`), ``None`` if unreadable."""
    reference, slice_type = False, None
    try:
        for nal in _nal_units(data, size):
            if not nal or nal[0] & 0x1F not in (1, 5):  # coded slices only (not SEI, parameter sets...)
                continue
            reference = reference or bool(nal[0] & 0x60)
            if slice_type is None:
                head = nal[1:9].replace(b"\x00\x00\x03", b"\x00\x00")  # emulation prevention
                bits = "".join(f"{byte:08b}" for byte in head)
                _, at = _exp_golomb(bits, 0)  # first_mb_in_slice
                slice_type = _SLICE_TYPES.get(_exp_golomb(bits, at)[0] % 5)
    except (IndexError, ValueError):
        return None
    return PacketKind(reference, slice_type) if slice_type is not None else None


class NearCutFilter:
    """Passes the packets to decode, in decoding order: every reference packet, non-reference ones near cuts.

    Args:
        near: The window and the size rule.
        size: NAL length-prefix size (see :func:`length_size`).
        ticks_per_frame: One nominal frame period in the stream's time base.
    """

    def __init__(self, near: NearCuts, size: int, ticks_per_frame: float) -> None:
        self.near, self.size = near, size
        self.reach = near.window * ticks_per_frame + 0.5 * ticks_per_frame
        self.cuts: deque[int] = deque()  # presentation times (pts) of likely cuts, ascending by arrival
        self.sizes: dict[str, deque[int]] = {}
        self.skipped = 0
        self._latest = -(2**62)  # largest pts of a reference packet seen so far

    def packets(self, source: Iterator[Any]) -> Iterator[Any]:
        """The packets of ``source`` to decode; a demuxer error is raised after the packets read before it."""
        waiting: deque[tuple[Any, PacketKind | None]] = deque()  # oldest first, judged once the lookahead allows
        while True:
            try:
                packet = next(source)
            except StopIteration:
                break
            except Exception:
                yield from self._release(waiting, final=True)
                raise
            kind = packet_kind(bytes(packet), self.size) if packet.size and packet.pts is not None else None
            if kind is not None and kind.reference:
                self._note(packet.pts, packet.size, kind.slice_type)
            waiting.append((packet, kind))
            yield from self._release(waiting, final=False)
        yield from self._release(waiting, final=True)

    def _note(self, pts: int, size: int, slice_type: str) -> None:
        """Record a reference picture; a likely cut if intra or far larger than its usual size."""
        usual = self.sizes.setdefault(slice_type, deque(maxlen=self.near.history))
        spike = len(usual) >= 3 and size >= self.near.spike * statistics.median(usual)
        if slice_type == "I" or spike:
            self.cuts.append(pts)
        while self.cuts and self.cuts[0] < pts - 8 * self.reach:  # bounded on streams without non-reference frames
            self.cuts.popleft()
        usual.append(size)
        self._latest = max(self._latest, pts)

    def _release(self, waiting: deque[tuple[Any, PacketKind | None]], final: bool) -> Iterator[Any]:
        while waiting:
            packet, kind = waiting[0]
            if kind is not None and not kind.reference:
                # Reference pictures arrive ahead of the ones shown before them (pyramids reorder a few more):
                # wait until one well past the window has come, so a likely cut inside it is known.
                if not final and self._latest < packet.pts + 2 * self.reach and len(waiting) < _LOOKAHEAD:
                    return
                if not self._near_cut(packet.pts):
                    self.skipped += 1
                    waiting.popleft()
                    continue
            yield waiting.popleft()[0]

    def _near_cut(self, pts: int) -> bool:
        while self.cuts and self.cuts[0] < pts - 4 * self.reach:  # long past: reordering never reaches so far
            self.cuts.popleft()
        return any(abs(cut - pts) <= self.reach for cut in self.cuts)


def near_cut_filter(stream: Any, near: NearCuts | None, fps: float) -> NearCutFilter | None:
    """A filter for ``stream`` (a PyAV video stream), or ``None`` where it cannot tell (then decode every frame)."""
    if near is None or near.window < 0 or stream.time_base is None or fps <= 0:
        return None
    size = length_size(stream.codec_context.name, stream.codec_context.extradata)
    if size is None:
        return None
    return NearCutFilter(near, size, 1.0 / (fps * float(stream.time_base)))
