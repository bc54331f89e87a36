"""A trained sequence model registered as a concept: shots are scored from stored frames, never decoded again.

The event is a camera pan that shows a cat, then a coffee cup; the same pan run backwards shows the same frames
in the other order, so only a model of order can tell the two apart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("av")
pytest.importorskip("torch")

from mmir.media.video_write import write_video

FPS = 10
SIDE = (160, 120)  # frame width, height
CONCEPT = "catfirst"  # one word, no WordNet lemma: the query names the user concept alone


def _strip() -> np.ndarray:
    """``uint8[120, 320, 3]``: the cat photo, then the coffee photo, side by side."""
    import skimage

    data = Path(skimage.__file__).parent / "data"
    parts = [Image.open(data / name).convert("RGB").resize(SIDE) for name in ("chelsea.png", "coffee.png")]
    return np.concatenate([np.asarray(p) for p in parts], axis=1)


def _pan(strip: np.ndarray, seconds: float, forward: bool, start: int = 0, end: int = 160) -> list[np.ndarray]:
    """A window sliding over ``strip`` from ``start`` to ``end`` pixels (reversed when not ``forward``)."""
    count = int(seconds * FPS)
    xs = np.linspace(start, end, count).round().astype(int)
    frames = [strip[:, x : x + SIDE[0]] for x in xs]
    return frames if forward else frames[::-1]


def _still(name: str, seconds: float) -> list[np.ndarray]:
    import skimage

    image = Image.open(Path(skimage.__file__).parent / "data" / name).convert("RGB").resize(SIDE)
    return [np.asarray(image)] * int(seconds * FPS)


def _clips(folder: Path, strip: np.ndarray) -> None:
    """Training clips, a folder per label: pans of varied length and extent both ways, and other footage.

    The "other" clips (stills of unrelated photos and of either end of the pan) teach the model that a shot
    that is no pan at all is not the event: a two-class model would have to call every still one of the pans.
    """
    rng = np.random.default_rng(0)
    for label, forward in ((CONCEPT, True), ("coffeefirst", False)):
        (folder / label).mkdir(parents=True)
        for i in range(8):
            seconds = float(rng.uniform(2.5, 4.5))
            start, end = int(rng.integers(0, 20)), int(rng.integers(140, 161))
            write_video(folder / label / f"{i}.mp4", _pan(strip, seconds, forward, start, end), FPS)
    (folder / "other").mkdir()
    stills = ["motorcycle_left.png", "hubble_deep_field.jpg", "ihc.png", "chelsea.png", "coffee.png", "brick.png"]
    for i, name in enumerate(stills + stills[:2]):
        write_video(folder / "other" / f"{i}.mp4", _still(name, float(rng.uniform(2.0, 4.0))), FPS)


@pytest.mark.slow
def test_registered_sequence_model_finds_the_ordered_shot_without_decoding(
    tmp_path: Path, reuse_lite0: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    from typer.testing import CliRunner

    import mmir.cli.commands  # command modules register themselves on the app
    import mmir.cli.video
    import mmir.media.video
    from mmir.api import Collection
    from mmir.cli.groups import app
    from mmir.index.frames import media_frames
    from mmir.search.queries import TextQuery

    torch.set_num_threads(1)  # tiny nets on a shared 2-core machine
    strip = _strip()
    media = tmp_path / "media"
    media.mkdir()
    # a.mp4: rocket (0-2 s) | cat → coffee (2-6 s) | camera (6-8 s) | coffee → cat (8-12 s); a photo too.
    frames = _still("rocket.jpg", 2) + _pan(strip, 4, True) + _still("camera.png", 2) + _pan(strip, 4, False)
    write_video(media / "a.mp4", frames, FPS)
    Image.open(Path(__import__("skimage").__file__).parent / "data" / "astronaut.png").convert("RGB").save(
        media / "astronaut.jpg"
    )
    coll_dir = tmp_path / "coll"
    with Collection.open(coll_dir, create=True) as coll:
        report = coll.index([media])
        assert not report.problems and report.added == 2
        video = coll.store.catalog.lookup(str((media / "a.mp4").absolute()))
        assert video is not None
        frame_times, _ = media_frames(coll.store.catalog, video.id)
        assert len(frame_times) >= 20 and report.encoded == 1 + len(frame_times)  # the photo, the video's frames

    _clips(tmp_path / "clips", strip)
    result = CliRunner().invoke(app, [
        "train", "sequence", str(tmp_path / "clips"), "--arch", "gru", "--hidden", "32", "--epochs", "40",
        "--out", str(tmp_path / "model"), "--register", CONCEPT, "-c", str(coll_dir),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"registered '{CONCEPT}'" in result.output

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("a video was decoded while scoring stored shots")

    with Collection.open(coll_dir) as coll:
        with monkeypatch.context() as patch:
            patch.setattr(mmir.media.video.VideoReader, "__init__", no_decoding)
            top = coll.search_text(CONCEPT, k=2)[0]
            ids, scores = coll.engine.segment_scores(TextQuery(CONCEPT))
        assert top.media.path.endswith("a.mp4")
        assert (top.segment.start_s, top.segment.end_s) == pytest.approx((2.0, 6.0), abs=0.15)
        rows = coll.store.catalog.hits_rows([int(i) for i in ids])
        by_shot = {round(rows[int(i)][1].start_s): float(s) for i, s in zip(ids, scores, strict=True)}
        assert by_shot[2] > by_shot[8] and by_shot[2] > by_shot[0]  # same frames in the other order score lower

    # A video indexed after the model was registered is scored too (lazily, at the next query).
    write_video(media / "b.mp4", _still("astronaut.png", 2) + _pan(strip, 4, True), FPS)
    with Collection.open(coll_dir) as coll:
        assert coll.index([media]).added == 1
        with monkeypatch.context() as patch:
            patch.setattr(mmir.media.video.VideoReader, "__init__", no_decoding)
            hits = coll.search_text(CONCEPT, k=3)
        b = next(hit for hit in hits[:2] if hit.media.path.endswith("b.mp4"))
        assert (b.segment.start_s, b.segment.end_s) == pytest.approx((2.0, 6.0), abs=0.15)
        assert all(hit.media.path.endswith(".mp4") for hit in hits[:2])  # the photo has no frames: it scores 0
