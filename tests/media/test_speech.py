"""media.speech: audio decoding at 16 kHz, the energy gate, and words with times from synthetic speech."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest

from mmir.media.speech import RATE, SpeechSettings, decode_audio, loud_stretches, transcribe

pytest.importorskip("av")


def test_loud_stretches_find_the_burst_and_skip_silence() -> None:
    samples = np.zeros(RATE * 4, np.int16)
    samples[RATE : 2 * RATE] = (np.sin(np.arange(RATE) * 0.3) * 8000).astype(np.int16)
    ((start, end),) = loud_stretches(samples, SpeechSettings(pad_s=0.1))
    assert abs(start - RATE) <= 0.15 * RATE and abs(end - 2 * RATE) <= 0.15 * RATE
    assert loud_stretches(np.zeros(RATE, np.int16)) == []  # a silent track costs no recognition


def test_video_without_audio_has_no_speech(tmp_path: Path) -> None:
    from mmir.media.video_write import write_video

    path = tmp_path / "silent.mp4"
    write_video(path, [np.zeros((32, 32, 3), np.uint8)] * 10, fps=10)
    samples, has_audio, note = decode_audio(path)
    assert (len(samples), has_audio, note) == (0, False, "")
    assert transcribe(path).words == ()


def test_synthetic_speech_gives_words_at_their_times(tmp_path: Path) -> None:
    pytest.importorskip("pocketsphinx")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/install_system_deps.sh)")
    from mmir.media.audio_write import espeak, write_video_with_audio

    sound, rate = espeak("the quarterly revenue meeting", "en-us", 140)
    audio = np.concatenate([np.zeros(2 * rate, np.int16), sound, np.zeros(rate, np.int16)])
    path = tmp_path / "talk.mp4"
    write_video_with_audio(path, [np.zeros((32, 32, 3), np.uint8)] * int(len(audio) / rate * 5), 5, audio, rate)
    transcript = transcribe(path)
    assert transcript.has_audio and abs(transcript.audio_s - len(audio) / rate) < 0.2
    words = {w.word: w for w in transcript.words}
    assert "revenue" in words and 2.0 <= words["revenue"].start_s <= 2.0 + len(sound) / rate


def test_unopenable_file_is_a_media_error(tmp_path: Path) -> None:
    from mmir.media.errors import MediaError

    path = tmp_path / "noise.mp4"
    path.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(MediaError, match="noise.mp4"):
        decode_audio(path)


def _talk(path: Path, lead_s: float = 1.0, **damage: float) -> float:
    """A video saying "the quarterly revenue meeting" from ``lead_s``; returns the speech's length in seconds."""
    from mmir.media.audio_write import espeak, write_video_with_audio

    sound, rate = espeak("the quarterly revenue meeting", "en-us", 140)
    audio = np.concatenate([np.zeros(int(lead_s * rate), np.int16), sound, np.zeros(rate, np.int16)])
    frames = [np.zeros((32, 32, 3), np.uint8)] * int(len(audio) / rate * 5)
    write_video_with_audio(path, frames, 5, audio, rate, **damage)  # type: ignore[arg-type]
    return len(sound) / rate


def _needs_speech_tools() -> None:
    pytest.importorskip("pocketsphinx")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/install_system_deps.sh)")


def test_a_bad_packet_early_on_does_not_lose_the_track(tmp_path: Path) -> None:
    """Found when tried: the OpenCV sample Megamind.avi's first AC-3 packet does not decode, and the whole 11 s
    track was given up (0 s of audio); now the packet is skipped and the words after it keep their times."""
    _needs_speech_tools()
    path = tmp_path / "talk.mp4"
    spoken = _talk(path, lead_s=1.0, damage_after_s=0.0, damage_until_s=0.15)  # the first packets are garbage
    samples, has_audio, note = decode_audio(path)
    assert has_audio and abs(len(samples) / RATE - (2.0 + spoken)) < 0.2  # the whole track, in its place in time
    assert "packet(s) skipped" in note and "\n" not in note
    words = {w.word: w for w in transcribe(path).words}
    assert "revenue" in words and 1.0 <= words["revenue"].start_s <= 1.0 + spoken


def test_worker_processes_give_the_words_one_thread_gives(tmp_path: Path) -> None:
    """PocketSphinx holds the GIL while decoding, so two threads used one core: the pieces go to processes."""
    import multiprocessing

    from mmir.media.speech import Recogniser

    _needs_speech_tools()
    path = tmp_path / "talk.mp4"
    _talk(path)
    here = Recogniser(processes=1).transcribe(path)
    pooled = Recogniser(processes=2)
    try:
        there = pooled.transcribe(path)
        assert multiprocessing.active_children()  # a decoder worker (started as pieces arrive) did the work
    finally:
        pooled.close()
    assert [w.word for w in there.words] == [w.word for w in here.words] and "revenue" in [w.word for w in here.words]
    assert [w.start_s for w in there.words] == pytest.approx([w.start_s for w in here.words])


def test_long_loud_stretches_are_cut_at_a_quiet_moment() -> None:
    from mmir.media.speech_pool import pieces

    rng = np.random.default_rng(0)
    samples = (rng.standard_normal(70 * RATE) * 3000).astype(np.int16)
    samples[int(27.0 * RATE) : int(27.1 * RATE)] = 0  # a pause just before the 30 s limit
    cut = pieces(samples, [(0, len(samples))])
    assert cut[0][0] == 0 and cut[-1][1] == len(samples) and all(a[1] == b[0] for a, b in itertools.pairwise(cut))
    assert all(end - start <= 30 * RATE for start, end in cut)
    assert 27.0 * RATE <= cut[0][1] <= 27.1 * RATE  # in the pause, not mid-word at 30 s
    assert pieces(samples, [(0, 10 * RATE)]) == [(0, 10 * RATE)]  # short stretches stay whole
