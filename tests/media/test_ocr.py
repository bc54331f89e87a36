"""media.ocr: the text-presence gate, reading lines with boxes, and the caps that stop a text bomb."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from mmir.media.ocr import OcrEngine, OcrSettings, text_presence

pytest.importorskip("rapidocr_onnxruntime")
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.truetype(FONT, size) if Path(FONT).exists() else ImageFont.load_default(size)


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    return OcrEngine()


def test_reads_a_line_with_its_box(engine: OcrEngine) -> None:
    image = Image.new("RGB", (640, 480), (210, 225, 240))
    ImageDraw.Draw(image).text((100, 200), "EXIT ONLY", fill=(0, 0, 0), font=_font(48))
    result = engine.read(image)
    assert [line.text for line in result.lines] == ["EXIT ONLY"]
    x0, y0, x1, y1 = result.lines[0].box
    assert 80 <= x0 <= 110 and 190 <= y0 <= 215 and 330 <= x1 <= 400 and 240 <= y1 <= 270
    assert result.lines[0].confidence > 0.8


def test_gate_skips_smooth_images_without_running_a_model() -> None:
    cold = OcrEngine()
    gradient = Image.linear_gradient("L").resize((640, 480)).convert("RGB")
    result = cold.read(gradient)
    assert result.skipped and result.lines == () and cold._engine is None
    assert text_presence(gradient) < OcrSettings().min_presence


def test_text_bomb_is_capped_and_bounded_in_time() -> None:
    image = Image.new("RGB", (1200, 1200), "white")
    draw = ImageDraw.Draw(image)
    for row in range(60):
        draw.text((5, 5 + row * 20), "lorem ipsum dolor sit amet " * 8, fill="black", font=_font(14))
    capped = OcrEngine(OcrSettings(max_lines=8, max_chars=60, time_budget_s=30.0))
    result = capped.read(image)
    assert len(result.lines) <= 8 and sum(len(line.text) for line in result.lines) <= 60
    assert result.note  # says what was left out
    budget = OcrEngine(OcrSettings(time_budget_s=0.0)).read(image)  # out of time before the first box
    assert budget.lines == () and "stopped after" in budget.note  # recognition never started


def test_first_look_without_text_skips_the_full_size_pass() -> None:
    from tests.conftest import skimage_data_dir

    engine = OcrEngine()
    detector = engine._load().text_det
    looks: list[tuple[int, ...]] = []

    def counted(image: np.ndarray) -> Any:
        looks.append(image.shape)
        return detector(image)

    engine._engine.text_det = counted
    cat = Image.open(skimage_data_dir() / "motorcycle_left.png").convert("RGB")  # a real photo, no text
    result = engine.read(cat)
    assert not result.skipped and result.gated and result.lines == ()
    assert len(looks) == 1 and max(looks[0][:2]) <= OcrSettings().first_side  # one small pass, no enlarged one
    looks.clear()
    sign = cat.copy()
    ImageDraw.Draw(sign).rectangle((40, 40, 330, 110), fill=(245, 245, 235))
    ImageDraw.Draw(sign).text((55, 50), "BAKERY", fill=(20, 20, 20), font=_font(44))
    read = engine.read(sign)
    assert not read.gated and "BAKERY" in read.text
    assert len(looks) == 2 and max(looks[1][:2]) == OcrSettings().det_side  # the text photo, enlarged


def test_slow_detection_does_not_use_up_the_recognition_budget() -> None:
    """The time budget counts recognition only: detection passes on a loaded machine cannot use it up."""
    from tests.conftest import skimage_data_dir

    photo = Image.open(skimage_data_dir() / "coffee.png").convert("RGB").resize((2560, 1920))
    draw = ImageDraw.Draw(photo)
    draw.rectangle((100, 100, 320, 150), fill=(240, 240, 235))
    draw.text((110, 108), "HARBOUR", fill=(20, 20, 20), font=_font(26))
    engine = OcrEngine(OcrSettings(time_budget_s=0.5))
    engine._load()
    detector = engine._engine.text_det

    def slow(image: np.ndarray) -> Any:
        time.sleep(0.5)  # as a detector pass takes on a busy 2-core machine
        return detector(image)

    engine._engine.text_det = slow
    assert engine.read(photo).text == "HARBOUR"


def test_searchable_words_split_runs_read_without_spaces() -> None:
    from mmir.media.ocr_words import searchable

    pytest.importorskip("wordninja")
    assert searchable("ALARMWILL SOUNDIF").split() == ["ALARMWILL", "SOUNDIF", "ALARM", "WILL", "SOUND", "IF"]
    assert searchable("OMNIHOTELS").lower().split() == ["omnihotels", "omni", "hotels"]
    assert searchable("HR37C you'll") == "HR 37 C youll"  # folded as queries are (letters/digits apart)
    assert searchable("STOP") == "STOP" and searchable("Bülowstraße") == "Bülowstraße"  # short / not English


def test_first_look_boxes_that_read_as_nothing_stop_there() -> None:
    """Foliage and fences make detector boxes; unless one of the largest reads as a word, no enlarged look runs."""
    image = Image.new("RGB", (640, 480), (210, 225, 240))
    ImageDraw.Draw(image).text((100, 200), "EXIT ONLY", fill=(0, 0, 0), font=_font(48))
    engine = OcrEngine()
    engine._load()
    detector = engine._engine.text_det
    looks: list[tuple[int, ...]] = []

    def counted(bgr: np.ndarray) -> Any:
        looks.append(bgr.shape)
        return detector(bgr)

    engine._engine.text_det = counted
    engine._engine.text_rec = lambda crops, _: ([("~.", 0.95)] * len(crops), 0.0)  # boxes that read as nothing
    result = engine.read(image)
    assert result.gated and result.lines == () and len(looks) == 1
    looks.clear()
    reads_all = OcrEngine(OcrSettings(first_read=False))
    reads_all._load()
    reads_all._engine.text_det = counted
    reads_all.read(image)
    assert len(looks) == 2  # without the word test the enlarged look runs
