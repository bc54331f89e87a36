"""TREC run and qrels files in and out, and the evaluation of a run against qrels (as ``trec_eval`` does).

* qrels: ``query_id iteration doc_id relevance`` (4 columns; relevance > 0 is relevant, 0 judged
  non-relevant, -1 in the judging pool but not sampled, as in TRECVID's sampled qrels for infAP).
* run: ``query_id Q0 doc_id rank score tag`` (6 columns). As in ``trec_eval``, the rank column is ignored:
  documents are ordered by descending score, ties by descending doc id.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmir.errors import MmirError
from mmir.evaluate.retrieval import (
    average_precision,
    inferred_average_precision,
    precision_at_k,
    recall_at_k,
)

Qrels = dict[str, dict[str, int]]
"""query id → doc id → judgement."""
Run = dict[str, list[tuple[str, float]]]
"""query id → ``(doc id, score)`` best first."""

DEFAULT_KS = (5, 10, 100)


class TrecFormatError(MmirError):
    """A qrels or run file is malformed (the message names the file and line)."""


def _lines(path: Path) -> Iterable[tuple[int, list[str]]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TrecFormatError(f"{path}: cannot read ({exc})") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield number, line.split()


def read_qrels(path: Path) -> Qrels:
    """Read a qrels file.

    Raises:
        TrecFormatError: naming the line, for a wrong column count, a non-integer judgement or a duplicate.
    """
    qrels: Qrels = {}
    for number, fields in _lines(path):
        if len(fields) != 4:
            raise TrecFormatError(
                f"{path}:{number}: qrels lines need 4 columns (query iter doc rel), got {len(fields)}"
            )
        query, _, doc, rel = fields
        try:
            judgement = int(rel)
        except ValueError:
            raise TrecFormatError(f"{path}:{number}: relevance {rel!r} is not an integer") from None
        if doc in qrels.setdefault(query, {}):
            raise TrecFormatError(f"{path}:{number}: document {doc!r} judged twice for query {query!r}")
        qrels[query][doc] = judgement
    return qrels


def read_run(path: Path) -> Run:
    """Read a run file; each query's documents come back best first (score desc, then doc id desc).

    Raises:
        TrecFormatError: naming the line, for a wrong column count, a bad score or a duplicate document.
    """
    run: Run = {}
    seen: set[tuple[str, str]] = set()
    for number, fields in _lines(path):
        if len(fields) != 6:
            raise TrecFormatError(
                f"{path}:{number}: run lines need 6 columns (query Q0 doc rank score tag), got {len(fields)}"
            )
        query, _, doc, _, raw_score, _ = fields
        try:
            score = float(raw_score)
        except ValueError:
            raise TrecFormatError(f"{path}:{number}: score {raw_score!r} is not a number") from None
        if not math.isfinite(score):
            raise TrecFormatError(f"{path}:{number}: score {raw_score!r} is not finite")
        if (query, doc) in seen:
            raise TrecFormatError(f"{path}:{number}: document {doc!r} appears twice for query {query!r}")
        seen.add((query, doc))
        run.setdefault(query, []).append((doc, score))
    return {query: order_ranking(docs) for query, docs in run.items()}


def order_ranking(docs: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
    """``trec_eval``'s order: score descending, ties broken by doc id descending."""
    return sorted(docs, key=lambda item: (item[1], item[0]), reverse=True)


def write_qrels(path: Path, qrels: Mapping[str, Mapping[str, int]]) -> None:
    """Write ``qrels`` (query → doc → judgement), sorted by query then doc."""
    lines = [f"{query} 0 {doc} {rel}" for query in sorted(qrels) for doc, rel in sorted(qrels[query].items())]
    Path(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def write_run(path: Path, run: Mapping[str, Sequence[tuple[str, float]]], tag: str = "mmir") -> None:
    """Write a run; ranks are renumbered from 1 in the order :func:`order_ranking` gives.

    Raises:
        TrecFormatError: if an id or the tag contains whitespace (it would break the column format).
    """
    lines = []
    for query in sorted(run):
        for rank, (doc, score) in enumerate(order_ranking(run[query]), start=1):
            for value in (query, doc, tag):
                if not value or any(ch.isspace() for ch in value):
                    raise TrecFormatError(f"id or tag {value!r} is empty or contains whitespace")
            lines.append(f"{query} Q0 {doc} {rank} {score:.6g} {tag}")
    Path(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


@dataclass(frozen=True)
class QueryScores:
    """Figures of one query.

    Attributes:
        ap: Average precision (unjudged documents count as non-relevant).
        infap: Inferred AP (equals ``ap`` with complete judgements).
        precision: ``P@k`` for each ``k`` evaluated.
        recall: ``R@k`` for each ``k`` evaluated.
        n_relevant: Relevant documents in the qrels.
        n_retrieved: Documents in the run.
    """

    ap: float
    infap: float
    precision: dict[int, float]
    recall: dict[int, float]
    n_relevant: int
    n_retrieved: int


@dataclass(frozen=True)
class RunEvaluation:
    """Per-query and mean figures of a run (means over the evaluated queries)."""

    per_query: dict[str, QueryScores]
    ks: tuple[int, ...]

    @property
    def mean_ap(self) -> float:
        """mAP."""
        return _mean(q.ap for q in self.per_query.values())

    @property
    def mean_infap(self) -> float:
        """Mean inferred AP."""
        return _mean(q.infap for q in self.per_query.values())

    def mean_precision(self, k: int) -> float:
        """Mean ``P@k``."""
        return _mean(q.precision[k] for q in self.per_query.values())

    def mean_recall(self, k: int) -> float:
        """Mean ``R@k``."""
        return _mean(q.recall[k] for q in self.per_query.values())


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return float(np.mean(items)) if items else 0.0


def evaluate_query(ranking: Sequence[str], judgements: Mapping[str, int], ks: Sequence[int]) -> QueryScores:
    """Score one best-first list of doc ids against that query's judgements."""
    rel = np.array([judgements.get(doc, 0) > 0 for doc in ranking], dtype=bool)
    n_relevant = sum(1 for value in judgements.values() if value > 0)
    # -2 marks documents outside the judged pool (not in the qrels at all).
    sampled = np.array([min(judgements[doc], 1) if doc in judgements else -2 for doc in ranking], dtype=np.int64)
    return QueryScores(
        ap=average_precision(rel, n_relevant),  # nan without a relevant judgement (evaluate_run skips those)
        infap=inferred_average_precision(sampled),
        precision={k: precision_at_k(rel, k) for k in ks},
        recall={k: recall_at_k(rel, k, n_relevant) for k in ks},
        n_relevant=n_relevant,
        n_retrieved=len(ranking),
    )


def evaluate_run(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Sequence[tuple[str, float]]],
    ks: Sequence[int] = DEFAULT_KS,
    complete: bool = False,
) -> RunEvaluation:
    """Evaluate ``run`` against ``qrels`` the way ``trec_eval`` does.

    Only queries with at least one relevant judgement are evaluated. By default, as ``trec_eval`` without
    ``-c``, queries absent from the run are left out of the means; ``complete=True`` counts them as zeros.

    Args:
        qrels: query → doc → judgement.
        run: query → ``(doc, score)``; re-ordered with :func:`order_ranking`.
        ks: Cut-offs for ``P@k`` and ``R@k``.
        complete: Include judged queries that the run lacks.
    """
    per_query: dict[str, QueryScores] = {}
    for query in sorted(qrels):
        judgements = qrels[query]
        if not any(value > 0 for value in judgements.values()):
            continue
        if query not in run and not complete:
            continue
        ranking = [doc for doc, _ in order_ranking(run.get(query, []))]
        per_query[query] = evaluate_query(ranking, judgements, ks)
    return RunEvaluation(per_query=per_query, ks=tuple(ks))


def qrels_query_files(qrels: Qrels, base: Path) -> dict[str, Path]:
    """Query ids that name image files (absolute, or relative to ``base``), as ``id → path``.

    Raises:
        TrecFormatError: for a query id that names no file.
    """
    files = {}
    for query in qrels:
        path = Path(query) if Path(query).is_absolute() else base / query
        if not path.is_file():
            raise TrecFormatError(
                f"query {query!r} is not an image file; with --collection, query ids are paths of query images "
                f"(absolute or relative to {base})"
            )
        files[query] = path
    return files


def run_with_qrels_ids(run: Mapping[str, Sequence[tuple[str, float]]], qrels: Qrels, base: Path) -> Run:
    """Rename the absolute file paths of ``run`` to the document ids that ``qrels`` uses for them.

    Documents judged in ``qrels`` keep their qrels spelling (absolute or relative to ``base``); others are
    written relative to ``base`` when they lie below it.
    """
    import os

    spelling: dict[str, str] = {}
    for judgements in qrels.values():
        for doc in judgements:
            spelling[os.path.normpath(doc if os.path.isabs(doc) else os.path.join(base, doc))] = doc
    renamed: Run = {}
    for query, docs in run.items():
        renamed[query] = []
        for path, score in docs:
            normal = os.path.normpath(path)
            default = os.path.relpath(normal, base) if normal.startswith(os.path.abspath(base) + os.sep) else normal
            renamed[query].append((spelling.get(normal, default), score))
    return renamed
