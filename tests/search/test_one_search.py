"""One search pipeline: every query kind fills k distinct files (or shots) even when a video's shots crowd the top,
shots are queries of their own, and scores stay on their stated scales.

The collection is synthetic and tiny (no model runs): one video of 40 shots and 30 photos, 16-d descriptors and
a handful of one-word concepts, stored through the real store and catalog.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmir.api import Collection
from mmir.index.catalog import SegmentEncoding
from mmir.index.channels import CatalogChannelSink
from mmir.index.frames import SegmentExtras
from mmir.index.manifest import Manifest
from mmir.index.metadata_text import sync_metadata
from mmir.index.store import FileToStore, SegmentStore
from mmir.media.metadata import MetadataText, TextField, name_words
from mmir.models.encoder import Encoded
from mmir.models.engineered import extractors
from mmir.search.queries import (
    ChannelQuery,
    ExampleQuery,
    FeedbackMethod,
    FeedbackQuery,
    Fusion,
    ItemQuery,
    Per,
    TemporalQuery,
    TextQuery,
    parse_item,
)  # fmt: skip
from mmir.search.scales import SCALES, Kind
from mmir.types import MediaKind

DIM = 16
CONCEPTS = ["zebra", "bear", "train", "dog", "beach", "pizza"]
SHOTS, PHOTOS, SHOT_S = 40, 30, 2.0
RNG_SEED = 0


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _probs(main: int, p: float) -> np.ndarray:
    """Concept probabilities summing to 1 with ``p`` on concept ``main``."""
    rest = (1.0 - p) / (len(CONCEPTS) - 1)
    out = np.full(len(CONCEPTS), rest, np.float32)
    out[main] = p
    return out


class FakeEncoder:
    """Encodes every image as the video's first-half direction (so an example query is "like the video")."""

    input_side = 32
    fingerprint = "synthetic:1"
    dim = DIM

    def __init__(self, vector: np.ndarray) -> None:
        self.vector = vector

    def encode(self, images: list) -> Encoded:
        n = len(images)
        return Encoded(np.tile(self.vector, (n, 1)), np.zeros((n, len(CONCEPTS)), np.float32))


def _build(directory: Path, media: Path) -> tuple[Collection, dict[str, np.ndarray]]:
    """One video of 40 shots (first half near direction A, second half near B) and 30 photos around A and B."""
    rng = np.random.default_rng(RNG_SEED)
    a, b = _unit(rng.standard_normal(DIM)), _unit(rng.standard_normal(DIM))
    directory.mkdir(parents=True)
    manifest = Manifest(model="synthetic", fingerprint="synthetic:1", dim=DIM, concept_names=list(CONCEPTS))
    manifest.save(directory / SegmentStore.MANIFEST)
    store = SegmentStore(directory, manifest)
    shots = []
    for i in range(SHOTS):
        centre = a if i < SHOTS // 2 else b
        thumbnail = _jpeg((200 + i, 120, 20) if i < SHOTS // 2 else (20, 60, 200 + i))  # orange, then blue shots
        shots.append(SegmentEncoding(
            descriptor=_unit(centre + 0.05 * rng.standard_normal(DIM)),
            concepts=_probs(0 if i < SHOTS // 2 else 1, 0.9), start_s=i * SHOT_S, end_s=(i + 1) * SHOT_S,
            keyframe_s=i * SHOT_S + 1.0,
            extras=SegmentExtras(np.zeros(0), np.zeros((0, DIM), np.float32), thumbnail=thumbnail),
        ))  # fmt: skip
    files = [FileToStore(str(media / "safari.mp4"), MediaKind.VIDEO, 1000, 1.0, "video", tuple(shots))]
    for i in range(PHOTOS):
        centre = a if i % 2 == 0 else b
        folder = media / ("set_a" if i % 2 == 0 else "set_b")
        segment = SegmentEncoding(
            descriptor=_unit(centre + 0.4 * rng.standard_normal(DIM)), concepts=_probs(i % 2, 0.3 + 0.01 * i)
        )
        files.append(FileToStore(str(folder / f"p{i:02d}.jpg"), MediaKind.IMAGE, 10, 1.0, f"sha{i}", (segment,)))
    store.put_many(files)
    store.flush()
    sink = CatalogChannelSink(store.catalog)
    (colour,) = extractors(["colour"], None)
    for media_id, path in store.catalog.media_under("/"):
        if path.endswith(".jpg"):  # videos have no engineered channels: fused search ranks their shots by cnn
            pixels = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
            sink.store(media_id, {"colour": colour.extract(Image.fromarray(pixels))})
    sync_metadata(store.catalog, lambda path: MetadataText({TextField.NAME: name_words(path)}))
    store.close()
    collection = Collection.open(directory)
    collection._encoder = FakeEncoder(a)  # type: ignore[assignment]
    return collection, {"a": a, "b": b}


@pytest.fixture()
def safari(tmp_path: Path):
    collection, _ = _build(tmp_path / "coll", tmp_path / "media")
    yield collection, tmp_path / "media"
    collection.close()


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    """A small JPEG keyframe thumbnail: one colour with a little noise."""
    pixels = np.clip(np.asarray(colour) + np.random.default_rng(sum(colour)).normal(0, 8, (24, 32, 3)), 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), (120, 60, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def _distinct_files(hits) -> int:
    return len({hit.media.id for hit in hits})


def test_every_query_kind_returns_k_distinct_files_when_a_video_crowds_the_top(safari) -> None:
    collection, media = safari
    photo = str(media / "set_a" / "p00.jpg")
    queries = {
        "keyword": TextQuery("zebra"),
        "example": ExampleQuery(_png(), "query.png"),
        "similar": ItemQuery(str(media / "safari.mp4"), at_s=3.0),
        "feedback": FeedbackQuery((ItemQuery(str(media / "safari.mp4"), at_s=3.0), ItemQuery(photo))),
        "rocchio": FeedbackQuery((ItemQuery(photo),), method=FeedbackMethod.ROCCHIO),
        "channel": ChannelQuery(ItemQuery(photo), "colour"),
        "fused": ChannelQuery(ExampleQuery(_png(), "query.png"), "fused", {"cnn": 1.0, "colour": 0.5}),
        "fused early": ChannelQuery(ItemQuery(photo), "fused", fusion=Fusion.EARLY),
    }
    for name, query in queries.items():
        result = collection.search(query, k=10)
        assert len(result) == 10 and _distinct_files(result) == 10, name
        scale = result.scale
        assert all(scale.low - 1e-6 <= hit.score <= scale.high + 1e-6 for hit in result), (name, scale)
        scores = [hit.score for hit in result]
        assert scores == sorted(scores, reverse=True), name


def test_the_video_is_among_the_files_and_per_shot_returns_shots(safari) -> None:
    collection, _ = safari
    files = collection.search(TextQuery("zebra"), k=10)
    assert files[0].media.kind is MediaKind.VIDEO  # its shots score 0.9: the video is the best file
    shots = collection.search(TextQuery("zebra"), k=10, per=Per.SHOT)
    assert len({hit.segment.id for hit in shots}) == 10
    assert all(hit.media.kind is MediaKind.VIDEO for hit in shots)  # the 20 zebra shots beat every photo
    example = collection.search(ExampleQuery(_png(), "q.png"), k=10, per="shot")
    assert len({hit.segment.id for hit in example}) == 10


def test_fewer_than_k_only_when_the_collection_has_fewer(safari) -> None:
    collection, _ = safari
    assert len(collection.search(TextQuery("zebra"), k=100)) == PHOTOS + 1
    assert len(collection.search(TextQuery("zebra"), k=100, per="shot")) == PHOTOS + SHOTS


def test_similar_to_two_shots_of_one_video_differ(safari) -> None:
    collection, media = safari
    zebra_shot = collection.similar(parse_item(f"{media / 'safari.mp4'}@8.0"), k=10)
    bear_shot = collection.similar(parse_item(f"{media / 'safari.mp4'}@70.0"), k=10)
    assert [h.media.id for h in zebra_shot] != [h.media.id for h in bear_shot]
    assert all("set_a" in h.media.path for h in zebra_shot[:5])
    assert all("set_b" in h.media.path for h in bear_shot[:5])
    assert all(h.media.kind is MediaKind.IMAGE for h in zebra_shot)  # the query's own video is left out
    assert "@ 8.0-10.0 s" in zebra_shot[0].why[0]
    per_shot = collection.similar(ItemQuery(str(media / "safari.mp4"), at_s=8.0), k=5, per="shot")
    assert all(h.media.kind is MediaKind.VIDEO and h.segment.start_s != 8.0 for h in per_shot)  # its neighbours


def test_feedback_on_a_shot_differs_from_feedback_on_the_video(safari) -> None:
    collection, media = safari
    video = str(media / "safari.mp4")
    shot = collection.search(FeedbackQuery((ItemQuery(video, at_s=75.0),)), k=5)
    whole = collection.search(FeedbackQuery((ItemQuery(video),)), k=5)
    assert [h.media.id for h in shot] != [h.media.id for h in whole]


def test_a_folder_name_alone_does_not_outrank_a_photo_classified_as_the_word(tmp_path: Path) -> None:
    directory, media = tmp_path / "coll", tmp_path / "media"
    directory.mkdir()
    manifest = Manifest(model="synthetic", fingerprint="synthetic:1", dim=DIM, concept_names=list(CONCEPTS))
    manifest.save(directory / SegmentStore.MANIFEST)
    store = SegmentStore(directory, manifest)
    rng = np.random.default_rng(1)

    def photo(path: Path, probs: np.ndarray, n: int) -> FileToStore:
        segment = SegmentEncoding(descriptor=_unit(rng.standard_normal(DIM)), concepts=probs)
        return FileToStore(str(path), MediaKind.IMAGE, 10, 1.0, f"sha{n}", (segment,))

    files = [photo(media / "train2017" / f"{n:012d}.jpg", _probs(5, 0.9), n) for n in range(20)]  # pizzas
    files.append(photo(media / "misc" / "IMG_0001.jpg", _probs(2, 0.8), 99))  # classified as a train
    store.put_many(files)
    store.flush()
    sync_metadata(store.catalog, lambda path: MetadataText({TextField.NAME: name_words(path)}))
    store.close()
    with Collection.open(directory) as collection:
        hits = collection.search(TextQuery("train"), k=5)
    assert hits[0].media.path.endswith("IMG_0001.jpg"), [(h.media.path, h.score) for h in hits]
    assert any("text: 'train'" in reason for hit in hits[1:] for reason in hit.why)  # the folder still counts


def test_temporal_query_stays_in_range_and_carries_pairs(safari) -> None:
    collection, media = safari
    result = collection.search(TemporalQuery(TextQuery("zebra"), TextQuery("bear"), within_s=5.0), k=5)
    assert result.kind is Kind.TEMPORAL and len(result) == 1 and len(result.pairs) == 1
    pair = result.pairs[0]
    assert pair.first.start_s < pair.second.start_s and 0.0 <= pair.score <= 1.0
    assert result[0].segment == pair.first
    video = str(media / "safari.mp4")  # a shot as the first sub-query: "like this shot, then a bear"
    shot_then = collection.search(TemporalQuery(ItemQuery(video, at_s=3.0), TextQuery("bear"), within_s=5.0), k=5)
    assert len(shot_then) == 1 and shot_then.pairs[0].second.start_s == SHOTS // 2 * SHOT_S


def test_scales_are_stated_for_every_kind() -> None:
    assert set(SCALES) == set(Kind)
    assert all(scale.low < scale.high and scale.meaning for scale in SCALES.values())


def test_engineered_channels_cover_video_shots(safari) -> None:
    collection, media = safari
    video = str(media / "safari.mp4")
    shots = collection.search(ChannelQuery(ItemQuery(video, at_s=3.0), "colour"), k=10, per="shot")
    assert len(shots) == 10 and all(h.media.kind is MediaKind.VIDEO for h in shots)  # the other orange keyframes
    assert all(h.segment.start_s < SHOTS // 2 * SHOT_S for h in shots[:5]) and 3.0 not in [h.segment.start_s for h in
                                                                                        shots]  # fmt: skip
    files = collection.search(ChannelQuery(ExampleQuery(_jpeg((210, 120, 20)), "orange.jpg"), "colour"), k=10)
    assert files[0].media.kind is MediaKind.VIDEO and _distinct_files(files) == 10
    assert "colour cosine" in files[0].why[0]
    fused = collection.search(ChannelQuery(ItemQuery(video, at_s=3.0), "fused", {"cnn": 1.0, "colour": 1.0}), k=5,
                              per="shot")  # fmt: skip
    assert all(h.media.kind is MediaKind.VIDEO for h in fused) and "colour" in fused[0].why[0]
    assert (collection.directory / "channel-indexes" / "shots-colour.npz").exists()  # extracted once, then kept


def test_cli_similar_takes_a_shot_and_search_groups_per_shot(safari) -> None:
    import json

    from typer.testing import CliRunner

    from mmir.cli import commands  # noqa: F401  (registers the commands)
    from mmir.cli.groups import app

    collection, media = safari
    directory = str(collection.directory)
    collection.close()  # the CLI opens it itself
    runner = CliRunner()
    zebra = runner.invoke(app, ["similar", f"{media / 'safari.mp4'}@8.0", "-c", directory, "-k", "5", "--json"])
    bear = runner.invoke(app, ["similar", f"{media / 'safari.mp4'}@70.0", "-c", directory, "-k", "5", "--json"])
    assert zebra.exit_code == 0 and bear.exit_code == 0, zebra.output
    assert [h["path"] for h in json.loads(zebra.stdout)] != [h["path"] for h in json.loads(bear.stdout)]
    shots = runner.invoke(app, ["search", "zebra", "-c", directory, "-k", "10", "--per", "shot", "--json"])
    hits = json.loads(shots.stdout)
    assert len({h["segment_id"] for h in hits}) == 10 and all(h["kind"] == "video" for h in hits)


def test_server_routes_take_shots_group_per_unit_and_flag_weak_results(safari) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mmir.server import ServerSettings, create_app

    collection, _ = safari
    directory = collection.directory
    collection.close()
    client = TestClient(create_app(ServerSettings(collection=directory, allowed_hosts=("testserver",))))
    hits = client.get("/api/search", params={"q": "zebra", "k": 10}).json()
    assert len({h["media_id"] for h in hits}) == 10 and all(h["weak"] is False for h in hits)
    shots = client.get("/api/search", params={"q": "zebra", "k": 10, "per": "shot"}).json()
    assert len({h["segment_id"] for h in shots}) == 10 and all(h["kind"] == "video" for h in shots)
    video = next(h for h in shots)
    by_shot = {}
    for at in (3, SHOTS - 3):  # a zebra shot and a bear shot of the same video
        segment = video["segment_id"] - video["start"] / SHOT_S + at  # segment ids follow the shots' order
        by_shot[at] = client.get(f"/api/similar/{video['media_id']}", params={"segment": int(segment)}).json()
    assert [h["name"] for h in by_shot[3]] != [h["name"] for h in by_shot[SHOTS - 3]]
    marks = {"positive_shots": [int(video["segment_id"])], "method": "rocchio"}
    ranked = client.post("/api/feedback", json=marks, params={"k": 10}).json()
    assert len({h["media_id"] for h in ranked}) == 10 and all(-1 <= h["score"] <= 1 for h in ranked)
    assert client.post("/api/feedback", json={"negative_shots": [1]}).status_code == 422  # nothing relevant
