"""Noise-robust concept heads on frozen descriptors, and a report of the labels the model disbelieves.

Weak labels (tags, folder names, file names) are wrong for a sizeable share of files. The heads here are the
same linear heads on stored, L2-normalised descriptors as :mod:`mmir.learn.concept_heads` (no decoding, no CNN
pass) but trained with the **generalised cross-entropy** (GCE, Zhang & Sabuncu 2018):
``L_q(p_y) = (1 - p_y^q) / q``. Why this method:

- Its gradient is cross-entropy's weighted by ``p_y^q``: examples the model finds implausible (most wrong
  labels) pull much less, so the heads stop memorising the noise; ``q → 0`` is cross-entropy and ``q = 1`` the
  noise-tolerant but slow MAE; ``q = 0.7`` is the authors' choice.
- It needs no estimate of the noise rate (co-teaching and small-loss selection need the share to drop) and no
  second network, and it works per binary term for multi-label tags as well as over a softmax for exclusive
  labels such as folders.

Wrong labels are then found by *confident learning* (Northcutt et al. 2021) on out-of-fold probabilities: an
example whose model probability for its given label is below that label's average self-confidence, while another
label clears its own threshold, is a suspect. Out-of-fold means each example is judged by heads that never saw it.

Optionally (``RobustConfig.correction``, off by default) doubtful labels are not only reported but relabelled
before the final heads are fitted: see :mod:`mmir.learn.label_correction` for the rule, its cost, and why it is off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from mmir.errors import require
from mmir.learn.concept_heads import ConceptError, ConceptHeads, fit_platt
from mmir.learn.label_correction import correct_labels
from mmir.learn.robust_config import Relabel, RobustConfig, RobustLoss


@dataclass(frozen=True)
class Suspect:
    """An example whose given label the model believes is wrong.

    Attributes:
        index: Row of the example.
        label: The given label it doubts.
        confidence: Out-of-fold probability of ``label``.
        suggested: The label the model prefers, if one clears its threshold.
        suggested_confidence: Out-of-fold probability of ``suggested`` (0 if none).
    """

    index: int
    label: str
    confidence: float
    suggested: str | None
    suggested_confidence: float


@dataclass(frozen=True)
class RobustResult:
    """Heads trained on weak labels, their out-of-fold probabilities and the suspects.

    Attributes:
        heads: Calibrated heads, one per label (storable and searchable as user concepts).
        out_of_fold: ``float32[N, K]`` probabilities of each example from heads that never saw it.
        exclusive: True when every example had exactly one label (softmax heads), else multi-label.
        suspects: Likely mislabelled examples, most doubtful first.
        relabelled: Examples whose label the correction stage replaced before the final fit (empty when off).
    """

    heads: ConceptHeads
    out_of_fold: np.ndarray
    exclusive: bool
    suspects: tuple[Suspect, ...]
    relabelled: tuple[Relabel, ...] = ()


def label_matrix(labels: Sequence[frozenset[str]]) -> tuple[tuple[str, ...], np.ndarray]:
    """Sorted label names and the ``bool[N, K]`` matrix of which example carries which label."""
    names = tuple(sorted(set().union(*labels))) if labels else ()
    column = {name: k for k, name in enumerate(names)}
    matrix = np.zeros((len(labels), len(names)), dtype=bool)
    for row, given in enumerate(labels):
        matrix[row, [column[name] for name in given]] = True
    return names, matrix


def fit_linear(
    x: np.ndarray, targets: np.ndarray, exclusive: bool, config: RobustConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Train linear heads ``z = x Wᵀ + b`` with the configured loss (mini-batch AdamW, plain numpy).

    Numpy rather than torch: the model is one matrix, and on a busy CPU torch's per-step overhead and thread
    start-up dominated the run time of these tiny steps.

    Args:
        x: ``float32[N, D]`` unit-length descriptors.
        targets: ``bool[N, K]`` given labels (one per row when ``exclusive``).
        exclusive: Softmax over the ``K`` labels (else one sigmoid per label, positives re-weighted).
        config: Loss and budget.

    Returns:
        ``(W float32[K, D], b float32[K])``.
    """
    rng = np.random.default_rng(config.seed)
    t = targets.astype(np.float32)
    # Zero start: every label starts equally likely, and results do not hang on a random init.
    params = [np.zeros((t.shape[1], x.shape[1]), np.float32), np.zeros(t.shape[1], np.float32)]
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    positives = np.maximum(t.sum(0), 1.0)
    # Multi-label: rare tags would be swamped by their negatives; weigh positives by the negative/positive ratio.
    pos_weight = np.clip((len(t) - positives) / positives, 1.0, 50.0)
    step = 0
    threadpoolctl = require("threadpoolctl", "learn")
    # One BLAS thread: these products are tiny, and multi-threaded BLAS spent 25× longer synchronising than
    # computing (measured on a busy 2-core machine).
    with threadpoolctl.threadpool_limits(1, user_api="blas"):  # type: ignore[attr-defined]
        for _ in range(config.epochs):
            for batch in np.array_split(rng.permutation(len(x)), max(1, -(-len(x) // config.batch_size))):
                xb = x[batch]
                grad_z = _loss_gradient(xb @ params[0].T + params[1], t[batch], exclusive, config, pos_weight)
                step += 1
                _adamw(params, [grad_z.T @ xb, grad_z.sum(0)], moments, step, config)
    return params[0], params[1]


def _loss_gradient(
    logits: np.ndarray, targets: np.ndarray, exclusive: bool, config: RobustConfig, pos_weight: np.ndarray
) -> np.ndarray:
    """Gradient ``float32[B, K]`` of the batch-mean loss with respect to the logits.

    Cross-entropy gives ``p - t``; GCE's ``(1 - p_obs^q) / q`` gives the same times ``p_obs^q``, where ``p_obs``
    is the probability of the given label (softmax) or of each given 0/1 target (sigmoid): that factor is
    what lets implausible (often wrong) labels pull less.
    """
    robust = config.loss is RobustLoss.GCE
    if exclusive:
        p = probabilities(logits, exclusive=True)
        grad = p - targets
        if robust:
            grad *= ((p * targets).sum(1, keepdims=True) ** config.q).astype(np.float32)
        return grad / len(logits)
    p = probabilities(logits, exclusive=False)
    grad = (p - targets) * (1.0 + (pos_weight - 1.0) * targets)
    if robust:
        grad *= (targets * p + (1.0 - targets) * (1.0 - p)) ** config.q
    return grad / logits.size


def _adamw(
    params: list[np.ndarray], grads: list[np.ndarray], moments: list[tuple[np.ndarray, np.ndarray]], step: int,
    config: RobustConfig, betas: tuple[float, float] = (0.9, 0.999),
) -> None:  # fmt: skip
    """One AdamW update in place (decoupled weight decay, bias-corrected moments; PyTorch's defaults)."""
    for param, grad, (m, v) in zip(params, grads, moments, strict=True):
        param *= 1.0 - config.lr * config.weight_decay
        m *= betas[0]
        m += (1 - betas[0]) * grad
        v *= betas[1]
        v += (1 - betas[1]) * grad * grad
        m_hat, v_hat = m / (1 - betas[0] ** step), v / (1 - betas[1] ** step)
        param -= config.lr * m_hat / (np.sqrt(v_hat) + 1e-8)


def probabilities(logits: np.ndarray, exclusive: bool) -> np.ndarray:
    """``float32[N, K]`` probabilities from logits: softmax (exclusive) or one sigmoid per label."""
    z = np.asarray(logits, np.float64)
    if exclusive:
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return (z / z.sum(axis=1, keepdims=True)).astype(np.float32)
    return (1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))).astype(np.float32)


def out_of_fold_logits(x: np.ndarray, targets: np.ndarray, exclusive: bool, config: RobustConfig) -> np.ndarray:
    """Logits ``float32[N, K]`` of each example from heads trained on the other folds (seeded, stratified)."""
    rng = np.random.default_rng(config.seed)
    fold = np.zeros(len(x), dtype=np.int64)
    # Deal the examples of each label pattern round-robin so every fold sees every label.
    patterns = np.unique(targets, axis=0, return_inverse=True)[1].ravel()
    for pattern in np.unique(patterns):
        members = rng.permutation(np.flatnonzero(patterns == pattern))
        fold[members] = (np.arange(len(members)) + int(pattern)) % config.folds
    logits = np.zeros(targets.shape, dtype=np.float32)
    for k in range(config.folds):
        held = fold == k
        w, b = fit_linear(x[~held], targets[~held], exclusive, config)
        logits[held] = x[held] @ w.T + b
    return logits


def find_suspects(probs: np.ndarray, targets: np.ndarray, names: Sequence[str]) -> list[Suspect]:
    """Confident-learning suspects among the given labels.

    A given label ``k`` of example ``i`` is suspect when ``probs[i, k]`` is below ``t_k``, the mean of
    ``probs[:, k]`` over the examples labelled ``k`` (the label's average self-confidence), and some label
    ``j`` the example does not carry has ``probs[i, j] ≥ t_j``; the suggestion is the most confident such ``j``.
    Ordered by the gap ``probs[i, j] - probs[i, k]``, largest first.

    Args:
        probs: ``float32[N, K]`` out-of-fold probabilities.
        targets: ``bool[N, K]`` given labels.
        names: The ``K`` label names.
    """
    counts = targets.sum(axis=0)
    thresholds = np.where(counts > 0, (probs * targets).sum(axis=0) / np.maximum(counts, 1), np.inf)
    clears = (probs >= thresholds) & ~targets
    found: list[tuple[float, Suspect]] = []
    for i, k in zip(*np.nonzero(targets & (probs < thresholds)), strict=True):
        if not clears[i].any():
            continue
        j = int(np.argmax(np.where(clears[i], probs[i], -1.0)))
        suspect = Suspect(int(i), names[k], float(probs[i, k]), names[j], float(probs[i, j]))
        found.append((float(probs[i, j] - probs[i, k]), suspect))
    return [s for _, s in sorted(found, key=lambda item: (-item[0], item[1].index))]


def train_robust_heads(
    descriptors: np.ndarray, labels: Sequence[frozenset[str]], config: RobustConfig = RobustConfig()
) -> RobustResult:
    """Learn calibrated, noise-robust heads for every label in ``labels``.

    Out-of-fold logits give the suspects and, per label, a Platt calibration against the given labels; the
    final heads are refitted on all examples and rescaled to the spread of the out-of-fold logits so that the
    calibration still applies. With ``config.correction`` (exclusive labels only) the final heads and the
    calibration use the corrected labels instead; the out-of-fold fits are reused, so the correction adds only
    the k-NN graph and label spreading (see :mod:`mmir.learn.label_correction`), not a fit.

    Args:
        descriptors: ``float32[N, D]`` stored descriptors of the labelled files.
        labels: ``N`` label sets; when each holds exactly one label the heads share a softmax.
        config: Loss and budget.

    Raises:
        ConceptError: if shapes disagree, or a label has fewer than 2 examples or no non-examples.
    """
    x = np.asarray(descriptors, dtype=np.float32)
    if x.ndim != 2 or len(x) != len(labels):
        raise ConceptError(f"descriptors {list(x.shape)} do not match {len(labels)} label sets")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    names, targets = label_matrix(labels)
    counts = targets.sum(axis=0)
    for name, count in zip(names, counts, strict=True):
        if count < 2 or count > len(x) - 2:
            raise ConceptError(f"label {name!r} needs at least 2 examples and 2 non-examples, has {count} of {len(x)}")
    exclusive = bool(np.all(targets.sum(axis=1) == 1))
    oof = out_of_fold_logits(x, targets, exclusive, config)
    probs = probabilities(oof, exclusive)
    fitted, final_config = targets, config
    relabelled: tuple[Relabel, ...] = ()
    if config.correction is not None and exclusive:
        fitted, relabelled = correct_labels(x, probs, targets, names, config.correction)
        final_config = replace(config, loss=config.correction.final_loss)
    w, b = fit_linear(x, fitted, exclusive, final_config)
    final = x @ w.T + b
    scale = np.std(oof, axis=0) / np.maximum(np.std(final, axis=0), 1e-12)
    platt = [fit_platt(oof[:, k], fitted[:, k]) for k in range(len(names))]
    heads = ConceptHeads(
        names=names, weight=(w * scale[:, None]).astype(np.float32), bias=(b * scale).astype(np.float32),
        platt_a=np.array([a for a, _ in platt], np.float32), platt_b=np.array([c for _, c in platt], np.float32),
        held_out_ap=_held_out_ap(oof, targets, names),
    )  # fmt: skip
    return RobustResult(heads, probs, exclusive, tuple(find_suspects(probs, targets, names)), relabelled)


def _held_out_ap(scores: np.ndarray, targets: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """Out-of-fold AP of each label against the (noisy) given labels."""
    from sklearn.metrics import average_precision_score

    return {name: float(average_precision_score(targets[:, k], scores[:, k])) for k, name in enumerate(names)}
