"""Visible text and speech, end to end: index with the producers, find by the words shown / said."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from mmir.api import Collection
from mmir.index.visible_text import SOME_WORDS, TextField
from mmir.indexing.pipeline import IndexOptions
from mmir.indexing.text import TextOptions

pytest.importorskip("rapidocr_onnxruntime")
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.truetype(FONT, size) if Path(FONT).exists() else ImageFont.load_default(size)


def _sign(path: Path, words: str, background: str) -> None:
    """A real photo (scikit-image) with ``words`` painted on a light panel, as on a shop sign."""
    from tests.conftest import skimage_data_dir

    photo = Image.open(skimage_data_dir() / background).convert("RGB").resize((640, 480))
    draw = ImageDraw.Draw(photo)
    draw.rectangle((60, 170, 580, 290), fill=(245, 245, 235))
    draw.text((80, 195), words, fill=(20, 20, 20), font=_font(60))
    photo.save(path, quality=92)


@pytest.fixture()
def signs(tmp_path: Path, reuse_lite0) -> Collection:
    folder = tmp_path / "photos"
    folder.mkdir()
    _sign(folder / "photo_a.jpg", "BAKERY", "coffee.png")
    _sign(folder / "photo_b.jpg", "EXIT 12", "rocket.jpg")
    from tests.conftest import skimage_data_dir

    shutil.copy(skimage_data_dir() / "chelsea.png", folder / "cat.png")
    coll = Collection.open(tmp_path / "coll", create=True)
    coll.index([folder], IndexOptions(progress=False), text=TextOptions(speech=False))
    return coll


def test_photo_with_rendered_text_is_found_by_that_word(signs: Collection) -> None:
    hits = signs.search_fields("bakery", [TextField.SHOWS])
    assert [Path(h.media.path).name for h in hits] == ["photo_a.jpg"]
    assert any("text in image: 'BAKERY'" in why for why in hits[0].why)
    exit_hits = signs.search_fields("exit", [TextField.SHOWS])
    assert Path(exit_hits[0].media.path).name == "photo_b.jpg"


@pytest.mark.parametrize(("query", "name"), [("bakery", "photo_a.jpg"), ("exit", "photo_b.jpg")])
def test_keyword_search_fuses_the_words_a_photo_shows(signs: Collection, query: str, name: str) -> None:
    from mmir.search.queries import TextQuery

    hits = signs.search(TextQuery(query), k=3)  # file names say nothing: only the painted words can
    assert Path(hits[0].media.path).name == name
    assert any(why.startswith("text in image: ") and query.upper() in why for why in hits[0].why)


def test_ocr_misreading_matches_fuzzily_with_a_lower_score(signs: Collection) -> None:
    exact = signs.search_fields("bakery", [TextField.SHOWS])[0]
    near = signs.search_fields("bakary", [TextField.SHOWS])
    assert Path(near[0].media.path).name == "photo_a.jpg"
    assert near[0].score < exact.score
    assert "close" in near[0].why[0]


def test_words_read_without_spaces_are_found_by_each_word(tmp_path: Path, reuse_lite0) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    _sign(folder / "visitor.jpg", "VISITORCENTRE", "coffee.png")  # as OCR reads many signs: no space
    _sign(folder / "plate.jpg", "HR37C", "rocket.jpg")  # letters and digits run together
    with Collection.open(tmp_path / "coll", create=True) as coll:
        coll.index([folder], IndexOptions(progress=False), text=TextOptions(speech=False))
        for word in ("centre", "visitor"):  # each word of the run is a word of its own, not a near match
            hits = coll.search_fields(word, [TextField.SHOWS])
            assert [Path(h.media.path).name for h in hits] == ["visitor.jpg"]
            assert hits[0].score == 1.0 and "text in image: 'VISITORCENTRE'" in hits[0].why[0]
        plate = coll.search_fields("hr37c", [TextField.SHOWS])  # the query is folded to "hr 37 c": so is the text
        assert [Path(h.media.path).name for h in plate] == ["plate.jpg"]


@pytest.mark.parametrize("hostile", ['bakery" OR *', "NEAR(bakery exit)", "bakery:", "{shows}: exit", "^bak*"])
def test_fts_operators_in_input_stay_inert(signs: Collection, hostile: str) -> None:
    hits = signs.search_fields(hostile, [TextField.SHOWS])  # never an FTS5 syntax error
    names = {Path(h.media.path).name for h in hits}
    assert "cat.png" not in names
    if hostile.startswith("NEAR"):  # "near bakery exit" is shown nowhere as a phrase: only some-words matches
        assert names == {"photo_a.jpg", "photo_b.jpg"} and all(h.score <= SOME_WORDS for h in hits)


def test_indexing_again_does_not_read_text_again(signs: Collection, tmp_path: Path) -> None:
    report = signs.produce_text(TextOptions(speech=False))
    assert report.ocr_files == 0


def test_gate_skips_photos_without_text(signs: Collection, tmp_path: Path) -> None:
    blank = tmp_path / "photos" / "blank.png"
    Image.new("RGB", (320, 240), (90, 140, 200)).save(blank)
    signs.close()
    with Collection.open(signs.directory) as again:
        again.index([tmp_path / "photos"], IndexOptions(progress=False))  # vision only
        report = again.produce_text(TextOptions(speech=False))  # back-fill: only the new file lacks OCR
    assert (report.ocr_files, report.ocr_skipped) == (1, 1)


def test_bad_field_query_is_a_clear_error(signs: Collection) -> None:
    from mmir.errors import QueryError

    with pytest.raises(QueryError, match="no word"):
        signs.search_fields('" * "', [TextField.SHOWS])


def test_info_counts_items_with_visible_text(signs: Collection) -> None:
    from mmir.index.visible_text import counts

    assert counts(signs.store.catalog)[TextField.SHOWS] == 2
    assert "visible text: found in 2 of 3 files read by ocr" in signs.info().producers


def _talk(path: Path, damage_after_s: float | None = None) -> None:
    """A 12 s video of two shots (dark noise, then light noise), each with one sentence spoken by espeak-ng."""
    from mmir.media.audio_write import espeak, write_video_with_audio

    first, rate = espeak("welcome everyone to the quarterly revenue meeting", "en-us", 140)
    second, _ = espeak("please open the door to the kitchen", "en-us", 140)

    def padded(sound: np.ndarray) -> np.ndarray:  # 0.5 s of silence, the sentence, silence up to 6 s
        lead = np.zeros(rate // 2, np.int16)
        return np.concatenate([lead, sound, np.zeros(max(0, 6 * rate - len(sound) - len(lead)), np.int16)])

    audio = np.concatenate([padded(first), padded(second)])
    rng = np.random.default_rng(0)
    dark = rng.integers(0, 80, (96, 128, 3)).astype(np.uint8)
    light = (255 - rng.integers(0, 80, (96, 128, 3))).astype(np.uint8)
    count = int(len(audio) / rate * 10)
    frames = [dark if i < count // 2 else light for i in range(count)]
    write_video_with_audio(path, frames, 10, audio, rate, damage_after_s=damage_after_s)


@pytest.fixture()
def talks(tmp_path: Path, reuse_lite0) -> tuple[Collection, list[str]]:
    pytest.importorskip("pocketsphinx")
    pytest.importorskip("av")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/install_system_deps.sh)")
    folder = tmp_path / "videos"
    folder.mkdir()
    _talk(folder / "talk.mp4")
    _talk(folder / "damaged.mp4", damage_after_s=4.0)
    notes: list[str] = []
    coll = Collection.open(tmp_path / "coll", create=True)
    report = coll.index([folder], IndexOptions(progress=False), text=TextOptions(ocr=False),
                        on_note=lambda note: notes.append(str(note)))  # fmt: skip
    assert report.problems == ()
    return coll, notes


@pytest.mark.slow
def test_spoken_phrase_finds_the_video_at_the_right_shot(talks: tuple[Collection, list[str]]) -> None:
    coll, _ = talks
    hits = [h for h in coll.search_fields("quarterly revenue", [TextField.SAID], per_shot=True)
            if Path(h.media.path).name == "talk.mp4"]  # fmt: skip
    assert hits and hits[0].segment.start_s < 1.0 and hits[0].segment.end_s <= 6.5
    assert hits[0].why[0].startswith("said at ")
    later = [h for h in coll.search_fields("open the door", [TextField.SAID], per_shot=True)
             if Path(h.media.path).name == "talk.mp4"]  # fmt: skip
    assert later and later[0].segment.start_s >= 5.5
    assert coll.search_fields("quarterly revenue", [TextField.SHOWS]) == []  # the field restriction holds


@pytest.mark.slow
def test_damaged_audio_keeps_the_shots_with_a_one_line_note(talks: tuple[Collection, list[str]]) -> None:
    coll, notes = talks
    damaged = [n for n in notes if "damaged.mp4" in n]
    assert len(damaged) == 1 and "\n" not in damaged[0] and "audio damaged" in damaged[0]
    media = {Path(h.media.path).name: h for h in coll.search_fields("quarterly revenue", [TextField.SAID])}
    assert "damaged.mp4" in media  # the speech before the damage is kept
    ids = [m.id for m in [media["damaged.mp4"].media]]
    assert len(coll.store.catalog.segment_encodings(ids[0])) >= 2  # its shots are indexed
    assert not coll.search_fields("kitchen", [TextField.SAID], per_shot=True) or all(
        Path(h.media.path).name == "talk.mp4" for h in coll.search_fields("kitchen", [TextField.SAID])
    )


def test_text_on_a_video_slide_is_found_at_its_shot(tmp_path: Path, reuse_lite0) -> None:
    from mmir.media.video_write import write_video

    pytest.importorskip("av")
    slide = Image.new("RGB", (320, 240), (250, 250, 245))
    ImageDraw.Draw(slide).text((20, 90), "REVENUE", fill=(10, 10, 80), font=_font(40))
    dark = np.random.default_rng(0).integers(0, 60, (240, 320, 3)).astype(np.uint8)
    folder = tmp_path / "videos"
    folder.mkdir()
    write_video(folder / "talk.mp4", [dark] * 40 + [np.asarray(slide)] * 40, fps=10)  # the slide from 4 s
    with Collection.open(tmp_path / "coll", create=True) as coll:
        coll.index([folder], IndexOptions(progress=False), text=TextOptions(speech=False))
        hits = coll.search_fields("revenue", [TextField.SHOWS], per_shot=True)
    assert len(hits) == 1 and 3.5 <= hits[0].segment.start_s <= 4.5
    assert hits[0].why == ("text in image: 'REVENUE'",)


def test_cli_index_and_search_shows_and_said(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    def mmir(*args: str) -> subprocess.CompletedProcess[str]:
        env = os.environ | {"HF_HUB_OFFLINE": "1"}
        result = subprocess.run([sys.executable, "-m", "mmir", *args], capture_output=True, text=True, env=env)
        assert "Traceback" not in result.stderr, result.stderr
        return result

    folder = tmp_path / "photos"
    folder.mkdir()
    _sign(folder / "photo_a.jpg", "BAKERY", "coffee.png")
    coll = str(tmp_path / "coll")
    assert mmir("index", str(folder), "--collection", coll, "--no-progress", "--ocr").returncode == 0
    shown = mmir("search", "--shows", "bakery", "--collection", coll, "--json")
    hits = json.loads(shown.stdout)
    assert [Path(h["path"]).name for h in hits] == ["photo_a.jpg"] and "text in image" in hits[0]["why"][0]
    said = mmir("search", "--said", "bakery", "--collection", coll)
    assert said.returncode == 0 and "no results" in said.stdout
    both = mmir("search", "--said", "a", "--shows", "b", "--collection", coll)
    assert both.returncode != 0 and len(both.stderr.strip().splitlines()) == 1
    info = mmir("info", "--collection", coll)
    assert "visible text: found in 1 of 1 files read by ocr" in info.stdout


def test_an_engine_failure_is_one_note_and_keeps_the_vision_index(
    tmp_path: Path, reuse_lite0, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmir.media.ocr import OcrEngine

    def broken(self: OcrEngine, image: Image.Image) -> None:
        raise RuntimeError("onnxruntime: bad input\nsecond line")

    monkeypatch.setattr(OcrEngine, "read", broken)
    folder = tmp_path / "photos"
    folder.mkdir()
    _sign(folder / "photo_a.jpg", "BAKERY", "coffee.png")
    notes: list[str] = []
    with Collection.open(tmp_path / "coll", create=True) as coll:
        report = coll.index([folder], IndexOptions(progress=False), text=TextOptions(speech=False),
                            on_note=lambda note: notes.append(str(note)))  # fmt: skip
        assert report.added == 1 and coll.store.catalog.counts() == (1, 1)
    assert len(notes) == 1 and "photo_a.jpg" in notes[0] and "RuntimeError: onnxruntime: bad input" in notes[0]
    assert "\n" not in notes[0]


def test_a_missing_engine_is_one_note_not_one_per_file(
    tmp_path: Path, reuse_lite0, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pocketsphinx" else real(name))
    notes: list[str] = []
    with Collection.open(tmp_path / "coll", create=True) as coll:
        report = coll.produce_text(TextOptions(ocr=False), on_note=lambda note: notes.append(str(note)))
    assert report.speech_files == 0
    assert notes == ["speech: not read: pocketsphinx is not installed (pip install 'mmir[speech]')"]


def test_a_copy_indexed_later_shows_the_same_text(tmp_path: Path, reuse_lite0) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    _sign(folder / "photo_a.jpg", "BAKERY", "coffee.png")
    with Collection.open(tmp_path / "coll", create=True) as coll:
        coll.index([folder], IndexOptions(progress=False), text=TextOptions(speech=False))
    shutil.copy(folder / "photo_a.jpg", folder / "copy.jpg")  # same bytes: stored as a copy, not decoded again
    with Collection.open(tmp_path / "coll") as coll:
        report = coll.index([folder], IndexOptions(progress=False), text=TextOptions(speech=False))
        assert report.reused == 1
        names = {Path(h.media.path).name for h in coll.search_fields("bakery", [TextField.SHOWS])}
    assert names == {"photo_a.jpg", "copy.jpg"}


def test_text_producers_leave_the_saved_vectors_current(signs: Collection) -> None:
    """Text and ledger rows written after the vectors were saved must not mark them stale (every reader would
    then re-derive the whole vector index from stored descriptors)."""
    assert signs.store.vectors_current()  # the ledger's record of the saved vectors (issue 23)
