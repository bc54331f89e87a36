"""Indexing started from the page runs OCR and speech when the collection has them (it was indexed with ``--ocr`` /
``--speech``), so files added from the page are found by the words they show and say like the others.

Found when tried: the server's indexing run called ``Collection.index`` without text options, so a photo or video
added from the page was never read for text or speech (``--shows`` / ``--said`` could not find it).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from mmir.api import Collection, IndexOptions, TextOptions


def _speech_video(path: Path, shade: int) -> None:
    """A 6 s video (noise around grey level ``shade``) saying one sentence from 0.5 s."""
    from mmir.media.audio_write import espeak, write_video_with_audio

    sound, rate = espeak("welcome everyone to the quarterly revenue meeting", "en-us", 140)
    audio = np.concatenate([np.zeros(rate // 2, np.int16), sound, np.zeros(max(0, 5 * rate - len(sound)), np.int16)])
    noise = np.random.default_rng(shade).integers(0, 60, (96, 128, 3))
    frames = [np.clip(noise + shade, 0, 255).astype(np.uint8)] * int(len(audio) / rate * 10)
    write_video_with_audio(path, frames, 10, audio, rate)


def _wait_done(client) -> dict:
    for _ in range(3000):
        status = client.get("/api/index").json()
        if status["state"] in ("done", "failed"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"indexing did not finish: {status}")


def _said_or_shown(client, field: str, words: str) -> list[str]:
    response = client.get("/api/search/field", params={"q": words, "field": field, "k": 10})
    assert response.status_code == 200, response.text
    return [hit["path"] for hit in response.json()]


@pytest.fixture()
def text_collection(tmp_path: Path, reuse_lite0) -> Path:
    """A collection indexed with OCR and speech: a sign photo and a talk video."""
    pytest.importorskip("pocketsphinx")
    pytest.importorskip("av")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/install_system_deps.sh)")
    from tests.test_visible_text_search import _sign

    first = tmp_path / "first"
    first.mkdir()
    _sign(first / "exit.jpg", "EXIT 12", "rocket.jpg")
    _speech_video(first / "talk.mp4", 40)
    with Collection.open(tmp_path / "coll", create=True) as coll:
        coll.index([first], IndexOptions(progress=False), text=TextOptions())
    return tmp_path / "coll"


@pytest.mark.slow
def test_files_indexed_from_the_page_are_read_for_text_and_speech(text_collection: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient
    from tests.test_visible_text_search import _sign

    from mmir.server import ServerSettings, create_app

    more = tmp_path / "more"
    more.mkdir()
    _sign(more / "bakery.jpg", "BAKERY", "coffee.png")
    _speech_video(more / "meeting.mp4", 180)  # other pictures: not a byte copy whose words would be copied
    settings = ServerSettings(collection=text_collection, roots=(more,), allowed_hosts=("testserver",))
    client = TestClient(create_app(settings))
    assert client.post("/api/index", json={"roots": [0]}).status_code == 202
    status = _wait_done(client)
    assert status["state"] == "done" and status["added"] == 2, status
    assert "more/bakery.jpg" in _said_or_shown(client, "shows", "bakery")
    assert "more/meeting.mp4" in _said_or_shown(client, "said", "quarterly revenue")


def test_text_producers_are_those_the_collection_ran(collection_dir: Path) -> None:
    with Collection.open(collection_dir) as coll:  # photos indexed without --ocr / --speech
        assert coll.text_producers() is None  # so the server's indexing stays as fast as before


@pytest.mark.slow
def test_text_producers_of_a_collection_indexed_with_speech(text_collection: Path) -> None:
    with Collection.open(text_collection) as coll:
        assert coll.text_producers() == TextOptions(ocr=True, speech=True)
