"""TREC qrels and run files: round trips, trec_eval's ordering, clear errors, evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmir.errors import MmirError
from mmir.evaluate.trec import (
    TrecFormatError,
    evaluate_run,
    read_qrels,
    read_run,
    write_qrels,
    write_run,
)


def test_round_trip(tmp_path: Path) -> None:
    qrels = {"q1": {"a": 1, "b": 0, "c": -1}, "q2": {"d": 2}}
    run = {"q1": [("a", 0.9), ("b", 0.5), ("c", 0.1)], "q2": [("d", 1.0), ("a", 0.25)]}
    write_qrels(tmp_path / "qrels.txt", qrels)
    write_run(tmp_path / "run.txt", run, tag="test")
    assert read_qrels(tmp_path / "qrels.txt") == qrels
    assert read_run(tmp_path / "run.txt") == run
    assert (tmp_path / "run.txt").read_text().splitlines()[0] == "q1 Q0 a 1 0.9 test"


def test_run_is_ordered_by_score_then_doc_id_descending(tmp_path: Path) -> None:
    # The rank column is ignored, as trec_eval does; ties go to the larger doc id.
    (tmp_path / "run.txt").write_text("q Q0 a 1 0.5 t\nq Q0 c 2 0.9 t\nq Q0 b 3 0.5 t\n")
    assert [doc for doc, _ in read_run(tmp_path / "run.txt")["q"]] == ["c", "b", "a"]


@pytest.mark.parametrize(
    ("content", "reader", "message"),
    [
        ("q 0 a\n", read_qrels, ":1: qrels lines need 4 columns"),
        ("q 0 a 1\nq 0 b x\n", read_qrels, ":2: relevance 'x' is not an integer"),
        ("q 0 a 1\nq 0 a 0\n", read_qrels, ":2: document 'a' judged twice"),
        ("q Q0 a 1 0.5\n", read_run, ":1: run lines need 6 columns"),
        ("# comment\nq Q0 a 1 high t\n", read_run, ":2: score 'high' is not a number"),
        ("q Q0 a 1 nan t\n", read_run, "not finite"),
        ("q Q0 a 1 1 t\nq Q0 a 2 0.5 t\n", read_run, ":2: document 'a' appears twice"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path: Path, content: str, reader, message: str) -> None:
    path = tmp_path / "file.txt"
    path.write_text(content)
    with pytest.raises(TrecFormatError, match=message) as info:
        reader(path)
    assert isinstance(info.value, MmirError)
    assert str(path) in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TrecFormatError, match="cannot read"):
        read_qrels(tmp_path / "absent.txt")


def test_write_rejects_whitespace_ids(tmp_path: Path) -> None:
    with pytest.raises(TrecFormatError, match="whitespace"):
        write_run(tmp_path / "run.txt", {"q": [("a b", 1.0)]})


def test_evaluate_run_by_hand() -> None:
    qrels = {
        "q1": {"a": 1, "b": 0, "c": 1, "z": 1},  # z is never retrieved
        "q2": {"d": 1},
        "q3": {"e": 0},  # no relevant document: not evaluated
        "q4": {"f": 1},  # missing from the run
    }
    run = {"q1": [("a", 3.0), ("b", 2.0), ("c", 1.0)], "q2": [("x", 2.0), ("d", 1.0)], "q3": [("e", 1.0)]}
    result = evaluate_run(qrels, run, ks=(1, 2, 5))
    assert set(result.per_query) == {"q1", "q2"}
    q1 = result.per_query["q1"]
    assert q1.ap == pytest.approx((1 + 2 / 3) / 3)
    assert q1.precision == {1: 1.0, 2: 0.5, 5: pytest.approx(2 / 5)}
    assert q1.recall[5] == pytest.approx(2 / 3)
    assert result.per_query["q2"].ap == pytest.approx(0.5)
    assert result.mean_ap == pytest.approx(((1 + 2 / 3) / 3 + 0.5) / 2)
    assert result.mean_precision(1) == pytest.approx(0.5)
    complete = evaluate_run(qrels, run, ks=(1,), complete=True)
    assert complete.per_query["q4"].ap == 0.0
    assert complete.mean_ap == pytest.approx(((1 + 2 / 3) / 3 + 0.5 + 0.0) / 3)


def test_infap_with_sampled_qrels() -> None:
    # b is pooled but not judged (-1); x is outside the pool.
    qrels = {"q": {"a": 1, "b": -1, "c": 1}}
    run = {"q": [("a", 4.0), ("b", 3.0), ("x", 2.0), ("c", 1.0)]}
    scores = evaluate_run(qrels, run).per_query["q"]
    eps = 1e-5
    rank4 = 1 / 4 + 3 / 4 * (2 / 3) * (1 + eps) / (1 + 2 * eps)
    assert scores.infap == pytest.approx((1 + rank4) / 2)
    assert scores.ap == pytest.approx((1 + 2 / 4) / 2)
