"""media.ocr: the text-presence gate, reading lines with boxes, and the caps that stop a text bomb."""

from __future__ import annotations

from pathlib import Path

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
