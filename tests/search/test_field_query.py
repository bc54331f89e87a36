"""Visible-text / speech search (``--shows`` / ``--said``) goes through the one pipeline: ``k`` distinct files even
when one video's shots all hold the phrase, ``k`` shots with ``per="shot"``, ``why`` lines kept, scores on the
stated ``field`` scale.

The collection is synthetic and tiny (no OCR or speech model runs): one video of 250 shots and 12 photos, 8-d
descriptors, words written straight through :mod:`mmir.index.visible_text`'s storage API.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmir.api import Collection
from mmir.errors import QueryError
from mmir.index import visible_text
from mmir.index.catalog import SegmentEncoding
from mmir.index.manifest import Manifest
from mmir.index.store import FileToStore, SegmentStore
from mmir.index.visible_text import TextField, Words
from mmir.search.queries import FieldQuery, Per
from mmir.search.scales import SCALES, Kind
from mmir.types import MediaKind

DIM = 8
SHOTS, PHOTOS, SHOT_S = 250, 12, 2.0  # more shots than the old fixed over-fetch window (max(20k, 200) segments)


def _build(directory: Path, media: Path) -> Collection:
    """A video whose every shot shows "EXIT" and says "welcome everyone" (short texts: the best BM25), then
    photos showing "EXIT" among other words (lower BM25)."""
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True)
    manifest = Manifest(model="synthetic", fingerprint="synthetic:1", dim=DIM, concept_names=["sign"])
    manifest.save(directory / SegmentStore.MANIFEST)
    store = SegmentStore(directory, manifest)

    def segment(**span: float) -> SegmentEncoding:
        vector = rng.standard_normal(DIM).astype(np.float32)
        return SegmentEncoding(descriptor=vector / np.linalg.norm(vector), concepts=np.ones(1, np.float32), **span)

    shots = tuple(
        segment(start_s=i * SHOT_S, end_s=(i + 1) * SHOT_S, keyframe_s=i * SHOT_S + 1.0) for i in range(SHOTS)
    )
    files = [FileToStore(str(media / "hall.mp4"), MediaKind.VIDEO, 1000, 1.0, "video", shots)]
    files += [
        FileToStore(str(media / f"p{i:02d}.jpg"), MediaKind.IMAGE, 10, 1.0, f"sha{i}", (segment(),))
        for i in range(PHOTOS)
    ]
    store.put_many(files)
    store.flush()
    catalog = store.catalog
    words: list[Words] = []
    for media_id, path in catalog.media_under("/"):
        for segment_id, start, end, _ in visible_text.segment_spans(catalog, media_id):
            if path.endswith(".mp4"):
                words.append(Words(segment_id, TextField.SHOWS, (("EXIT", start, end, 0.9, ""),)))
                said = (("welcome", start, start + 0.5, 0.9, ""), ("everyone", start + 0.5, end, 0.9, ""))
                words.append(Words(segment_id, TextField.SAID, said))
            else:
                line = "EXIT through the garden door on the left side"
                words.append(Words(segment_id, TextField.SHOWS, ((line, 0.0, 0.0, 0.9, ""),)))
    with catalog.transaction():
        visible_text.write_words(catalog.connection, words)
    store.close()
    return Collection.open(directory)


@pytest.fixture()
def hall(tmp_path: Path):
    collection = _build(tmp_path / "coll", tmp_path / "media")
    yield collection
    collection.close()


def test_shows_returns_k_distinct_files_when_a_video_holds_the_word_in_every_shot(hall: Collection) -> None:
    result = hall.search(FieldQuery("exit", (TextField.SHOWS,)), k=10)
    assert len({hit.media.id for hit in result}) == 10  # before: one file, the video (its shots filled the window)
    assert result[0].media.kind is MediaKind.VIDEO and result.kind is Kind.FIELD
    assert all(0.0 < hit.score <= SCALES[Kind.FIELD].high + 1e-6 for hit in result)
    assert [h.score for h in result] == sorted((h.score for h in result), reverse=True)
    assert all(hit.why and hit.why[0].startswith("text in image: ") for hit in result)
    wrapped = hall.search_fields("exit", [TextField.SHOWS], k=10)  # the API wrapper gives the same hits
    assert [h.media.id for h in wrapped] == [h.media.id for h in result]
    assert len(hall.search(FieldQuery("exit"), k=100)) == PHOTOS + 1  # fewer only when fewer files match


def test_per_shot_gives_k_shots_and_said_keeps_its_time(hall: Collection) -> None:
    shots = hall.search(FieldQuery("welcome everyone", (TextField.SAID,)), k=7, per=Per.SHOT)
    assert len({hit.segment.id for hit in shots}) == 7
    assert all(hit.media.kind is MediaKind.VIDEO for hit in shots)
    assert shots[0].why[0].startswith(f"said at {shots[0].segment.start_s:.1f} s: 'welcome everyone")
    files = hall.search(FieldQuery("welcome everyone", (TextField.SAID,)), k=7)
    assert len(files) == 1  # only the video says it: one file, never a photo
    assert len(hall.search_fields("exit", [TextField.SHOWS], k=300, per_shot=True)) == SHOTS + PHOTOS


def test_a_query_without_a_word_is_refused() -> None:
    with pytest.raises(QueryError):
        FieldQuery('" * "', (TextField.SHOWS,))


def test_the_cli_lists_the_field_scale_and_searches_per_shot(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mmir.cli import commands  # noqa: F401 - registers the commands
    from mmir.cli.groups import app

    _build(tmp_path / "coll", tmp_path / "media").close()
    runner = CliRunner()
    coll = str(tmp_path / "coll")
    out = runner.invoke(app, ["search", "--shows", "exit", "-k", "5", "--json", "--collection", coll])
    assert out.exit_code == 0, out.output
    assert len({hit["path"] for hit in json.loads(out.stdout)}) == 5  # before: the video alone
    shots = runner.invoke(app, ["search", "--said", "welcome", "--per", "shot", "-k", "3", "--json", "-c", coll])
    assert shots.exit_code == 0, shots.output
    hits = json.loads(shots.stdout)
    assert len(hits) == 3 and all(Path(h["path"]).name == "hall.mp4" and "said at" in h["why"][0] for h in hits)
    assert "field: 0 to 1" in runner.invoke(app, ["search", "--help"]).output.replace("\n", " ")
