"""The concept vocabulary of an encoder and the mapping of query text onto it."""

from __future__ import annotations

import itertools
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mmir.concepts.embedding import ClassTextIndex, LruCache, bundled_class_embeddings, texts_digest
from mmir.concepts.hierarchy import ConceptHierarchy, SenseLink, load_hierarchy
from mmir.concepts.mapping import ConceptWeight, MatchSource, QueryMapping, QueryMode, TermMapping
from mmir.concepts.term_weights import with_importance
from mmir.concepts.text import STOP_WORDS, base_forms, normalise, plural_forms, tokenise
from mmir.concepts.text_process import bundled_text_model
from mmir.concepts.word_models import SentenceEncoderAdapter, WordModel
from mmir.errors import MissingExtraError, MmirError
from mmir.search.cancel import checkpoint

USER_PREFIX = "user:"
# The text fallback keeps the nearest classes within this much cosine similarity of the best one (at most
# EMBEDDING_TOP): "kitten" → the five domestic cats, not one arbitrary breed.
EMBEDDING_TOP = 5
EMBEDDING_MARGIN = 0.15
SENTENCE_MIN_TERMS = 3
# Bounds on one query's cost (a client sending 100 KB of text, or 2,000 made-up words, must not hold a server thread
# for minutes): words after the first MAX_QUERY_WORDS, or after MAX_QUERY_TERMS distinct content words, are ignored,
# and once the text model has spent TEXT_MODEL_BUDGET_S on a query its remaining unplaced words only match file
# text. The mapping's ``notes`` say which. Ordinary queries (a few words, a caption) are far inside all three.
MAX_QUERY_WORDS = 128
MAX_QUERY_TERMS = 32
TEXT_MODEL_BUDGET_S = 2.0
MAPPING_CACHE = 1024  # mapped queries remembered per vocabulary (a server answers the same queries again)
# Word pairs ("fire hydrant") are tried through the text model only in queries of at most this many distinct content
# words: a longer text has its whole-sentence term for context, and pairs doubled its text-model cost.
PAIR_MAX_WORDS = 8
PREFETCH_CHUNK = 16  # texts per text-model pass; the budget is checked between passes
# Words no lemma places go to the text model for a query's first MAX_MODEL_WORDS only (the rest match file text): more
# is a pasted paragraph or made-up words (32 cost a server ~280 ms a query, 8 ~180 ms); "selfie" is one or two.
MAX_MODEL_WORDS = 8


def _display_name(lemmas: str) -> str:
    """A readable class name: the first lemma, or a longer lemma that extends it ("tabby" → "tabby cat")."""
    names = [name.strip() for name in lemmas.split(",") if name.strip()]
    first = names[0]
    longer = [n for n in names[1:] if n.startswith(first + " ") or n.endswith(" " + first)]
    return longer[0] if longer else first


class ConceptVocabulary:
    """The ``C`` concepts an encoder scores (columns of its probability matrix) and query text → concepts.

    Args:
        concept_names: The encoder's concept names in column order: ImageNet synset ids (``"n02123045"``),
            user concepts (``"user:my-dog"``), or any other name (matched by exact normalised name).
        cache_dir: Where the class-name embeddings of the text fallback are cached (e.g. the collection folder).
        use_embeddings: Allow the MiniLM fallback for words WordNet cannot place.
        refine_hypernyms: Add the text model's nearest classes to a word whose classes are only borrowed from a
            hypernym ("toilet" → room → patio gains toilet seat).
        sentence_term: For a query of :data:`SENTENCE_MIN_TERMS` or more content words, add one term for the
            whole query's nearest classes by sentence embedding (context the single words lack).
        phrase_embeddings: Match two adjacent words that no lemma joins as one phrase through the text model
            when that places them better ("fire hydrant").
        embedding_loader: Builds the sentence encoder; default: the bundled MiniLM on ONNX Runtime, with the
            ImageNet classes' embeddings shipped precomputed (a custom loader embeds them itself, cached).
        hierarchy: The WordNet → ImageNet data; defaults to the bundled file.
        word_model: Another word → concept mapper (GloVe, word2vec; :mod:`mmir.concepts.word_models`): class
            lemmas are embedded with it (names only, in memory: cheap for word vectors) instead of MiniLM.
    """

    def __init__(
        self,
        concept_names: Sequence[str],
        cache_dir: str | Path | None = None,
        *,
        use_embeddings: bool = True,
        refine_hypernyms: bool = True,
        sentence_term: bool = True,
        phrase_embeddings: bool = True,
        embedding_loader: Callable[[], Any] | None = None,
        hierarchy: ConceptHierarchy | None = None,
        word_model: WordModel | None = None,
    ) -> None:
        self.concept_names = tuple(concept_names)
        self.hierarchy = hierarchy or load_hierarchy()
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._use_embeddings = use_embeddings
        self._refine_hypernyms = refine_hypernyms
        self._sentence_term = sentence_term
        self._phrase_embeddings = phrase_embeddings
        self._embedding_loader = embedding_loader
        self._word_model = word_model
        self._text_index: ClassTextIndex | None = None
        self._index_lock = threading.Lock()  # server threads map queries concurrently, outside the collection lock
        self._mappings = LruCache(MAPPING_CACHE)  # (words, mode) → QueryMapping
        self._query = threading.local()  # this thread's query: its text-model deadline and whether it was reached
        class_of = {synset: i for i, synset in enumerate(self.hierarchy.class_synsets)}
        self._column_of_class: dict[int, int] = {}  # ImageNet class index → column
        self._named: dict[str, int] = {}  # normalised user/other concept name → column
        self._display: list[str] = []
        for column, name in enumerate(self.concept_names):
            if name in class_of:
                self._column_of_class[class_of[name]] = column
                self._display.append(_display_name(self.hierarchy.class_lemmas[class_of[name]]))
            else:
                self._named[normalise(name.removeprefix(USER_PREFIX))] = column
                self._display.append(name)
        self._name_starts: dict[str, int] = {}  # first word of a multi-word user concept name → its most words
        for name in self._named:
            first, space, _rest = name.partition(" ")
            if space:
                self._name_starts[first] = max(self._name_starts.get(first, 0), name.count(" ") + 1)

    def __len__(self) -> int:
        return len(self.concept_names)

    def display_name(self, index: int) -> str:
        """Readable name of column ``index`` (``"tabby cat"``, ``"user:my-dog"``)."""
        return self._display[index]

    def map_query(self, text: str, mode: QueryMode = QueryMode.AND) -> QueryMapping:
        """Map free query text to weighted concepts, term by term.

        Longest multi-word lemmas win ("golden retriever"), stop-words are dropped, plurals are reduced
        ("dogs" → "dog") and plural-only nouns found ("binocular" → "binoculars"); single words no lemma places
        fall back to the nearest classes by text-embedding similarity. Each term's importance is set
        (:func:`mmir.concepts.term_weights.with_importance`). A query of stop-words only keeps them as terms (they
        can still match file names). Cost is bounded (:data:`MAX_QUERY_WORDS`, :data:`MAX_QUERY_TERMS`,
        :data:`TEXT_MODEL_BUDGET_S`; ``notes`` say what was left out) and mappings are cached, so that a server can
        map a query outside its collection lock and find it mapped when it scores.
        """
        tokens, notes = _capped_words(tokenise(text))
        key = (tuple(tokens), QueryMode(mode))
        cached = self._mappings.get(key)
        if isinstance(cached, QueryMapping):
            return replace(cached, text=text)
        self._query.deadline = time.monotonic() + TEXT_MODEL_BUDGET_S
        self._query.skipped = self._query.model_words = self._query.capped = 0
        terms = self._map_tokens(tokens)
        if self._query.capped:
            notes.append(f"{self._query.capped} word(s) only matched file text: the text model maps at most "
                         f"{MAX_MODEL_WORDS} words a query that no lemma places")  # fmt: skip
        if self._query.skipped:
            notes.append(f"{self._query.skipped} word(s) only matched file text: the text model's time for one "
                         f"query ({TEXT_MODEL_BUDGET_S:g} s) was spent")  # fmt: skip
        mapping = QueryMapping(text=text, mode=QueryMode(mode), terms=tuple(terms), notes=tuple(notes))
        mapping = with_importance(mapping, self.hierarchy)
        # Cached even when the budget cut it short: the search that follows (a server scores under its collection
        # lock) must find it mapped, not run the text model again.
        self._mappings.put(key, mapping)
        return mapping

    def is_mapped(self, text: str, mode: QueryMode = QueryMode.AND) -> bool:
        """Whether :meth:`map_query` would answer ``text`` from its cache (no text model, no lemma search)."""
        tokens, _notes = _capped_words(tokenise(text))
        return self._mappings.get((tuple(tokens), QueryMode(mode))) is not None

    def _map_tokens(self, tokens: list[str]) -> list[TermMapping]:
        """The terms of a (capped) token list: phrases, words, embedded pairs, then the whole-sentence term."""
        pairs = self._phrase_embeddings and len({w for w in tokens if w not in STOP_WORDS}) <= PAIR_MAX_WORDS
        self._prefetch(tokens, pairs)
        terms: list[TermMapping] = []
        i = 0
        while i < len(tokens):
            found = self._longest_phrase(tokens, i)
            if found is not None:
                terms.append(found[0])
                i += found[1]
                continue
            word = tokens[i]
            i += 1
            if word in STOP_WORDS:
                continue
            term = self._refined(self._map_phrase(word)) or self._map_unplaced(word)
            pair = self._embedded_pair(term, tokens, i) if pairs else None
            if pair is not None:
                term, i = pair, i + 1
            terms.append(term)
        terms = list({term.term: term for term in reversed(terms)}.values())[::-1]  # a repeated word counts once
        if not terms:  # only stop-words: keep them, unmatched, so that file text can still match ("the who")
            return [TermMapping(word, None, ()) for word in dict.fromkeys(tokens)]
        if self._sentence_term and len(terms) >= SENTENCE_MIN_TERMS:
            whole = self._map_by_embedding(" ".join(tokens))
            if whole.matched:
                terms.append(replace(whole, source=MatchSource.SENTENCE))
        return terms

    def _prefetch(self, tokens: list[str], pairs: bool) -> None:
        """Embed, in few text-model passes, every word (and word pair) the mapping below may ask the model about.

        One batch of a dozen short texts costs about what two single calls do; asked one at a time, a query of 30
        made-up words took seconds. Only words without a lemma (and pairs they start) are embedded, in batches of
        :data:`PREFETCH_CHUNK` while the query's text-model budget lasts (the rest are left to the word-by-word path,
        which reports them as skipped).
        """
        if not self._use_embeddings or not self._column_of_class:
            return
        placed = {w: self._map_phrase(w) for w in dict.fromkeys(tokens) if w not in STOP_WORDS}  # query order
        unplaced = set([w for w, found in placed.items() if found is None][:MAX_MODEL_WORDS])  # as _map_unplaced
        hypernym = {w for w, found in placed.items() if self._refine_hypernyms
                    and getattr(found, "source", None) is MatchSource.HYPERNYM}  # fmt: skip
        joined = [f"{a} {b}" for a, b in itertools.pairwise(tokens) if a in unplaced | hypernym
                  and b not in STOP_WORDS] if pairs else []  # fmt: skip
        words = [w for w in placed if w in unplaced | hypernym]  # query order: the first come first
        phrases = list(dict.fromkeys([*words, *joined]))
        index = self._embedding_index()
        if index is None or not phrases:
            return
        try:
            for start in range(0, len(phrases), PREFETCH_CHUNK):
                if time.monotonic() > self._query.deadline:
                    return
                checkpoint()  # Cancelled is no MmirError: it leaves this loop and the query
                index.prefetch(phrases[start : start + PREFETCH_CHUNK])
        except (MissingExtraError, MmirError, OSError):
            return  # _map_by_embedding reports it, word by word, and turns the fallback off

    def _longest_phrase(self, tokens: list[str], start: int) -> tuple[TermMapping, int] | None:
        """The longest known multi-word phrase at ``start``.

        A lemma may not start or end with a stop-word ("on a" is no noun here); a user concept may ("my dog").
        """
        first = tokens[start]
        longest = max(self.hierarchy.phrase_starts.get(first, 0), self._name_starts.get(first, 0))
        for length in range(min(longest, len(tokens) - start), 1, -1):
            words = tokens[start : start + length]
            lemmas = words[0] not in STOP_WORDS and words[-1] not in STOP_WORDS
            mapping = self._map_phrase(" ".join(words), lemmas=lemmas)
            if mapping is not None:
                return mapping, length
        return None

    def _map_phrase(self, phrase: str, lemmas: bool = True) -> TermMapping | None:
        """A user concept or (if ``lemmas``) WordNet lemma named by ``phrase`` or its base form, else ``None``.

        The term is reported in its base form, so "dogs" and "dog" map identically.
        """
        forms = base_forms(phrase, self.hierarchy.exceptions)
        if lemmas and not any(self.hierarchy.lookup(form) for form in forms):
            forms += plural_forms(phrase)  # plural-only nouns: "binocular" → "binoculars"
        for form in forms:
            user = self._named.get(form)
            if user is None and not lemmas:
                continue
            concepts, senses = self._from_links(self.hierarchy.lookup(form) if lemmas else ())
            if user is not None:
                own = ConceptWeight(user, self._display[user], 1.0)
                rest = tuple(c for c in concepts if c.index != user)
                return TermMapping(form, MatchSource.USER, (own, *rest), senses)
            if concepts:
                direct = any(link.hops == 0 for link in self.hierarchy.lookup(form))
                source = MatchSource.LEMMA if direct else MatchSource.HYPERNYM
                return TermMapping(form, source, concepts, senses)
        return None

    def _from_links(self, links: tuple[SenseLink, ...]) -> tuple[tuple[ConceptWeight, ...], tuple[str, ...]]:
        """Concepts reached by sense links: per class the strongest sense (senses are alternatives).

        Borrowed hypernym classes only stand in when no sense covers a class itself: "cup" names the
        ImageNet cup, so the hundred containers above its other senses must not outweigh it.
        """
        if any(link.hops == 0 and link.classes for link in links):
            links = tuple(link for link in links if link.hops == 0)
        weights: dict[int, float] = {}
        senses: list[str] = []
        for link in links:
            reached = [self._column_of_class[c] for c in link.classes if c in self._column_of_class]
            if reached and link.synset not in senses:
                senses.append(link.synset)
            for column in reached:
                weights[column] = max(weights.get(column, 0.0), link.weight)
        ordered = sorted(weights.items(), key=lambda item: (-item[1], item[0]))
        return tuple(ConceptWeight(c, self._display[c], w) for c, w in ordered), tuple(senses)

    def _embedded_pair(self, first: TermMapping, tokens: list[str], following: int) -> TermMapping | None:
        """Two words no lemma joins, matched as one phrase when the text model places the pair better.

        "fire hydrant" and "stop sign" are not lemmas that reach a class, and word by word they become "fire"
        (fire engine) and "stop"; as a phrase the text model finds closer classes. Tried only when the first
        word has no lemma of its own and the next one is a content word; kept when the pair's nearest class is
        not weak and closer than the first word's.
        """
        if following >= len(tokens) or tokens[following] in STOP_WORDS:
            return None
        if first.source in (MatchSource.LEMMA, MatchSource.USER):
            return None
        pair = self._map_by_embedding(f"{first.term} {tokens[following]}")
        if not pair.matched or pair.weak or (pair.similarity or 0.0) <= (first.similarity or 0.0):
            return None
        return pair

    def _refined(self, term: TermMapping | None) -> TermMapping | None:
        """A hypernym-borrowed term with the text model's nearest classes added (weights: their similarity).

        WordNet's borrowed classes are the word's category mates, not the word: "giraffe" borrows oxen and
        sheep (ruminants), and "surfboard" a scoreboard (both boards). Near neighbours by text similarity are
        often closer in what a photo shows; both are kept, each class at its larger weight.
        """
        if term is None or term.source is not MatchSource.HYPERNYM or not self._refine_hypernyms:
            return term
        near = self._map_by_embedding(term.term)
        if not near.matched or near.weak:
            return term
        weights = {c.index: c for c in term.concepts}
        for concept in near.concepts:
            if concept.weight > getattr(weights.get(concept.index), "weight", 0.0):
                weights[concept.index] = concept
        concepts = tuple(sorted(weights.values(), key=lambda c: (-c.weight, c.index)))
        return replace(term, concepts=concepts, similarity=near.similarity)

    def _map_unplaced(self, word: str) -> TermMapping:
        """A word no lemma places: its nearest classes by the text model, for a query's first
        :data:`MAX_MODEL_WORDS` such words (later ones are counted for the note and match file text only)."""
        if getattr(self._query, "model_words", 0) >= MAX_MODEL_WORDS:
            self._query.capped = getattr(self._query, "capped", 0) + 1
            return TermMapping(word, None, ())
        self._query.model_words = getattr(self._query, "model_words", 0) + 1
        return self._map_by_embedding(word)

    def _map_by_embedding(self, word: str) -> TermMapping:
        """Nearest class names by text-model similarity: always some concepts, unless the model is unavailable.

        Each concept's weight is its cosine similarity (clipped at 0); the term records the best similarity so
        that a distant nearest class is reported as a weak match rather than passed off as the word.
        """
        index = self._embedding_index()
        if index is None:
            return TermMapping(word, None, ())
        if time.monotonic() > getattr(self._query, "deadline", float("inf")) and not index.cached(word):
            self._query.skipped = getattr(self._query, "skipped", 0) + 1
            return TermMapping(word, None, ())
        checkpoint()
        try:
            nearest = index.nearest(word, top=EMBEDDING_TOP)
        except (MissingExtraError, MmirError, OSError) as exc:  # extra not installed, or model files unreadable
            warnings.warn(f"no text-embedding fallback for {word!r}: {exc}", RuntimeWarning, stacklevel=3)
            self._use_embeddings = False
            return TermMapping(word, None, ())
        if not nearest:
            return TermMapping(word, None, ())
        best = nearest[0][1]
        columns = sorted(self._column_of_class.items())
        concepts = tuple(
            ConceptWeight(columns[i][1], self._display[columns[i][1]], round(max(0.0, sim), 4))
            for i, sim in nearest
            if sim >= best - EMBEDDING_MARGIN and sim > 0
        )
        if not concepts:
            return TermMapping(word, None, ())
        return TermMapping(word, MatchSource.EMBEDDING, concepts, similarity=round(best, 4))

    def _embedding_index(self) -> ClassTextIndex | None:
        """The class-name similarity index over this vocabulary's ImageNet classes (built on first need)."""
        if not self._use_embeddings or not self._column_of_class:
            return None
        with self._index_lock:
            return self._text_index or self._build_text_index()

    def _build_text_index(self) -> ClassTextIndex:
        if self._text_index is None:
            classes = sorted(self._column_of_class)
            names = [self.hierarchy.class_lemmas[c] for c in classes]
            if self._word_model is not None:
                # No disk cache: its file name is keyed to MiniLM, and word vectors embed 1000 names in ms.
                adapter = SentenceEncoderAdapter(self._word_model)
                self._text_index = ClassTextIndex(names, None, None, lambda: adapter)
                return self._text_index
            if self._embedding_loader is not None:
                # Names only: short query words match names well, and skipping glosses saves a minute of CPU.
                self._text_index = ClassTextIndex(names, None, self.cache_dir, self._embedding_loader)
                return self._text_index
            # The bundled MiniLM: class lemmas and glosses ship embedded; pick this vocabulary's classes.
            h = self.hierarchy
            shipped = bundled_class_embeddings(texts_digest(h.class_lemmas, h.class_definitions))
            definitions = [h.class_definitions[c] for c in classes]
            precomputed = shipped[:, classes] if shipped is not None else None
            self._text_index = ClassTextIndex(names, definitions, self.cache_dir, bundled_text_model, precomputed)
        return self._text_index


def _capped_words(tokens: list[str]) -> tuple[list[str], list[str]]:
    """The first words of a query within :data:`MAX_QUERY_WORDS` and :data:`MAX_QUERY_TERMS` distinct content
    words, and a note when some were left out."""
    content: set[str] = set()
    for end, word in enumerate(tokens):
        if word not in STOP_WORDS and word not in content:
            if len(content) == MAX_QUERY_TERMS:
                break
            content.add(word)
        if end == MAX_QUERY_WORDS:
            break
    else:
        return tokens, []
    kept = tokens[:end]
    note = (f"only the first {len(kept)} of the query's {len(tokens)} words were used (at most {MAX_QUERY_WORDS} "
            f"words and {MAX_QUERY_TERMS} distinct search words per query)")  # fmt: skip
    return kept, [note]
