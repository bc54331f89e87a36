"""Keyword search streamed over concept blocks answers as the full-matrix scoring did, in bounded memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from mmir.concepts.mapping import ConceptWeight, MatchSource, QueryMapping, QueryMode, TermMapping
from mmir.index.catalog import Catalog, SegmentEncoding
from mmir.index.concept_columns import CatalogConcepts, ConceptColumns, FileBlock
from mmir.index.manifest import Manifest
from mmir.index.metadata_text import sync_metadata
from mmir.index.store import SegmentStore
from mmir.media.metadata import MetadataText, TextField
from mmir.search.aggregate import best_per_media
from mmir.search.concept_scoring import combine_terms, explain, term_scores
from mmir.search.engine import SearchEngine
from mmir.search.grouping import group
from mmir.search.keyword_stream import KeywordSource
from mmir.search.text_fusion import fuse, metadata_matrix, metadata_why
from mmir.types import Hit, MediaKind

C, DIM = 40, 8


def _probs(rng: np.random.Generator, n: int) -> np.ndarray:
    """``float32[n, C]`` softmax rows peaked on a few concepts, like a classifier's output."""
    logits = rng.standard_normal((n, C)) * 3
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _store(directory: Path, files: int, seed: int = 0) -> SegmentStore:
    """A collection of ``files`` files (every fifth with 2 segments) with random concepts; names carry words."""
    directory.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(model="synthetic", fingerprint="synthetic:1", dim=DIM)
    manifest.save(directory / SegmentStore.MANIFEST)
    store = SegmentStore(directory, manifest)
    _add(store.catalog, range(files), seed)
    return store


def _add(catalog: Catalog, numbers: range, seed: int) -> None:
    rng = np.random.default_rng(seed)
    words = ["beach", "snow", "party", "garden"]
    with catalog.transaction():
        for i in numbers:
            count = 2 if i % 5 == 0 else 1
            probs = _probs(rng, count)
            segments = [
                SegmentEncoding(descriptor=rng.standard_normal(DIM).astype(np.float32), concepts=p) for p in probs
            ]
            name = f"/data/{words[i % 4]}_{i}.jpg" if i % 3 else f"/data/img_{i}.jpg"
            catalog.put_media(name, MediaKind.IMAGE, 1, 0.0, f"sha{i}", segments)
    sync_metadata(catalog, lambda path: MetadataText({TextField.NAME: Path(path).stem.replace("_", " ")}))


def _term(word: str, *concepts: tuple[int, float], importance: float = 1.0) -> TermMapping:
    source = MatchSource.LEMMA if concepts else None
    weights = tuple(ConceptWeight(index, f"c{index}", weight) for index, weight in concepts)
    return TermMapping(word, source, weights, importance=importance)


QUERIES = [
    QueryMapping("dog", QueryMode.AND, (_term("dog", (3, 1.0), (7, 0.6)),)),
    QueryMapping("dog beach", QueryMode.AND, (_term("dog", (3, 1.0)), _term("beach", (11, 0.8), importance=0.5))),
    QueryMapping("dog or cat", QueryMode.OR, (_term("dog", (3, 1.0)), _term("cat", (5, 0.9), (3, 0.2)))),
    QueryMapping("snow party", QueryMode.AND, (_term("snow"), _term("party", (20, 0.7)))),  # metadata-only term
    QueryMapping("garden", QueryMode.AND, (_term("garden"),)),
]


@pytest.fixture(autouse=True)
def _plain_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    """The oracle below is the formula without the metadata specificity factor (tested on its own)."""
    from mmir.search import text_fusion

    monkeypatch.setattr(text_fusion, "META_SPECIFICITY", "")


def _streamed(view, mapping: QueryMapping, catalog: Catalog, k: int) -> list[Hit]:
    """Keyword search as the pipeline runs it: the block-streamed source, grouped to ``k`` files (uncalibrated)."""
    source = KeywordSource(mapping, view.blocks, view.width(), view.columns, view.rows, catalog, calibrated=False)
    found = group(source, catalog, k)
    why = source.explain([g.segment.id for g in found], [g.score for g in found])
    return [Hit(g.media, g.segment, g.score, why[g.segment.id]) for g in found]


# The oracles: the old whole-matrix path (every segment's concepts read at once), kept here to check the stream.
def _concept_matrix(engine: SearchEngine) -> tuple[np.ndarray, np.ndarray]:
    """``(segment ids int64[N], float32[N, C + U])``: model concepts, then user concepts, of every segment."""
    ids, probs = engine.store.catalog.all_concepts()
    if engine._extra_concepts is not None and len(ids):
        desc_ids, descriptors = engine.store.catalog.all_descriptors()
        probs = np.hstack([probs, engine._extra_concepts(desc_ids, descriptors)])
    return ids, probs


def score_concepts(mapping: QueryMapping, probs: np.ndarray) -> np.ndarray:
    """Concept-only scores ``float32[N]`` of a mapped query over a full matrix."""
    per_term = term_scores(mapping, probs)
    if per_term.shape[1] == 0:
        return np.zeros(per_term.shape[0], dtype=np.float32)
    importance = np.array([t.importance for t in mapping.matched_terms], dtype=np.float64)
    return combine_terms(per_term, importance, mapping.mode)


def search_text(mapping: QueryMapping, ids: np.ndarray, probs: np.ndarray, catalog: Catalog, k: int) -> list[Hit]:
    """The ``k`` best files over the full matrix: concepts fused with metadata text, top ``2k`` segments grouped."""
    from mmir.errors import QueryError
    from mmir.index.metadata_text import term_matches

    matches = term_matches(catalog, [term.term for term in mapping.terms], per_segment=True) if len(ids) else []
    fused = fuse(mapping, probs, metadata_matrix(ids, matches) if matches else None)
    if not fused.used and not any(term.matched for term in mapping.terms):
        raise QueryError(f"no concept or file text matches {mapping.text!r}; try other words (see `mmir concepts`)")
    if not len(ids):
        return []
    depth = min(k * 2, len(ids))
    top = np.lexsort((np.arange(len(ids)), -fused.scores))[:depth]
    rows = catalog.hits_rows(ids[top].tolist())
    hits = [
        Hit(*rows[int(ids[i])], score=float(fused.scores[i]),
            why=metadata_why(mapping, fused.metadata[i]) + explain(mapping, probs[i]))
        for i in top
        if fused.scores[i] > 0 and int(ids[i]) in rows
    ]  # fmt: skip
    return best_per_media(hits, k)


def _same(new: list, old: list) -> None:
    assert [h.segment.id for h in new] == [h.segment.id for h in old]
    assert [h.why for h in new] == [h.why for h in old]
    np.testing.assert_allclose([h.score for h in new], [h.score for h in old], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("block_rows", [7, 1000])
def test_streamed_keyword_search_matches_the_full_matrix(tmp_path: Path, block_rows: int) -> None:
    store = _store(tmp_path / "c", 60)
    engine = SearchEngine(store, lambda: pytest.fail("no vocabulary needed"), lambda: pytest.fail("no encoder"))
    engine.block_rows = block_rows
    ids, probs = _concept_matrix(engine)  # the old path: every row at once
    for mapping in QUERIES:
        for k in (1, 5, 50):
            view = engine.concepts()

            new = _streamed(view, mapping, store.catalog, k)
            _same(new, search_text(mapping, ids, probs, store.catalog, k))
    assert isinstance(engine.concepts().source, ConceptColumns)
    assert store.sizes()["concepts"] >= 72 * C * 4  # the column files count in the collection's size on disk
    assert len(list(engine.concepts().blocks())) == -(-72 // block_rows)  # 60 files, 12 with two segments


def test_user_concepts_after_the_model_columns_match_the_full_matrix(tmp_path: Path) -> None:
    store = _store(tmp_path / "c", 30)
    projection = np.random.default_rng(3).standard_normal((DIM, 2)).astype(np.float32)

    def extra(_ids: np.ndarray, descriptors: np.ndarray) -> np.ndarray:
        return (1 / (1 + np.exp(-descriptors @ projection))).astype(np.float32)

    engine = SearchEngine(store, lambda: pytest.fail("unused"), lambda: pytest.fail("unused"), extra_concepts=extra)
    engine.block_rows = 8
    ids, probs = _concept_matrix(engine)
    mapping = QueryMapping("mine", QueryMode.AND, (_term("mine", (C + 1, 1.0)), _term("dog", (3, 0.5))))

    view = engine.concepts()
    assert view.width() == C + 2
    new = _streamed(view, mapping, store.catalog, 10)
    _same(new, search_text(mapping, ids, probs, store.catalog, 10))


def test_temporal_segment_scores_match_score_concepts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmir.search.queries import TextQuery

    store = _store(tmp_path / "c", 25)
    engine = SearchEngine(store, lambda: pytest.fail("unused"), lambda: pytest.fail("unused"))
    engine.block_rows = 6
    mapping = QUERIES[2]
    monkeypatch.setattr(engine, "map_query", lambda _query: mapping)
    ids, probs = _concept_matrix(engine)
    got_ids, got = engine.segment_scores(TextQuery("dog or cat"))
    np.testing.assert_array_equal(got_ids, ids)
    np.testing.assert_allclose(got, score_concepts(mapping, probs), rtol=1e-5, atol=1e-7)


def test_column_files_follow_additions_and_removals(tmp_path: Path) -> None:
    store = _store(tmp_path / "c", 10)
    columns = ConceptColumns(tmp_path / "cols", block_rows=5)

    def check() -> None:
        columns.sync(store.catalog)
        want_ids, want = store.catalog.all_concepts()
        blocks = list(columns.blocks())
        assert all(len(b.ids) <= 5 for b in blocks)
        if not blocks:
            assert not len(want_ids)
            return
        np.testing.assert_array_equal(np.concatenate([b.ids for b in blocks]), want_ids)
        got = np.concatenate([b.columns(np.arange(C)) for b in blocks])
        np.testing.assert_array_equal(got, want)

    check()  # 12 segments: blocks of 5, 5, 2
    _add(store.catalog, range(10, 13), seed=1)  # appended: the partial block is topped up
    check()
    with store.catalog.transaction():
        store.catalog.remove_media(2)
    check()  # a removal rebuilds
    with store.catalog.transaction():
        for media_id in range(1, 14):
            store.catalog.remove_media(media_id)
    check()  # fewer blocks than before: no stale block is listed
    assert not list(columns.blocks())


def test_column_files_are_rewritten_only_when_rows_change(tmp_path: Path) -> None:
    store = _store(tmp_path / "c", 10)  # 12 segments
    columns = ConceptColumns(tmp_path / "cols", block_rows=5)
    columns.sync(store.catalog)
    first = (tmp_path / "cols" / "block-00000.f32").stat().st_ino
    with store.catalog.transaction():  # a new generation, no row added or removed (e.g. a file only touched)
        pass
    columns.sync(store.catalog)
    assert (tmp_path / "cols" / "block-00000.f32").stat().st_ino == first  # no block rewritten
    from mmir.index import ledger  # the columns' state is the ledger's record (issue 23)

    recorded = ledger.producer(store.catalog, ledger.CONCEPT_COLUMNS)
    assert recorded is not None and recorded.setting == ledger.generation_setting(store.catalog.generation)
    with store.catalog.transaction():  # one segment replaced: same count, fewer ids up to the last one
        store.catalog.remove_media(2)
    _add(store.catalog, range(21, 22), seed=2)  # one segment: the count is 12 again
    columns.sync(store.catalog)
    assert (tmp_path / "cols" / "block-00000.f32").stat().st_ino != first  # rebuilt from the start
    want_ids, want = store.catalog.all_concepts()
    np.testing.assert_array_equal(np.concatenate([b.ids for b in columns.blocks()]), want_ids)
    np.testing.assert_array_equal(np.concatenate([b.columns(np.arange(C)) for b in columns.blocks()]), want)


def test_a_collection_whose_directory_cannot_be_written_streams_from_the_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path / "c", 20)
    monkeypatch.setattr(ConceptColumns, "sync", lambda self, catalog: (_ for _ in ()).throw(PermissionError("ro")))
    engine = SearchEngine(store, lambda: pytest.fail("unused"), lambda: pytest.fail("unused"))
    engine.block_rows = 4
    assert isinstance(engine.concepts().source, CatalogConcepts)
    ids, probs = _concept_matrix(engine)
    view = engine.concepts()

    new = _streamed(view, QUERIES[1], store.catalog, 5)
    _same(new, search_text(QUERIES[1], ids, probs, store.catalog, 5))


def test_keyword_search_never_reads_more_than_a_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(tmp_path / "c", 50)
    for name in ("all_concepts", "all_descriptors", "all_media_descriptors"):
        monkeypatch.setattr(Catalog, name, lambda self, name=name: pytest.fail(f"{name} read every row"))
    seen: list[tuple[int, ...]] = []
    original_columns, original_iter = FileBlock.columns, Catalog.iter_concepts

    def columns(self: FileBlock, concepts: np.ndarray) -> np.ndarray:
        out = original_columns(self, concepts)
        seen.append(out.shape)
        return out

    def iter_concepts(self: Catalog, batch: int, after: int = -1):
        for ids, rows in original_iter(self, batch, after):
            seen.append(rows.shape)
            yield ids, rows

    monkeypatch.setattr(FileBlock, "columns", columns)
    monkeypatch.setattr(Catalog, "iter_concepts", iter_concepts)
    engine = SearchEngine(store, lambda: pytest.fail("unused"), lambda: pytest.fail("unused"))
    engine.block_rows = 9

    view = engine.concepts()
    hits = _streamed(view, QUERIES[0], store.catalog, 5)
    assert len(hits) == 5
    assert seen and max(shape[0] for shape in seen) <= 9
    assert (9, 2) in seen  # the query's two concept columns, one block at a time


def test_streamed_scoring_peak_memory_stays_below_one_full_matrix(tmp_path: Path) -> None:
    """3,000 segments × 1,000 concepts: the full float32 matrix is 12 MB; a search must peak far below it."""
    directory = tmp_path / "c"
    directory.mkdir()
    Manifest(model="synthetic", fingerprint="synthetic:1", dim=4).save(directory / SegmentStore.MANIFEST)
    store = SegmentStore(directory, Manifest.load(directory / SegmentStore.MANIFEST))
    rng = np.random.default_rng(0)
    with store.catalog.transaction():
        for i in range(3000):
            probs = rng.dirichlet(np.full(1000, 0.05)).astype(np.float32)
            store.catalog.put_media(f"/d/{i}.jpg", MediaKind.IMAGE, 1, 0.0, f"s{i}", [
                SegmentEncoding(descriptor=np.ones(4, np.float32), concepts=probs)])  # fmt: skip
    engine = SearchEngine(store, lambda: pytest.fail("unused"), lambda: pytest.fail("unused"))
    engine.block_rows = 256
    mapping = QueryMapping("x", QueryMode.OR, (_term("x", *((c, 0.5) for c in range(0, 1000, 50))),))

    def peak(run) -> int:
        tracemalloc.start()
        try:
            run()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    def streamed() -> None:
        view = engine.concepts()
        _streamed(view, mapping, store.catalog, 10)

    def full() -> None:
        ids, probs = _concept_matrix(engine)
        search_text(mapping, ids, probs, store.catalog, 10)

    sync_peak = peak(engine.concepts)  # writes the column files, one block of 256 rows at a time
    query_peak, full_peak = peak(streamed), peak(full)
    assert full_peak > 12_000_000
    assert sync_peak < 4_500_000, (sync_peak, full_peak)
    assert query_peak < 1_000_000, (query_peak, full_peak)


def test_a_query_matching_nothing_is_refused_and_an_empty_collection_gives_no_hits(tmp_path: Path) -> None:
    from mmir.errors import QueryError
    from mmir.search.keyword_stream import concept_scores

    nothing = QueryMapping("zebra", QueryMode.AND, (_term("zebra"),))  # no concept, in no file name
    for files in (12, 0):
        store = _store(tmp_path / f"c{files}", files)
        view = SearchEngine(store, lambda: pytest.fail("no vocabulary"), lambda: pytest.fail("no encoder")).concepts()
        with pytest.raises(QueryError, match="no concept or file text matches 'zebra'"):
            _streamed(view, nothing, store.catalog, 5)
    # Empty (width 0) and a term matched: no hits (what text_fusion.search_text means by its `if not len(ids)`,
    # though its column check fires first), not "concept 'c3' (column 3) is not among 0".
    assert _streamed(view, QUERIES[0], store.catalog, 5) == []
    empty_ids, scores = concept_scores(QUERIES[0], view.blocks(), view.width(), view.columns)
    assert empty_ids.dtype == np.int64 and scores.dtype == np.float32 and len(empty_ids) == len(scores) == 0


def test_a_word_in_most_file_names_counts_less_than_a_rare_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmir.search import text_fusion

    store = _store(tmp_path / "c", 40)  # names: beach/snow/party/garden on 3 files in 4, img_N on the rest
    engine = SearchEngine(store, lambda: pytest.fail("unused"), lambda: pytest.fail("unused"))
    view = engine.concepts()
    mapping = QueryMapping("garden", QueryMode.AND, (_term("garden"),))
    plain = _streamed(view, mapping, store.catalog, 3)
    monkeypatch.setattr(text_fusion, "META_SPECIFICITY", "share")
    specific = _streamed(view, mapping, store.catalog, 3)
    assert [h.segment.id for h in specific] == [h.segment.id for h in plain]  # the same files, lower scores
    share = 7 / 48  # garden_N for N % 4 == 3 and N % 3 != 0: 6 files, 7 segments (35 has two); 48 in all
    floor = 1e-3  # the soft AND's floor (mmir.search.concept_scoring.FLOOR), added to a lone term's score
    np.testing.assert_allclose([h.score for h in specific], [text_fusion.META_WEIGHT * (1 - share) + floor] * 3,
                               rtol=1e-5)  # fmt: skip
    assert all(h.score < p.score for h, p in zip(specific, plain, strict=True))
