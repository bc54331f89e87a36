"""The public Python API: a :class:`Collection` that the CLI and the server call.

Example:
    >>> from mmir.api import Collection
    >>> with Collection.open(".mmir", create=True) as collection:   # doctest: +SKIP
    ...     collection.index(["~/Pictures"])
    ...     result = collection.search(TextQuery("dog on a beach"), k=5)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from mmir.collection.info import CollectionInfo, collection_info
from mmir.collection.opening import backend_for, check_options, manifest_projection, saved_encoder
from mmir.collection.shortcuts import SearchShortcuts
from mmir.concepts import ConceptVocabulary, QueryMapping, QueryMode
from mmir.errors import CollectionError
from mmir.executors import parse_executor
from mmir.index.manifest import Manifest
from mmir.index.store import SegmentStore
from mmir.index.visible_text import TextField
from mmir.indexing.pipeline import Indexer, IndexOptions, IndexProblem, IndexReport
from mmir.indexing.text import TextOptions
from mmir.indexing.types import ChannelSink
from mmir.search.cancel import Cancelled, CancelReason, acquire_lock, cancel_scope, checkpoint
from mmir.search.engine import SearchEngine
from mmir.search.filters import SearchFilter
from mmir.search.fusion import parse_weights
from mmir.search.pipeline import SearchResult
from mmir.search.queries import (
    ChannelQuery,
    ExampleQuery,
    FeedbackMethod,
    FeedbackQuery,
    FieldQuery,
    Fusion,
    ItemQuery,
    Per,
    Query,
    TemporalQuery,
    TextQuery,
    VectorQuery,
    parse_item,
)
from mmir.search.scales import TEXT_WEAK, TEXT_WEAK_CONFIDENCE, describe_scales
from mmir.search.spatial import SpatialConfig
from mmir.types import (
    DEFAULT_COLLECTION,
    DEFAULT_HOST,
    DEFAULT_K,
    DEFAULT_MODEL,
    DEFAULT_PORT,
    Hit,
    MediaKind,
    MediaRef,
    Segment,
)

if TYPE_CHECKING:
    from mmir.collection.learning import PcaFit
    from mmir.concepts.word_models import WordModel
    from mmir.index.channels import CatalogChannelSink
    from mmir.indexing.text import TextReport
    from mmir.indexing.video import DetectedShots
    from mmir.indexing.video_concepts import SequenceConcept
    from mmir.learn.concept_heads import ConceptHeads
    from mmir.learn.labels_csv import LabelledPath
    from mmir.learn.robust_heads import RobustConfig
    from mmir.learn.weak_labels import WeakExample, WeakTraining
    from mmir.models.encoder import Encoder

__all__ = [  # what the faces (CLI, server) and library users import from here; the rest of mmir is behind it
    "DEFAULT_COLLECTION",
    "DEFAULT_HOST",
    "DEFAULT_K",
    "DEFAULT_MODEL",
    "DEFAULT_PORT",
    "TEXT_WEAK",
    "TEXT_WEAK_CONFIDENCE",
    "CancelReason",
    "Cancelled",
    "ChannelQuery",
    "Collection",
    "CollectionInfo",
    "ExampleQuery",
    "FeedbackMethod",
    "FeedbackQuery",
    "FieldQuery",
    "Fusion",
    "Hit",
    "IndexOptions",
    "IndexProblem",
    "IndexReport",
    "ItemQuery",
    "MediaRef",
    "Per",
    "Query",
    "QueryMapping",
    "QueryMode",
    "SearchFilter",
    "SearchResult",
    "Segment",
    "SpatialConfig",
    "TemporalQuery",
    "TextField",
    "TextOptions",
    "TextQuery",
    "VectorQuery",
    "acquire_lock",
    "cancel_scope",
    "check_store",
    "checkpoint",
    "describe_scales",
    "detect_shots",
    "parse_executor",
    "parse_item",
    "parse_weights",
]  # fmt: skip


class Collection(SearchShortcuts):
    """An indexed collection on disk: catalog, vectors, manifest, and the model that built them.

    Use :meth:`open`; the encoder is built only when something needs it (indexing new files,
    query by example), so keyword search starts fast.
    """

    def __init__(self, directory: Path, store: SegmentStore, backend: str = "auto") -> None:
        self.directory = directory
        self.store = store
        self.backend = backend
        self._encoder: Encoder | None = None
        self._engine: SearchEngine | None = None
        self._word_model: WordModel | None = None  # None: the bundled MiniLM maps words to concepts

    @classmethod
    def open(
        cls, directory: str | os.PathLike[str] = DEFAULT_COLLECTION, *, create: bool = False,
        model: str | None = None, model_options: dict[str, str] | None = None, encoder: Encoder | None = None,
        backend: str = "auto",
    ) -> Collection:  # fmt: skip
        """Open (or with ``create=True`` create) the collection in ``directory``.

        Args:
            directory: The collection's folder.
            create: Create it when missing.
            model: Model name or directory for a new collection (default ``efficientnet-lite0``).
            model_options: Option strings for ``model`` (``pooling``, ``multiscale``, ``weights_path``).
            encoder: An encoder object to use instead of ``model`` (see :func:`mmir.models.load_encoder`); a new
                collection saves its spec in ``<directory>/encoder`` so that it reopens without the object.
            backend: ``auto``, ``torch``, ``onnx`` or ``onnx-int8`` for the encoder built on demand.

        Raises:
            CollectionError: if it does not exist (and ``create`` is false), or was built by another model.
        """
        directory = Path(directory).expanduser().absolute()
        from mmir.models.spec import with_absolute_paths

        model, model_options = with_absolute_paths(model, model_options)
        manifest_path = directory / SegmentStore.MANIFEST
        if manifest_path.exists():
            manifest = Manifest.load(manifest_path)
            if model is not None and model != manifest.model:
                raise CollectionError(
                    f"{directory} was built with model {manifest.model!r}, not {model!r}; "
                    "use another --collection to index with a different model"
                )
            check_options(directory, manifest, model_options or {})
            if encoder is not None and encoder.fingerprint != manifest.fingerprint:
                raise CollectionError(
                    f"{directory} was built by {manifest.fingerprint}, not by the given encoder ({encoder.fingerprint})"
                )
            store = SegmentStore(directory, manifest, manifest_projection(directory, manifest))
            collection = cls(directory, store, backend_for(store, backend))
            collection._encoder = encoder
            return collection
        if not create:
            raise CollectionError(f"no mmir collection at {directory} (run `mmir index FOLDER` first)")
        return cls._create(directory, model or DEFAULT_MODEL, model_options or {}, encoder, backend)

    @classmethod
    def _create(
        cls, directory: Path, model: str, options: dict[str, str], encoder: Encoder | None, backend: str
    ) -> Collection:
        from mmir.models import load_encoder

        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CollectionError(f"{directory}: cannot create the collection ({exc.strerror})") from exc
        if encoder is not None:
            model, options = saved_encoder(directory, encoder), {}
        else:
            encoder = load_encoder(model, backend=backend, **options)
        manifest = Manifest(
            model=model, model_options=dict(options), fingerprint=encoder.fingerprint, dim=encoder.dim,
            concept_names=encoder.concept_names,
        )  # fmt: skip
        manifest.save(directory / SegmentStore.MANIFEST)
        collection = cls(directory, SegmentStore(directory, manifest), backend)
        collection._encoder = encoder
        from mmir.index import encoder_record  # the precision is the collection's from the start (int8 or float)

        encoder_record.record_encoder(collection.store.catalog, encoder.fingerprint, backend, encoder.input_side)
        return collection

    def __enter__(self) -> Collection:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the collection's files."""
        self.store.close()

    def reopened(self) -> Collection:
        """Close this handle and open the collection afresh (to see another process's changes).

        The loaded encoder is kept: the manifest, and so the fingerprint, cannot change under an open collection.
        """
        self.close()
        fresh = Collection.open(self.directory, backend=self.backend)
        fresh._encoder = self._encoder
        return fresh

    @property
    def manifest(self) -> Manifest:
        """The collection's manifest."""
        return self.store.manifest

    @property
    def encoder(self) -> Encoder:
        """The collection's encoder, built on first use and checked against the manifest's fingerprint."""
        if self._encoder is None:
            from mmir.errors import ModelError
            from mmir.models import load_encoder

            manifest = self.manifest
            try:
                self._encoder = load_encoder(
                    manifest.model, backend=self.backend, fingerprint=manifest.fingerprint, **manifest.model_options
                )
            except ModelError as exc:
                if "now loads as" not in str(exc):
                    raise
                raise CollectionError(
                    f"{self.directory} was built by {manifest.fingerprint}, but {exc}; re-index into a new collection"
                ) from exc
        return self._encoder

    def index(
        self, roots: Sequence[str | os.PathLike[str]], options: IndexOptions | None = None,
        on_problem: Callable[[IndexProblem], None] | None = None, channel_sink: ChannelSink | None = None,
        executor: str | None = None, text: TextOptions | None = None,
        on_note: Callable[[IndexProblem], None] | None = None,
    ) -> IndexReport:  # fmt: skip
        """Index (or update) every image below ``roots``; see :class:`mmir.indexing.pipeline.Indexer`.

        ``text``: also run the visible-text (OCR) and speech producers (:mod:`mmir.indexing.text`) on the files
        that lack their output; ``on_note`` receives what they could not fully read (a damaged audio track:
        the visual index is kept).

        ``channel_sink`` stores the extra descriptor channels of ``options.channels`` (see :mod:`mmir.indexing.types`).
        ``executor``: ``None``/``local`` in this process, ``ray`` a local Ray cluster, ``ray://host:port`` a Ray
        cluster (see :mod:`mmir.executors.ray_executor`; the files must be readable by its workers).
        """
        from mmir.index import encoder_record

        encoder_record.check_encoder(self.store.catalog, str(self.directory), self.manifest.fingerprint, self.backend)
        self.store.lock_for_writing()
        indexer = Indexer(self.store, lambda: self.encoder, options or IndexOptions(), channel_sink=channel_sink)
        if executor not in (None, "local"):
            from mmir.executors.ray_executor import ray_indexer

            indexer = ray_indexer(executor, self.store, lambda: self.encoder, options or IndexOptions())
        report = indexer.run([os.path.abspath(os.fspath(root)) for root in roots], on_problem)
        flushed_at = self.store.catalog.generation  # the vectors were saved for this generation
        if self._encoder is not None:  # the encoder ran (or was given): record its setting and decode side
            encoder = self._encoder
            encoder_record.record_encoder(self.store.catalog, encoder.fingerprint, self.backend, encoder.input_side)
        from mmir.indexing.video_concepts import registered, update_scores

        if registered(self.directory):  # the new shots' sequence-concept scores, so that search needs no torch
            update_scores(self)
        self.sync_metadata_text()
        if text is not None:
            self.produce_text(text, on_note)
        # The steps above write ledger and text rows, not segments: the saved vectors still match, and a reader
        # must not take them for stale (it would re-derive the whole index on every open).
        self.store.vectors_still_match(flushed_at)
        return report

    def produce_text(self, text: TextOptions, on_note: Callable[[IndexProblem], None] | None = None) -> TextReport:
        """Run OCR / speech on the indexed files that lack them (back-fill); see :mod:`mmir.indexing.text`."""
        from mmir.indexing.text import produce_text

        ocr, speech = text.engines()
        return produce_text(self.store.catalog, ocr, speech, IndexOptions().limits, text.workers, on_note)

    def text_producers(self) -> TextOptions | None:
        """The text producers (OCR, speech) that have run on some file of this collection, as the options that
        run them on new files too (``None``: neither has). An indexing run that does not name them (the server's)
        keeps a collection indexed with ``--ocr`` / ``--speech`` complete."""
        from mmir.index import ledger

        ran = {c.producer for c in ledger.coverage(self.store.catalog) if c.files}
        ocr, speech = ledger.OCR in ran, ledger.SPEECH in ran
        return TextOptions(ocr=ocr, speech=speech) if ocr or speech else None

    def sync_metadata_text(self) -> None:
        """Store the searchable text of new or changed files (names, EXIF/XMP/IPTC, sidecars) in FTS5."""
        from mmir.index.metadata_text import sync_metadata

        sync_metadata(self.store.catalog)

    @property
    def engine(self) -> SearchEngine:
        """The search engine over this collection (model concepts, then learned heads and sequence concepts)."""
        if self._engine is None:
            from mmir.indexing.video_concepts import extra_concepts  # learned heads, then registered sequence models
            from mmir.models.joint import manifest_text_tower

            extra_names, extra = extra_concepts(self, self.user_concepts())
            names = self.manifest.concept_names + extra_names

            def vocabulary() -> ConceptVocabulary:
                return ConceptVocabulary(names, cache_dir=self.directory / "cache", word_model=self._word_model)

            tower = lambda: manifest_text_tower(self.manifest)  # noqa: E731  (None, torch-free, unless a joint model)
            self._engine = SearchEngine(
                self.store, vocabulary, lambda: self.encoder, extra, text_tower=tower,
                channel_extractors=lambda names: self.channel_extractors(names),
            )  # fmt: skip
        return self._engine

    def learn_pca(
        self, dim: int | None, whiten: bool = True, shrinkage: float = 0.0, training: Path | None = None
    ) -> PcaFit | None:
        """Learn PCA(-whitening) to ``dim`` and re-derive the vector index, with no CNN pass; what was fitted.

        See :func:`mmir.collection.learning.learn_pca` (``dim=None`` removes the projection and returns ``None``;
        ``training`` is another collection of the same model to learn it on). The fit's ``warning`` says when it
        was learned from fewer than 10x its dimension vectors.
        """
        from mmir.collection.learning import learn_pca

        return learn_pca(self, dim, whiten=whiten, shrinkage=shrinkage, training=training)

    def near_duplicates(
        self, threshold: float = 0.9, spatial: SpatialConfig | None = None, loose: float = 0.5
    ) -> list[list[MediaRef]]:
        """Groups of near-identical files; see :func:`mmir.collection.duplicates.near_duplicates`."""
        from mmir.collection.duplicates import near_duplicates

        return near_duplicates(self.store, threshold, spatial=spatial, loose=loose)

    def user_concepts(self) -> ConceptHeads | None:
        """The concepts learned for this collection with :meth:`learn_concepts`, if any."""
        from mmir.collection.learning import user_concepts

        return user_concepts(self)

    def learn_concepts(self, examples: Sequence[LabelledPath], negatives: int = 500, seed: int = 0) -> ConceptHeads:
        """Learn concepts from labelled files; see :func:`mmir.collection.learning.learn_concepts`."""
        from mmir.collection.learning import learn_concepts

        return learn_concepts(self, examples, negatives=negatives, seed=seed)

    def indexed_paths(self) -> list[str]:
        """Paths of every indexed file, sorted."""
        return sorted(path for _, path in self.store.catalog.media_under("/"))

    # Reads by id for the faces (the server serves files, shots and thumbnails by catalog id, never by a path).
    @property
    def generation(self) -> int:
        """A counter that every committed change bumps, this process's or another's: a new value means reopen."""
        return self.store.catalog.generation

    def media_count(self) -> int:
        """How many files the collection holds (a cheap count, unlike :meth:`info`)."""
        return self.store.catalog.counts()[0]

    def media(self, media_id: int) -> MediaRef | None:
        """The indexed file with id ``media_id`` (a hit's ``media.id``), or ``None``."""
        return self.store.catalog.media_ref(media_id)

    def segment(self, segment_id: int) -> tuple[MediaRef, Segment] | None:
        """The file and the segment (a whole image, or one video shot) with id ``segment_id``, or ``None``."""
        return self.store.catalog.hits_rows([segment_id]).get(segment_id)

    def keyframe_jpeg(self, segment_id: int) -> bytes | None:
        """The JPEG of a video shot's keyframe stored at indexing (no video decode needed), or ``None``."""
        from mmir.index import frames

        return frames.thumbnail(self.store.catalog, segment_id)

    def thumbnail_path(self, media_id: int, size: int, segment_id: int | None = None) -> Path | None:
        """The picture kept at indexing of a file (or of one video shot's keyframe) at ``size`` (256 or 1280).

        For the 1280 px preview of a photo that is its own preview (a web format no larger), the original's path.
        ``None`` when none is kept yet (indexed with ``thumbnails=False`` or before pictures existed, not
        back-filled yet), or for an unknown file, shot or size: the caller makes one on demand.
        """
        from mmir.indexing.thumbnails import FOLDER, ThumbnailFiles, ThumbSize

        ref = self.media(media_id)
        if ref is None or size not in tuple(ThumbSize):
            return None
        keyframe_s = None
        if segment_id is not None:
            found = self.segment(segment_id)
            if found is None or found[0].id != media_id:
                return None
            keyframe_s = found[1].keyframe_s if ref.kind is MediaKind.VIDEO else None
        files = ThumbnailFiles(self.directory / FOLDER)
        path = files.path(ref.sha1, ThumbSize(size), keyframe_s)
        if path.is_file():
            return path
        own = size == ThumbSize.PREVIEW and ref.kind is MediaKind.IMAGE
        return Path(ref.path) if own and files.path(ref.sha1, ThumbSize.CARD).is_file() else None

    @property
    def vocabulary(self) -> ConceptVocabulary:
        """The concepts that text queries map to (the model's, then learned and sequence concepts)."""
        return self.engine.vocabulary

    def learn_weak_concepts(
        self, examples: Sequence[WeakExample], config: RobustConfig | None = None, min_examples: int = 5
    ) -> WeakTraining:
        """Learn concepts from weak labels; see :func:`mmir.collection.learning.learn_weak_concepts`."""
        from mmir.collection.learning import learn_weak_concepts

        return learn_weak_concepts(self, examples, config=config, min_examples=min_examples)

    def invalidate_search(self) -> None:
        """Drop the cached search engine (after the concepts or the vectors changed)."""
        self._engine = None

    def search(
        self, query: Query, k: int = DEFAULT_K, per: Per | str = Per.FILE, spatial: SpatialConfig | None = None,
        filter: SearchFilter | None = None,
    ) -> SearchResult:  # fmt: skip
        """The one search entry: the ``k`` best files (``per="file"``) or shots (``per="shot"``) for ``query``.

        ``query`` is a :class:`~mmir.search.queries.TextQuery`, ``ExampleQuery`` (image bytes), ``VectorQuery``
        (a descriptor encoded by the caller), ``ItemQuery`` (an indexed file, or one shot of it:
        :func:`~mmir.search.queries.parse_item` reads ``"video.mp4@8.0"``), ``FeedbackQuery`` (files or shots
        marked relevant / not), ``TemporalQuery``, ``ChannelQuery`` (``cnn|colour|lbp|hog|bovw|fused``) or
        ``FieldQuery`` (a phrase in the visible text or speech: ``--shows`` / ``--said``).
        ``k`` distinct units come back unless the collection has fewer that match. ``spatial`` re-ranks an
        example image's hits by local-feature verification (:mod:`mmir.search.spatial`).
        ``filter`` (:class:`~mmir.search.filters.SearchFilter`: photos or videos only, a folder, modified after /
        before, a file-name pattern) keeps only the files it allows, before grouping, so ``k`` still come back.

        Score scales (one per query kind, higher is better; :data:`mmir.search.scales.SCALES`): keywords
        0..1; example, file or shot: cosine −1..1; one channel: cosine −1..1; fused late 0..1, early −1..1;
        feedback classifier 0..1 (probability), Rocchio −1..1; temporal 0..1; visible text / speech 0..1 (BM25
        over the best match's). ``result.weak`` is true when
        nothing matches well (a keyword query whose best hit is below a threshold chosen on validation queries).

        Raises:
            QueryError: ``k < 1``, an item not in the collection, a query that maps to nothing.
        """
        from mmir.search.pipeline import search

        return search(self.engine, query, k, per, spatial, filter)

    def channel_extractors(self, names: Sequence[str], roots: Sequence[str | os.PathLike[str]] = ()) -> list:
        """Engineered descriptor extractors; see :func:`mmir.collection.channels.channel_extractors`."""
        from mmir.collection.channels import channel_extractors

        return channel_extractors(self.directory, names, roots)

    def stored_channels(self) -> list[str]:
        """The engineered descriptor channels the collection holds for some file (from the ledger), sorted.

        ``mmir index`` keeps computing them for new files unless told otherwise (``--descriptors``), so a channel
        search never silently covers only part of the collection.
        """
        from mmir.index import ledger

        return ledger.stored_channels(self.store.catalog)

    def channel_sink(self) -> CatalogChannelSink:
        """Where the pipeline stores the extra descriptor channels (pass to :meth:`index`)."""
        from mmir.index.channels import CatalogChannelSink

        return CatalogChannelSink(self.store.catalog)

    def use_text_model(self, spec: str) -> None:
        """Map query words to concepts with ``spec`` from now on: ``minilm`` (default), ``glove`` or ``w2v:DIR``.

        Raises:
            MmirError: an unknown model, or a ``w2v:`` folder that ``mmir train words`` did not make.
        """
        from mmir.concepts.word_models import load_word_model

        self._word_model = load_word_model(spec)
        self._engine = None

    def map_query(self, text: str, mode: QueryMode = QueryMode.AND) -> QueryMapping:
        """How a text query maps to weighted concepts."""
        return self.engine.map_query(TextQuery(text, mode))

    def register_sequence_concept(self, model_dir: Path, name: str, label: str | None = None) -> SequenceConcept:
        """Make class ``label`` of a trained sequence model (``mmir train sequence``) searchable as ``name``."""
        from mmir.indexing.video_concepts import register_sequence_concept

        return register_sequence_concept(self, model_dir, name, label)

    def unregister_sequence_concept(self, name: str) -> SequenceConcept:
        """Forget the sequence concept ``name`` (and its copy of the model); returns what was removed."""
        from mmir.indexing.video_concepts import unregister_sequence_concept

        return unregister_sequence_concept(self, name)

    def sequence_concepts(self) -> list[SequenceConcept]:
        """The registered sequence concepts, in registration order."""
        from mmir.indexing.video_concepts import registered

        return registered(self.directory)

    def use_store(self, store: str) -> None:
        """Keep the vectors in ``store`` (``faiss``, ``milvus:PATH.db``, ``milvus://host:port``) from now on.

        Recorded in the manifest, so later commands reuse it; a different store is filled from the catalog's
        stored descriptors (no CNN pass).
        """
        check_store(store)
        self.store.use_store(store)
        self._engine = None

    def info(self) -> CollectionInfo:
        """Counts, model, sizes, and the producers of derived data with their coverage (the ledger)."""
        return collection_info(self)


def detect_shots(
    video: str | os.PathLike[str], detector: str = "fast", *, min_shot_s: float, max_shot_s: float,
    progress: bool = False,
) -> DetectedShots:  # fmt: skip
    """The shots of one video file (no collection): decoded at the analysis rate, no images encoded.

    Args:
        video: The video file.
        detector: A shot detector name (``mmir shots --help`` lists them).
        min_shot_s: Shortest shot; closer transitions are dropped.
        max_shot_s: Longer shots are split into equal parts.
        progress: A bar on stderr (seconds of video analysed).
    """
    from mmir.indexing.video import VideoIndexOptions
    from mmir.indexing.video import detect_shots as detect
    from mmir.media.shot_detectors import make_detector

    options = VideoIndexOptions(min_shot_s=min_shot_s, max_shot_s=max_shot_s)
    return detect(str(video), make_detector(detector), options, progress=progress)


def check_store(store: str) -> None:
    """Refuse a store address that is malformed or whose server does not answer, before anything is recorded.

    Raises:
        CollectionError: naming the address and the problem.
    """
    from mmir.index.reachable import check_reachable

    check_reachable(store)
