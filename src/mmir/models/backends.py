"""Runners that execute the composed encoder network: eager PyTorch and ONNX Runtime.

ONNX Runtime is the default for inference when it is installed (``pip install 'mmir[onnx]'``): on a CPU it ran
the bundled EfficientNet-Lite nets several times faster than eager PyTorch (``benchmarks/index_throughput.py``).
PyTorch stays the fallback and is what training uses.
"""

from __future__ import annotations

import enum
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmir.errors import ModelError

if TYPE_CHECKING:
    from mmir.models.network import EncoderNet


class Backend(str, enum.Enum):
    """Which runtime executes the encoder."""

    AUTO = "auto"  # ONNX Runtime when installed, else PyTorch
    TORCH = "torch"
    ONNX = "onnx"
    ONNX_INT8 = "onnx-int8"  # dynamically quantised weights: smaller, sometimes faster, slightly different vectors

    def resolved(self) -> Backend:
        """``AUTO`` made concrete for this installation."""
        if self is not Backend.AUTO:
            return self
        return Backend.ONNX if onnxruntime_available() else Backend.TORCH


def onnxruntime_available() -> bool:
    """Whether ``onnxruntime`` can be imported (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def cpu_threads() -> int:
    """CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class TorchRunner:
    """Runs an :class:`~mmir.models.network.EncoderNet` eagerly (inference mode, no autograd)."""

    name = "torch"
    concurrent_batches = 1  # a forward pass already uses every core; two at once would only contend

    def __init__(self, net: EncoderNet) -> None:
        self.net = net.eval()

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``float32[B, 3, S, S] -> (float32[B, D], float32[B, C])``."""
        import torch

        with torch.inference_mode():
            descriptors, concepts = self.net(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)))
        return descriptors.float().numpy(), concepts.float().numpy()


class OnnxRunner:
    """Runs an exported encoder with ONNX Runtime.

    Threads are set deliberately: the session has one intra-op thread. A batch is split into one chunk per
    core, run side by side ("lanes"); a single image (a query) runs on the calling thread alone, which answers
    as fast on a small net and leaves the other cores to the rest of the process (e.g. the server's other
    requests). On 2 cores, two 1-thread lanes ran Lite0 at 186–195 img/s where one 2-thread session ran
    169 img/s, and left more to the pipeline's decode threads (``benchmarks/index_throughput.py``).

    Args:
        path: The ``.onnx`` file (inputs ``images``; outputs ``descriptors``, ``concepts``).
        name: ``"onnx"`` or ``"onnx-int8"``.
        concepts: ``C``; a network without classifier has no ``concepts`` output and gets ``float32[B, 0]``.
    """

    # Two batches may be submitted at once: the lanes take their chunks from one queue in order, so the second
    # batch's chunks start as soon as a lane is free instead of after the slower lane of the first batch.
    concurrent_batches = 2

    def __init__(self, path: Path, name: str, concepts: int) -> None:
        self.path = Path(path)
        self.name = name
        self._concepts = concepts
        self._session: Any = None
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def session(self) -> Any:
        """The ONNX Runtime session (one intra-op thread; ``run`` is safe from several threads at once)."""
        with self._lock:
            if self._session is None:
                self._session = _make_session(self.path)
            return self._session

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``float32[B, 3, S, S] -> (float32[B, D], float32[B, C])``."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        lanes = min(cpu_threads(), len(batch))
        if lanes == 1:
            return self._run_chunk(batch)
        # Data-parallel lanes of 1-thread sessions rather than one session with `lanes` intra-op threads: the
        # pipeline's decode threads share the same cores, and intra-op threads meet at a barrier after every
        # operator, so one preempted thread stalls all of them; a lane that is preempted delays only its chunk.
        chunks = np.array_split(batch, lanes)
        results = list(self._lanes().map(self._run_chunk, chunks))
        return (
            np.concatenate([descriptors for descriptors, _ in results]),
            np.concatenate([concepts for _, concepts in results]),
        )

    def _run_chunk(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        outputs = self.session().run(None, {"images": chunk})
        concepts = outputs[1] if self._concepts else np.zeros((len(chunk), 0), np.float32)
        return outputs[0], concepts

    def _lanes(self) -> ThreadPoolExecutor:
        """One pool for every batch, a thread per core (a short last batch just leaves some idle)."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(cpu_threads(), thread_name_prefix="mmir-onnx")
            return self._pool


def _make_session(path: Path) -> Any:
    """A CPU session with one intra-op thread (parallelism comes from the lanes, see :class:`OnnxRunner`)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ModelError("the ONNX backend needs onnxruntime: pip install 'mmir[onnx]'") from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
        raise ModelError(f"{path}: cannot load the exported encoder ({exc})") from exc
