"""Non-reference H.264 frames decoded only near likely cuts: NAL headers read, lookahead judged, errors kept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mmir.media.packet_skip import NearCutFilter, NearCuts, PacketKind, length_size, packet_kind

# Slice NAL units: header byte (nal_ref_idc << 5 | type), then first_mb_in_slice = 0 ('1') and slice_type.
P_REF = bytes([0x41, 0b1100_0000])  # ref_idc 2, type 1, slice_type 0 (P): bits 1 1
B_NONREF = bytes([0x01, 0b1010_1000])  # ref_idc 0, type 1, slice_type 1 (B): bits 1 010
I_IDR = bytes([0x65, 0b1000_1000, 0x00])  # ref_idc 3, type 5, slice_type 7 (I, all slices): bits 1 0001000
SEI = bytes([0x06, 0x05, 0x01])


def _avcc(*nals: bytes) -> bytes:
    return b"".join(len(nal).to_bytes(4, "big") + nal for nal in nals)


def test_packet_kind_reads_reference_flag_and_slice_type() -> None:
    assert packet_kind(_avcc(SEI, P_REF), 4) == PacketKind(True, "P")
    assert packet_kind(_avcc(B_NONREF), 4) == PacketKind(False, "B")
    assert packet_kind(_avcc(SEI, I_IDR), 4) == PacketKind(True, "I")
    assert packet_kind(b"\x00\x00\x00\x01" + SEI + b"\x00\x00\x01" + B_NONREF, 0) == PacketKind(False, "B")
    assert packet_kind(_avcc(SEI), 4) is None  # no slice: cannot tell, so it is decoded
    assert packet_kind(b"\x00\x00\x00\x09\x41", 4) is None  # a length past the end


def test_only_h264_in_known_packaging_is_filtered() -> None:
    assert length_size("h264", b"\x01\x64\x00\x1f\xff\xe1\x00\x19") == 4
    assert length_size("h264", b"") == 0  # Annex B (MPEG-TS)
    assert length_size("hevc", b"\x01\x64\x00\x1f\xff\xe1\x00\x19") is None
    assert length_size("mpeg4", b"\x00\x00\x01\xb0") is None


class _Packet(bytes):
    """What the filter reads of a PyAV packet: its bytes, ``pts`` and ``size``."""

    pts: int | None
    size: int


def _packet(data: bytes, pts: int | None, padding: int = 0) -> _Packet:
    packet = _Packet(data + bytes(padding))
    packet.pts, packet.size = pts, len(packet)
    return packet


def _gop(frames: int, intra: set[int], large: set[int]) -> list[_Packet]:
    """Decoding order of ``I/P b P b ...``: even frames are references, each followed by the odd one before it."""
    out = []
    for ref in range(0, frames, 2):
        nal = I_IDR if ref in intra else P_REF
        out.append(_packet(_avcc(nal), ref, 8000 if ref in large else 1000))
        if ref > 0:
            out.append(_packet(_avcc(B_NONREF), ref - 1, 300))
    return out


def test_nonreference_packets_pass_only_near_intra_pictures_and_size_spikes() -> None:
    packets = _gop(80, intra={0, 30}, large={60})
    passed = list(NearCutFilter(NearCuts(window=4, spike=2.0), 4, ticks_per_frame=1.0).packets(iter(packets)))
    nonref = sorted(p.pts for p in passed if p.pts is not None and p.pts % 2)
    assert nonref == [1, 3, 27, 29, 31, 33, 57, 59, 61, 63]
    assert [p.pts for p in passed if p.pts is not None and p.pts % 2 == 0] == list(range(0, 80, 2))
    order = {id(p): k for k, p in enumerate(packets)}
    assert [order[id(p)] for p in passed] == sorted(order[id(p)] for p in passed)  # decoding order kept


def test_a_demuxer_error_comes_after_the_packets_read_before_it() -> None:
    packets = _gop(20, intra={0, 12}, large=set())

    def broken() -> Iterator[_Packet]:
        yield from packets
        raise OSError("truncated")

    seen: list[_Packet] = []
    with pytest.raises(OSError, match="truncated"):
        for packet in NearCutFilter(NearCuts(window=2), 4, ticks_per_frame=1.0).packets(broken()):
            seen.append(packet)
    assert sorted(p.pts for p in seen if p.pts is not None) == [0, 1, 2, 4, 6, 8, 10, 11, 12, 13, 14, 16, 18]


def test_packets_without_timestamps_or_slices_are_always_decoded() -> None:
    packets = [_packet(_avcc(P_REF), 0), _packet(_avcc(B_NONREF), None), _packet(b"junk", 4), _packet(b"", None)]
    passed = list(NearCutFilter(NearCuts(window=1), 4, ticks_per_frame=1.0).packets(iter(packets)))
    assert passed == packets
