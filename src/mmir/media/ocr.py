"""Visible text of an image (signs, slides, captions, labels): lines of text with their boxes and confidences.

The engine is RapidOCR's PP-OCRv4 detector and recogniser (ONNX models inside the ``rapidocr-onnxruntime``
wheel, run by ONNX Runtime; the ``ocr`` extra). Three things keep indexing affordable and safe:

* **gates before the expensive pass**: a pixel test (:func:`text_presence`: a smooth sky, a blank frame, a
  solid colour cannot show legible text; ~1 ms), then the detector's **first look** at ``first_side`` pixels
  (at most the photo's own size), whose largest boxes must read as a word (one recogniser batch): foliage,
  fences and tiles make boxes that read as nothing. Only then comes the **second look**, enlarged 2x up to
  ``det_side`` (small print on packaging, shop fronts, screens: validation word recall 0.37 → 0.49), whose
  boxes are read, with the first look's boxes it missed (large text can fall apart when enlarged);
* a **time budget and output caps** per image: at most ``max_lines`` boxes are read (largest first), at most
  ``max_chars`` characters kept, and recognition stops once ``time_budget_s`` is spent, so a "text bomb"
  (thousands of tiny glyphs) cannot stall indexing.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mmir.errors import require

if TYPE_CHECKING:
    from PIL import Image

ENGINE_NAME = "rapidocr-ppocrv4"
ENGINE_VERSION = 2  # bump when settings change what is read, so the ledger re-runs OCR on stored items
_WORDISH = re.compile(r"[^\W_]{2,}")  # two or more letters or digits in a row
_REC_CHUNK = 6  # boxes per recogniser call (RapidOCR's own batch size); the time budget is checked between them


@dataclass(frozen=True)
class OcrSettings:
    """How hard to look for text in one image.

    Attributes:
        det_side: Longer side (pixels) the detector sees at most; larger finds smaller text and costs more.
        upscale: Also enlarge smaller images to ``det_side`` (at most 2x): small text gets legible, at about
            the square of the factor in detector time.
        first_side: Longer side (pixels) of the detector's first look; the full-size pass runs only where the
            first look finds text (photos without text cost one pass at this size).
        first_read: The first look counts as finding text only if one of its largest boxes reads as a word
            (one recogniser batch); else the boxes of foliage, fences and tiles cost the enlarged look too.
        min_confidence: Recognised lines below this recogniser confidence are dropped.
        box_thresh: The detector's mean text probability a box needs (PP-OCR's ``box_thresh``; lower finds
            fainter text and more false boxes).
        unclip_ratio: How far a detected text region is grown before cropping (PP-OCR's ``unclip_ratio``).
        min_presence: :func:`text_presence` below this skips the image (no detector pass).
        max_lines: Most text boxes read per image (the largest ones).
        max_chars: Most characters kept per image.
        time_budget_s: Recognition stops once this much time has passed on one image (after detection).
    """

    det_side: int = 1280
    # On: on the benchmark's validation photos (COCO, 640 px) enlarging 2x raised word recall from 0.370 to 0.491
    # (small print on packaging, shop fronts, screens); it costs ~4x the detector time, but only where the first
    # look (``first_side``) found text.
    upscale: bool = True
    first_side: int = 960  # the single look of version 1: no photo is looked at smaller than before
    first_read: bool = True
    min_confidence: float = 0.6
    box_thresh: float = 0.4  # PP-OCR's default 0.5: validation R@1 0.693, at 0.4 0.703 (test 0.839 both)
    unclip_ratio: float = 1.6
    min_presence: float = 0.01
    max_lines: int = 64
    max_chars: int = 2000
    time_budget_s: float = 5.0


@dataclass(frozen=True)
class TextLine:
    """One line of visible text.

    Attributes:
        text: The recognised characters.
        confidence: Recogniser confidence in [0, 1].
        box: ``(x0, y0, x1, y1)`` axis-aligned bounds in the input image's pixels.
    """

    text: str
    confidence: float
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class OcrResult:
    """What :meth:`OcrEngine.read` found in one image.

    Attributes:
        lines: Text lines in reading order (top to bottom, then left to right).
        presence: The gate's text-presence score.
        skipped: The pixel gate said no text: no model ran.
        gated: The detector's first look found no text: only that one small pass ran.
        note: Why the output is incomplete (time budget, caps), else ``""``.
    """

    lines: tuple[TextLine, ...]
    presence: float
    skipped: bool = False
    gated: bool = False
    note: str = ""

    @property
    def text(self) -> str:
        """All lines joined by newlines."""
        return "\n".join(line.text for line in self.lines)


def text_presence(image: Image.Image, side: int = 256) -> float:
    """Share of pixels of a ``side``-pixel grey thumbnail with a strong horizontal *and* vertical gradient.

    Glyph strokes make sharp edges in both directions; smooth or blank regions make none. About 1 ms.
    """
    from PIL import Image as PILImage

    grey = image.convert("L")
    grey.thumbnail((side, side), PILImage.Resampling.BILINEAR)
    g = np.asarray(grey, dtype=np.int16)
    if g.shape[0] < 3 or g.shape[1] < 3:
        return 0.0
    dx = np.abs(np.diff(g, axis=1))[:-1, :] > 40
    dy = np.abs(np.diff(g, axis=0))[:, :-1] > 40
    return float(np.mean(dx | dy))


class OcrEngine:
    """Reads visible text; loads the ONNX models on first use (thread-safe; ONNX Runtime releases the GIL).

    Args:
        settings: Sizes, caps and thresholds.
        threads: ONNX Runtime intra-op threads per model (1 suits the pipeline's worker threads).
    """

    def __init__(self, settings: OcrSettings = OcrSettings(), threads: int = 1) -> None:
        self.settings = settings
        self._threads = threads
        self._engine: Any = None
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        """Producer version string (engine, its settings' revision, the detector size)."""
        s = self.settings
        up = "up" if s.upscale else ""
        detector = f"{s.first_side}{'r' if s.first_read else ''}-{s.det_side}{up}/b{s.box_thresh:g}u{s.unclip_ratio:g}"
        return f"{ENGINE_NAME}/{ENGINE_VERSION}/{detector}/c{s.min_confidence:g}"

    def _load(self) -> Any:
        with self._lock:
            if self._engine is None:
                self._engine = _rapidocr(self.settings, self._threads)
            return self._engine

    def read(self, image: Image.Image) -> OcrResult:
        """The visible text of an RGB image.

        Raises:
            MissingExtraError: ``rapidocr-onnxruntime`` is not installed (``pip install 'mmir[ocr]'``).
        """
        presence = text_presence(image)
        if presence < self.settings.min_presence:
            return OcrResult((), presence, skipped=True)
        engine = self._load()
        bgr, scale, boxes = self._detect(engine, image)
        if not boxes:
            return OcrResult((), presence, gated=True)
        boxes = _largest(list(engine.sorted_boxes(np.asarray(boxes))), self.settings.max_lines)
        # The clock starts after detection: its cost is bounded by the sizes, and on a loaded machine counting it
        # cut recognition short on ordinary photos; the recogniser's work grows with the boxes found.
        started = time.perf_counter()
        lines, note = self._recognise(engine, bgr, boxes, scale, started)
        return OcrResult(tuple(lines), presence, note=note)

    def _detect(self, engine: Any, image: Image.Image) -> tuple[np.ndarray, float, list[np.ndarray]]:
        """``(BGR image the boxes are in, its scale from the input, boxes)``: a first look at ``first_side``
        pixels at most; only where it finds text, a second at the full detector size (``det_side``, enlarged
        with ``upscale``), whose boxes are used when it finds any."""
        s = self.settings
        bgr, scale = _bgr_at_most(image, min(s.first_side, s.det_side))
        boxes, _ = engine.text_det(bgr)
        if boxes is None or len(boxes) == 0 or (s.first_read and not self._reads_a_word(engine, bgr, list(boxes))):
            return bgr, scale, []
        full, full_scale = _bgr_at_most(image, s.det_side, s.upscale)
        if full_scale <= scale * 1.1:  # the full size would show no more than the first look did
            return bgr, scale, list(boxes)
        more, _ = engine.text_det(full)
        found = [] if more is None else list(more)
        # Large text can fall apart when enlarged: the first look's boxes that the second missed are kept.
        first = [np.asarray(box, np.float32) * (full_scale / scale) for box in boxes]
        found += [box for box in first if all(_overlap(box, other) < 0.3 for other in found)]
        return full, full_scale, found

    def _reads_a_word(self, engine: Any, bgr: np.ndarray, boxes: list[np.ndarray]) -> bool:
        """Whether one of the largest first-look boxes (one recogniser batch) reads as a word of 2+ letters or
        digits: leaves, fences and tiles make boxes that read as nothing."""
        crops = engine.get_crop_img_list(bgr, _largest(boxes, _REC_CHUNK))
        results, _ = engine.text_rec(crops, False)
        return any(
            float(confidence) >= self.settings.min_confidence and len(_WORDISH.findall(str(text))) > 0
            for text, confidence in results
        )

    def _recognise(
        self, engine: Any, bgr: np.ndarray, boxes: list[np.ndarray], scale: float, started: float
    ) -> tuple[list[TextLine], str]:
        """Recognise ``boxes`` (``float32[4, 2]`` corners each) in chunks until done, out of time or characters."""
        crops = engine.get_crop_img_list(bgr, boxes)
        lines: list[TextLine] = []
        chars, note = 0, ""
        for start in range(0, len(crops), _REC_CHUNK):
            if time.perf_counter() - started > self.settings.time_budget_s:
                note = f"OCR stopped after {self.settings.time_budget_s:g} s ({start} of {len(crops)} text boxes read)"
                break
            results, _ = engine.text_rec(crops[start : start + _REC_CHUNK], False)
            for box, result in zip(boxes[start : start + _REC_CHUNK], results, strict=False):
                text, confidence = str(result[0]).strip(), float(result[1])
                if not text or confidence < self.settings.min_confidence:
                    continue
                if chars + len(text) > self.settings.max_chars:
                    return lines, f"OCR output capped at {self.settings.max_chars} characters"
                chars += len(text)
                lines.append(TextLine(text, confidence, _bounds(box, scale)))
        return lines, note


def _rapidocr(settings: OcrSettings, threads: int) -> Any:
    rapidocr: Any = require("rapidocr_onnxruntime", "ocr")
    return rapidocr.RapidOCR(
        intra_op_num_threads=threads, inter_op_num_threads=1, det_limit_side_len=settings.det_side,
        det_limit_type="max", det_max_candidates=max(settings.max_lines * 4, 50), print_verbose=False,
        det_box_thresh=settings.box_thresh, det_unclip_ratio=settings.unclip_ratio,
    )  # fmt: skip


def _bgr_at_most(image: Image.Image, side: int, upscale: bool = False) -> tuple[np.ndarray, float]:
    """``(uint8[H, W, 3] BGR with max(H, W) ≤ side, scale from the input to it)``; ``upscale`` enlarges up to 2x."""
    from PIL import Image as PILImage

    rgb = image.convert("RGB")
    scale = side / max(rgb.size)
    scale = min(scale, 2.0) if upscale else min(scale, 1.0)
    if scale != 1.0:
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(size, PILImage.Resampling.BILINEAR)
    return np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1]), scale


def _largest(boxes: list[np.ndarray], limit: int) -> list[np.ndarray]:
    """At most ``limit`` boxes, the largest by area, kept in reading order."""
    if len(boxes) <= limit:
        return boxes
    areas = [float(np.ptp(b[:, 0]) * np.ptp(b[:, 1])) for b in boxes]
    keep = sorted(sorted(range(len(boxes)), key=lambda i: -areas[i])[:limit])
    return [boxes[i] for i in keep]


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller area of two boxes' axis-aligned bounds (``float32[4, 2]`` corners each)."""
    (ax0, ay0), (ax1, ay1) = a.min(axis=0), a.max(axis=0)
    (bx0, by0), (bx1, by1) = b.min(axis=0), b.max(axis=0)
    inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    smaller = min((ax1 - ax0) * (ay1 - ay0), (bx1 - bx0) * (by1 - by0))
    return float(inter / smaller) if smaller > 0 else 0.0


def _bounds(box: np.ndarray, scale: float) -> tuple[int, int, int, int]:
    corners = np.asarray(box, np.float64) / scale
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    return int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1))
