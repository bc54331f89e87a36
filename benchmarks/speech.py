"""Speech: word error rate and keyword spotting of mmir's transcription, phrase → shot R@1, real-time factor.

Data: SYNTHETIC speech only. Sentences (SENTENCES) are spoken by espeak-ng in several voices and speeds, with
white noise added at a few signal-to-noise ratios. No recording of real speech is available offline here
(no speech corpus in the package registries' data we can reach, none on this machine), and real speech is
much harder for PocketSphinx than espeak's clear, regular synthesis: expect real-world figures to be worse.

Rows (every row tried is printed; the two decoder settings are compared on the same audio):
  product decoder   mmir.media.speech.Recogniser (PocketSphinx en-US, no flat-lexicon pass, no lattice
                    best path, at most 3000 active HMMs): what `mmir index` runs
  full decoder      PocketSphinx's default search (both extra passes): the baseline, slower
WER = word edit distance / reference words. Keyword recall = share of the sentence's content words (5+ letters)
found anywhere in the transcript of that sentence. RTF = seconds of audio transcribed per second of one thread.
Phrase → shot R@1: videos of 6 shots, one sentence each, indexed by `Collection.index` (OCR off); the query is
3 consecutive words of a sentence; hit if `search_fields(phrase, said, per_shot)` ranks that shot first.

Usage: python benchmarks/speech.py [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SENTENCES = [
    "welcome everyone to the quarterly revenue meeting",
    "please open the door to the kitchen",
    "the red car drives along the river",
    "we will start the presentation after lunch",
    "the weather today is sunny and warm",
    "our new product launches next month",
    "the train to london leaves at seven",
    "thank you all for coming this evening",
    "the children played football in the park",
    "turn left at the next traffic light",
    "the museum opens every morning at nine",
    "this chart shows the sales by region",
]
VOICES = [("en-us", 150), ("en-us", 180), ("en-gb", 150), ("en-us+f3", 150), ("en-029", 150)]
NOISE_DB = [None, 20.0, 10.0]  # signal-to-noise ratio of added white noise; None = clean
_COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 40), (40, 220, 220), (220, 40, 220)]


def wer(reference: list[str], hypothesis: list[str]) -> int:
    """Word edit distance (substitutions + deletions + insertions)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """``int16[N]`` mono at ``rate`` → 16 kHz with PyAV's resampler (the product's decode path resamples the same)."""
    import av
    from av.audio.resampler import AudioResampler

    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    resampler = AudioResampler(format="s16", layout="mono", rate=16_000)
    chunks = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(chunks)


def noisy(samples: np.ndarray, snr_db: float | None, seed: int) -> np.ndarray:
    if snr_db is None:
        return samples
    x = samples.astype(np.float64)
    power = np.mean(x[np.abs(x) > 100] ** 2) if np.any(np.abs(x) > 100) else np.mean(x**2)
    noise = np.random.default_rng(seed).normal(0, np.sqrt(power / 10 ** (snr_db / 10)), len(x))
    return np.clip(x + noise, -32768, 32767).astype(np.int16)


def decoders() -> dict[str, Any]:
    import pocketsphinx

    from mmir.media.speech import Recogniser

    full = pocketsphinx.Decoder(samprate=16_000, loglevel="FATAL")
    return {"product decoder": Recogniser(), "full decoder": full}


def transcribe(decoder: Any, samples: np.ndarray) -> list[str]:
    from mmir.media.speech import Recogniser, loud_stretches

    if isinstance(decoder, Recogniser):
        return [w.word for a, b in loud_stretches(samples) for w in decoder.words(samples[a:b])]
    decoder.start_utt()
    decoder.process_raw(samples.tobytes(), False, True)
    decoder.end_utt()
    return decoder.hyp().hypstr.split() if decoder.hyp() else []


def recognition_rows(quick: bool) -> None:
    from mmir.media.audio_write import espeak

    sentences = SENTENCES[:4] if quick else SENTENCES
    voices = VOICES[:2] if quick else VOICES
    engines = decoders()
    print(f"{'voice':10s} {'wpm':>4s} {'SNR':>6s}  " + "  ".join(f"{n:>34s}" for n in engines))
    totals = {name: [0, 0, 0, 0, 0.0, 0.0] for name in engines}  # errors, words, found, keywords, audio, time
    for voice, speed in voices:
        for snr in NOISE_DB:
            cells = []
            for name, decoder in engines.items():
                errors = refs = found = keys = 0
                audio_s = spent = 0.0
                for i, sentence in enumerate(sentences):
                    raw, rate = espeak(sentence, voice, speed)
                    pad = np.zeros(rate // 2, np.int16)
                    samples = to_16k(noisy(np.concatenate([pad, raw, pad]), snr, i), rate)
                    started = time.perf_counter()
                    heard = transcribe(decoder, samples)
                    spent += time.perf_counter() - started
                    audio_s += len(samples) / 16_000
                    reference = sentence.split()
                    errors, refs = errors + wer(reference, heard), refs + len(reference)
                    content = [w for w in reference if len(w) >= 5]
                    found, keys = found + sum(w in heard for w in content), keys + len(content)
                for j, value in enumerate((errors, refs, found, keys, audio_s, spent)):
                    totals[name][j] += value
                cells.append(f"WER {errors / refs:.2f} kw {found / keys:.2f} RTF {audio_s / spent:5.1f}x")
            label = "clean" if snr is None else f"{snr:.0f} dB"
            print(f"{voice:10s} {speed:4d} {label:>6s}  " + "  ".join(f"{c:>34s}" for c in cells))
    for name, (errors, refs, found, keys, audio_s, spent) in totals.items():
        print(f"all rows, {name:16s}: WER {errors / refs:.3f}, keyword recall {found / keys:.3f}, "
              f"{audio_s / spent:.1f}x real time on one thread (goal ≥ 5x on 2 cores)")  # fmt: skip


def shot_r1(quick: bool) -> None:
    """Videos of 6 shots with one sentence each; a 3-word phrase must rank its shot first."""
    from mmir.api import Collection
    from mmir.index.visible_text import TextField
    from mmir.indexing.pipeline import IndexOptions
    from mmir.indexing.text import TextOptions
    from mmir.media.audio_write import espeak, write_video_with_audio

    videos = 1 if quick else 2
    shot_s = 5.0
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "videos"
        root.mkdir()
        truth: list[tuple[str, str, float]] = []
        rng = np.random.default_rng(0)
        for v in range(videos):
            tracks, frames = [], []
            for s in range(6):
                sentence = SENTENCES[(v * 6 + s) % len(SENTENCES)]
                raw, rate = espeak(sentence, "en-us", 150)
                lead = np.zeros(rate // 2, np.int16)
                tracks.append(
                    np.concatenate([lead, raw, np.zeros(int(shot_s * rate) - len(raw) - len(lead), np.int16)])
                )
                picture = np.full((96, 128, 3), _COLOURS[s], np.uint8)  # six distinct colours: clear cuts
                frames += [picture - rng.integers(0, 20, (96, 128, 3)).astype(np.uint8)] * int(shot_s * 10)
                words = sentence.split()
                truth.append((f"talk{v}.mp4", " ".join(words[1:4]), s * shot_s))
            write_video_with_audio(root / f"talk{v}.mp4", frames, 10, np.concatenate(tracks), rate)
        with Collection.open(Path(folder) / "coll", create=True) as coll:
            started = time.perf_counter()
            coll.index([root], IndexOptions(progress=False), text=TextOptions(ocr=False))
            spent = time.perf_counter() - started
            first = 0
            for name, phrase, start in truth:
                hits = coll.search_fields(phrase, [TextField.SAID], k=1, per_shot=True)
                first += (
                    bool(hits) and Path(hits[0].media.path).name == name and abs(hits[0].segment.start_s - start) < 1.0
                )
        audio = videos * 6 * shot_s
        print(f"phrase → shot R@1: {first / len(truth):.3f} ({len(truth)} phrases in {videos} videos of 6 shots; "
              f"baseline without speech: 0.000); indexing {audio:.0f} s of video took {spent:.1f} s "
              f"(shots + speech, 2 workers)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer voices and sentences, one video")
    parser.add_argument("--shots-only", action="store_true", help="only phrase → shot R@1")
    args = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is not installed (scripts/install_system_deps.sh)")
    if not args.shots_only:
        recognition_rows(args.quick)
    shot_r1(args.quick)


if __name__ == "__main__":
    main()
