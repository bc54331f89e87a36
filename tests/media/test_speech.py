"""media.speech: audio decoding at 16 kHz, the energy gate, and words with times from synthetic speech."""

from __future__ import annotations

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
