"""Cheap text-presence gates for OCR: can one skip the detector on photos without text and keep the text photos?

The question (issue 21, "fast path"): indexing with OCR stays within 25 % of indexing without it on ordinary photos
only if photos without text skip the PP-OCRv4 detector (~100-200 ms a 640x480 photo on one core here, against a
vision pass of ~25-90 ms) for a few ms. A gate is useful only if it passes (nearly) every photo with text: a text
photo it rejects loses its words from search (keyword R@1).

Photos: the 27 hand-annotated text photos of ``visible_text.ANNOTATIONS`` (validation / test halves as that benchmark
splits them) and every other COCO-mini photo ("plain": nobody annotated text in them; some do show text). Each gate
scores every photo; its threshold is the LOWEST score of a validation text photo (so it passes the whole validation
half), chosen there, never on test; a second row ("-1") lets one validation text photo go. Printed per gate: test
text photos passed, plain photos passed (all of them, and those where the product's own first detector look reads
no word, "no text by the detector"), ms a photo. The product's first look is printed as a row too (what the gate
would have to beat).

Gates tried (every one printed):
  pixels        mmir.media.ocr.text_presence: share of strong-gradient pixels of a 256-px grey thumbnail (~1 ms)
  mser-N        OpenCV MSER on an N-px grey image; regions shaped like characters; score = regions with two
                neighbours of similar height on the same line (a text-line count, after Neumann & Matas)
  detmap-N      the PP-OCRv4 detector's probability map at N px (long side): its maximum
  cnn-probe     logistic regression on the vision pass's own features (efficientnet-lite0 GeM descriptor + log
                concept probabilities, cost ~0 at index time), 5-fold cross-validated WITHIN these photos with labels
                "annotated or the first look reads a word": an optimistic bound (a shipped probe would be trained on
                other photos)

Then the detector itself made cheaper (detector rows): ONNX Runtime's memory arena, int8 quantisation (static QDQ
and dynamic, onnxruntime.quantization), ms a photo and agreement with the float model.

Usage: python benchmarks/visible_text_gate.py [--limit 240] [--no-probe]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

import visible_text as vt

Score = Callable[[Image.Image], float]


def mser_score(side: int) -> Score:
    """Text-line count of character-shaped MSER regions on a ``side``-px grey image."""
    import cv2

    mser = cv2.MSER_create(delta=5, min_area=12, max_area=2000)  # type: ignore[attr-defined]

    def score(image: Image.Image) -> float:
        grey = image.convert("L")
        grey.thumbnail((side, side), Image.Resampling.BILINEAR)
        regions, boxes = mser.detectRegions(np.asarray(grey))
        b = np.asarray(boxes, np.float64).reshape(-1, 4)
        if len(b) < 3:
            return 0.0
        w, h = b[:, 2], b[:, 3]
        fill = np.array([len(r) for r in regions]) / np.maximum(w * h, 1)
        shaped = (h >= 5) & (h <= grey.height * 0.3) & (w / h > 0.1) & (w / h < 1.5) & (fill > 0.2) & (fill < 0.95)
        b = b[shaped]
        _, first = np.unique(np.round(b / 3).astype(int), axis=0, return_index=True)  # nested duplicates once
        b = b[np.sort(first)]
        cx, cy, hh = b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2, b[:, 3]
        dx, dy, ratio = np.abs(cx[:, None] - cx), np.abs(cy[:, None] - cy), hh[:, None] / hh
        near = (dx > 0.3 * hh[:, None]) & (dx < 2.5 * hh[:, None]) & (dy < 0.3 * hh[:, None])
        return float(((near & (ratio > 0.7) & (ratio < 1.4)).sum(axis=1) >= 2).sum())

    return score


def _det_model() -> Path:
    import rapidocr_onnxruntime

    return Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_PP-OCRv4_det_infer.onnx"


def _det_input(image: Image.Image, side: int) -> np.ndarray:
    """``float32[1, 3, H, W]``: RapidOCR's detector input at ``side`` px at most (sides multiples of 32)."""
    s = min(1.0, side / max(image.size))
    size = (max(32, round(image.width * s / 32) * 32), max(32, round(image.height * s / 32) * 32))
    bgr = np.asarray(image.resize(size, Image.Resampling.BILINEAR), np.float32)[:, :, ::-1]
    return (bgr / 127.5 - 1.0).transpose(2, 0, 1)[None].astype(np.float32)


def detmap_score(side: int, model: Path | None = None, arena: bool = False) -> Score:
    """Maximum of the PP-OCRv4 detector's text probability map at ``side`` px (one ONNX Runtime thread)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = arena  # RapidOCR turns the arena off
    session = ort.InferenceSession(str(model or _det_model()), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda image: float(session.run(None, {name: _det_input(image, side)})[0].max())


def detector_rows(images: list[Image.Image], text: np.ndarray, calibration: list[Image.Image]) -> None:
    """The detector itself made cheaper at the first look's size (640 px on these photos): ONNX Runtime's memory
    arena, int8 (dynamic; static QDQ calibrated on ``calibration`` photos, none of them scored). Quantised models
    are made in a temporary folder (nothing stored). Agreement: photos where the map has text pixels (> 0.3, the
    DB threshold) exactly when the float model's has."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    name = onnx.load(str(_det_model())).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._inputs = iter([{name: _det_input(image, 640)} for image in calibration])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._inputs, None)

    with tempfile.TemporaryDirectory() as folder:
        opset13 = Path(folder) / "det13.onnx"  # QDQ with per-channel axes needs opset 13 (the model has 12)
        onnx.save(version_converter.convert_version(onnx.load(str(_det_model())), 13), str(opset13))
        quant_pre_process(str(opset13), str(opset13), skip_symbolic_shape=True)  # folds what int8 needs folded
        static, dynamic = Path(folder) / "s8.onnx", Path(folder) / "d8.onnx"
        quantize_static(str(opset13), str(static), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)  # fmt: skip
        quantize_dynamic(str(opset13), str(dynamic), weight_type=QuantType.QUInt8)
        rows: list[tuple[str, Path | None, bool]] = [("float32 (RapidOCR's options)", None, False)]
        rows.append(("float32, memory arena on", None, True))
        rows += [("int8 static QDQ", static, False), ("int8 dynamic", dynamic, False)]
        reference = None
        for name, model, arena in rows:
            scores, ms = _scores(detmap_score(640, model, arena), images)
            found = scores > 0.3
            reference = found if reference is None else reference
            agree = np.mean(found == reference)
            print(f"  detector {name:30s}: {ms:6.1f} ms/photo; text pixels on {found[text].sum()}/{text.sum()} text "
                  f"photos, {found[~text].mean():.2f} of plain; agrees with float32 on {agree:.2f}")  # fmt: skip


def first_look() -> Score:
    """The product's own gate: 1.0 where the detector's first look finds boxes that read as a word."""
    from mmir.media.ocr import OcrEngine, _bgr_at_most

    engine = OcrEngine(threads=1)
    rapid = engine._load()

    def score(image: Image.Image) -> float:
        bgr, _ = _bgr_at_most(image, engine.settings.first_side)
        boxes, _ = rapid.text_det(bgr)
        return float(boxes is not None and len(boxes) > 0 and engine._reads_a_word(rapid, bgr, list(boxes)))

    return score


def cnn_probe(images: list[Image.Image], labels: np.ndarray) -> tuple[np.ndarray, float]:
    """Cross-validated logistic-regression scores on the vision pass's features; ``(scores, ms a photo)``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    from mmir.api import Collection

    with tempfile.TemporaryDirectory() as folder, Collection.open(Path(folder) / "c", create=True) as coll:
        encoded = [coll.encoder.encode([image]) for image in images]  # the features the vision pass computes
    descriptors = np.concatenate([e.descriptors for e in encoded])
    x = np.hstack([descriptors, np.log(np.concatenate([e.concepts for e in encoded]) + 1e-6)])
    scores = np.zeros(len(images))
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(x, labels):
        model = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(x[train], labels[train])
        scores[test] = model.decision_function(x[test])
    started = time.perf_counter()
    model.decision_function(x)
    return scores, (time.perf_counter() - started) / len(images) * 1000  # the probe itself: one dot product


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=240, help="most photos (annotated ones always included)")
    parser.add_argument("--no-probe", action="store_true", help="skip the CNN probe (loads the encoder)")
    args = parser.parse_args()
    keys = sorted(vt.ANNOTATIONS)
    plain = [
        str(p.relative_to(vt.COCO))
        for p in sorted(vt.COCO.rglob("*.jpg"))
        if str(p.relative_to(vt.COCO)) not in vt.ANNOTATIONS
    ]
    keys += plain[: max(0, args.limit - len(keys))]
    images = [Image.open(vt.photo_path(k)).convert("RGB") for k in keys]
    text = np.array([k in vt.ANNOTATIONS for k in keys])
    split = np.array([vt._split_of(k.replace("/", "_").replace(":", "_")) if k in vt.ANNOTATIONS else -1 for k in keys])
    halves = f"validation {np.sum(split == 0)}, test {np.sum(split == 1)}"
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {text.sum()} annotated text photos "
          f"({halves}), {np.sum(~text)} plain COCO photos")  # fmt: skip
    from mmir.media.ocr import text_presence

    looked, look_ms = _scores(first_look(), images)
    no_word = ~text & (looked < 0.5)
    _row("first look (product gate)", looked, look_ms, text, split, no_word, threshold=0.5)
    rows: list[tuple[str, Score]] = [
        ("pixels", text_presence),
        ("mser-320", mser_score(320)),
        ("mser-480", mser_score(480)),
    ]
    rows += [("detmap-256", detmap_score(256)), ("detmap-320", detmap_score(320)), ("detmap-384", detmap_score(384))]
    for name, gate in rows:
        scores, ms = _scores(gate, images)
        _row(name, scores, ms, text, split, no_word)
    if not args.no_probe:
        scores, ms = cnn_probe(images, text | (looked > 0.5))
        _row("cnn-probe (in-sample CV)", scores, ms, text, split, no_word)
    detector_rows(images, text, _calibration())


def _calibration() -> list[Image.Image]:
    """Photos to calibrate int8 activations on, none of them scored: scikit-image's sample photos (one with text)."""
    import skimage.data

    names = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "cat", "logo")
    return [Image.fromarray(getattr(skimage.data, name)()).convert("RGB") for name in names]


def _scores(gate: Score, images: list[Image.Image]) -> tuple[np.ndarray, float]:
    gate(images[0])  # warm-up (sessions, caches) outside the clock
    started = time.perf_counter()
    scores = np.array([gate(image) for image in images])
    return scores, (time.perf_counter() - started) / len(images) * 1000


def _row(name: str, scores: np.ndarray, ms: float, text: np.ndarray, split: np.ndarray, no_word: np.ndarray,
         threshold: float | None = None) -> None:  # fmt: skip
    """Printed rows: the threshold passing every validation text photo, and all but one; what each passes on test
    and plain photos."""
    ranked = np.sort(scores[split == 0])
    thresholds = [(threshold, "")] if threshold is not None else [(float(ranked[0]), ""), (float(ranked[1]), " -1")]
    test = split == 1
    for cut, tag in thresholds:
        passed = scores >= cut
        print(f"  {name + tag:29s} threshold {cut:8.3g}: test text photos passed {passed[test].sum():2d}/{test.sum()}, "
              f"plain passed {passed[~text].mean():.2f} (no text by the detector: {passed[no_word].mean():.2f}); "
              f"{ms:6.1f} ms/photo")  # fmt: skip


if __name__ == "__main__":
    main()
