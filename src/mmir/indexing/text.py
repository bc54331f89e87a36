"""The visible-text (OCR) and speech producers of an indexing run, and their back-fill.

After the vision pass, the ledger (:mod:`mmir.index.ledger`) says which files lack the ``ocr`` / ``speech``
output of the engines in use (new files, changed files, or a collection indexed before these producers
existed, or with another engine version); only those are processed:

* photos: the file is read and decoded again (JPEG draft mode, about the detector's size) and OCR'd; the
  text-presence gate makes photos without text cheap;
* video shots: OCR on each shot's stored keyframe thumbnail (no video decode; only large text such as slide
  titles and captions is legible there), speech from the audio track, each word given to the shot it falls in.

Files are processed by a few worker threads (ONNX Runtime releases the GIL; PocketSphinx does not, so speech
is decoded in worker processes, :mod:`mmir.media.speech_pool`) and written a batch per transaction. A file whose
audio is damaged keeps its visual index and its speech up to the damage; the run reports one line for it.
Nothing here can lose the vision index: failures are reported, never raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mmir.index import visible_text
from mmir.index.visible_text import SPEECH, TextField, Words
from mmir.indexing.types import IndexProblem
from mmir.media import MediaError, decode_image, display_path, read_file

if TYPE_CHECKING:
    from PIL import Image

    from mmir.index.catalog import Catalog
    from mmir.media import ImageLimits
    from mmir.media.ocr import OcrEngine, OcrSettings
    from mmir.media.speech import Recogniser

_WRITE_BATCH = 32
_THUMB_SIDE = 480  # video thumbnails (160 px) are enlarged before OCR: the detector misses text a few pixels high


@dataclass(frozen=True)
class TextOptions:
    """Which text producers an indexing run uses (``mmir index --no-ocr / --no-speech``).

    Attributes:
        ocr: Read visible text in photos and in video shots' keyframe thumbnails.
        speech: Transcribe the speech in videos' audio.
        ocr_settings: Detector size, caps and time budget (see :class:`mmir.media.ocr.OcrSettings`).
        workers: Threads running the producers.
    """

    ocr: bool = True
    speech: bool = True
    ocr_settings: OcrSettings | None = None
    workers: int = 2

    def engines(self) -> tuple[OcrEngine | None, Recogniser | None]:
        """The engines to run (models load on first use, so a run with nothing to do loads none)."""
        from mmir.media.ocr import OcrEngine, OcrSettings
        from mmir.media.speech import Recogniser

        ocr = OcrEngine(self.ocr_settings or OcrSettings()) if self.ocr else None
        return ocr, Recogniser() if self.speech else None


@dataclass(frozen=True)
class TextReport:
    """What the text producers did: files OCR'd (``skipped`` by the gate), videos transcribed, seconds spent."""

    ocr_files: int = 0
    ocr_skipped: int = 0
    speech_files: int = 0
    audio_s: float = 0.0
    seconds: float = 0.0


@dataclass(frozen=True)
class _Done:
    media_id: int
    words: tuple[Words, ...]
    producers: dict[str, str]
    skipped: bool = False
    audio_s: float = 0.0
    problem: IndexProblem | None = None


def produce_text(
    catalog: Catalog, ocr: OcrEngine | None, speech: Recogniser | None, limits: ImageLimits, workers: int = 2,
    report: Callable[[IndexProblem], None] | None = None,
) -> TextReport:  # fmt: skip
    """Run OCR / speech on every file the ledger says lacks them (``None`` engines are not run)."""
    from mmir.index import ledger

    visible_text.ensure_schema(catalog.connection)
    ocr, speech = _installed(ocr, speech, report)
    started = time.perf_counter()
    todo: dict[int, set[str]] = {}
    for kind in ("image", "video"):
        wanted = {visible_text.OCR: ocr.version} if ocr is not None else {}
        if speech is not None and kind == "video":
            wanted[SPEECH] = speech.version
        for media_id, names in ledger.stale(catalog, wanted, kind=kind).files.items():
            todo[media_id] = set(names)
    if not todo:
        return TextReport()
    counts = {"ocr": 0, "skipped": 0, "speech": 0}
    audio_s, batch = 0.0, []
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="mmir-text") as pool:
        jobs = ((catalog, media_id, names, ocr, speech, limits) for media_id, names in sorted(todo.items()))
        for done in _ordered(pool, jobs, workers):
            if done.problem is not None and report is not None:
                report(done.problem)
            counts["ocr"] += visible_text.OCR in done.producers
            counts["skipped"] += done.skipped
            counts["speech"] += SPEECH in done.producers
            audio_s += done.audio_s
            batch.append(done)
            if len(batch) >= _WRITE_BATCH:
                _store(catalog, batch)
        _store(catalog, batch)
    return TextReport(counts["ocr"], counts["skipped"], counts["speech"], audio_s, time.perf_counter() - started)


def _installed(
    ocr: OcrEngine | None, speech: Recogniser | None, report: Callable[[IndexProblem], None] | None
) -> tuple[OcrEngine | None, Recogniser | None]:
    """The engines whose packages are installed; one note for each one that is not (not one per file)."""
    from importlib.util import find_spec

    wanted = (("visible text", ocr, "rapidocr_onnxruntime", "ocr"), ("speech", speech, "pocketsphinx", "speech"))
    for label, engine, module, extra in wanted:
        if engine is not None and find_spec(module) is None and report is not None:
            report(IndexProblem(label, f"not read: {module} is not installed (pip install 'mmir[{extra}]')"))
    keep_ocr = ocr if ocr is not None and find_spec("rapidocr_onnxruntime") is not None else None
    keep_speech = speech if speech is not None and find_spec("pocketsphinx") is not None else None
    return keep_ocr, keep_speech


def _ordered(pool: ThreadPoolExecutor, jobs: Iterator[tuple], workers: int) -> Iterator[_Done]:
    """Results of ``_produce`` over ``jobs`` with a bounded number in flight."""
    window = []
    for job in jobs:
        window.append(pool.submit(_produce, *job))
        if len(window) >= 2 * max(1, workers):
            yield window.pop(0).result()
    for future in window:
        yield future.result()


def _store(catalog: Catalog, batch: list[_Done]) -> None:
    from mmir.index import ledger

    if not batch:
        return
    with catalog.transaction():
        visible_text.write_words(catalog.connection, [w for done in batch for w in done.words])
        for done in batch:
            ledger.record_files(catalog, [done.media_id], done.producers)
    batch.clear()


def _produce(catalog: Catalog, media_id: int, names: set[str], ocr: OcrEngine | None, speech: Recogniser | None,
             limits: ImageLimits) -> _Done:  # fmt: skip
    """OCR and/or transcribe one file (a worker thread; reads the catalog, never writes it)."""
    media = catalog.media_ref(media_id)
    spans = visible_text.segment_spans(catalog, media_id)
    if media is None or not spans:
        return _Done(media_id, (), {})
    words: list[Words] = []
    producers: dict[str, str] = {}
    skipped, audio_s, problem = False, 0.0, None
    try:
        if ocr is not None and visible_text.OCR in names:
            images = _images(catalog, media.path, media.kind.value, spans, ocr.settings.det_side, limits)
            for segment_id, keyframe_s, image in images:
                result = ocr.read(image)
                skipped = skipped or result.skipped or result.gated  # a gate said no text: cheap
                items = tuple((line.text, keyframe_s, keyframe_s, line.confidence, ",".join(map(str, line.box)))
                              for line in result.lines)  # fmt: skip
                words.append(Words(segment_id, TextField.SHOWS, items))
                if result.note:
                    problem = IndexProblem(display_path(media.path), result.note)
            producers[visible_text.OCR] = ocr.version
        if speech is not None and SPEECH in names:
            transcript = speech.transcribe(media.path)
            words.extend(_per_shot(transcript.words, spans))
            audio_s = transcript.audio_s
            producers[SPEECH] = speech.version
            if transcript.note:
                problem = IndexProblem(display_path(media.path), f"{transcript.note} (visual index kept)")
    except MediaError as error:  # the vision pass read this file; now it cannot be read: keep what is stored
        return _Done(media_id, (), {}, problem=IndexProblem(display_path(media.path), f"text/speech: {error.reason}"))
    except Exception as error:  # an engine failing on one file: one line, never a lost run or a traceback
        first = (str(error).splitlines() or [""])[0][:200]
        reason = f"text/speech engine failed ({type(error).__name__}: {first})"
        return _Done(media_id, (), {}, problem=IndexProblem(display_path(media.path), reason))
    return _Done(media_id, tuple(words), producers, skipped, audio_s, problem)


def _images(catalog: Catalog, path: str, kind: str, spans: Sequence[tuple[int, float, float, float]], side: int,
            limits: ImageLimits) -> list[tuple[int, float, Image.Image]]:  # fmt: skip
    """``(segment id, keyframe time, image)`` to OCR: the photo itself, or each video shot's stored thumbnail."""
    if kind == "image":
        data = read_file(path, limits=limits)
        return [(spans[0][0], 0.0, decode_image(data, path, limits=limits, min_side=max(1, side * 3 // 4)))]
    from PIL import Image as PILImage

    from mmir.index import frames

    found = []
    for segment_id, _, _, keyframe_s in spans:
        jpeg = frames.thumbnail(catalog, segment_id)
        if not jpeg:
            continue
        image = decode_image(jpeg, f"{path}@{keyframe_s:.1f}s", limits=limits)
        scale = _THUMB_SIDE / max(image.size)
        if scale > 1:
            image = image.resize((round(image.width * scale), round(image.height * scale)), PILImage.Resampling.BICUBIC)
        found.append((segment_id, keyframe_s, image))
    return found


def _per_shot(words: Sequence, spans: Sequence[tuple[int, float, float, float]]) -> list[Words]:
    """Spoken words grouped by the shot their middle falls in (the last shot takes words past its end)."""
    groups: dict[int, list[tuple[str, float, float, float, str]]] = {sid: [] for sid, *_ in spans}
    for word in words:
        middle = (word.start_s + word.end_s) / 2
        owner = next((sid for sid, start, end, _ in spans if start <= middle < end), None)
        if owner is None:
            owner = spans[-1][0] if middle >= spans[-1][2] else spans[0][0]
        groups[owner].append((word.word, word.start_s, word.end_s, word.confidence, ""))
    return [Words(sid, TextField.SAID, tuple(items)) for sid, items in groups.items()]
