"""How much room is there above plain training at 40 % symmetric noise? Candidate methods against an oracle.

Companion of ``benchmarks/noisy_labels.py`` (same cached descriptors, same product trainer
``mmir.learn.robust_heads.fit_linear``). For each data set, at 40 % symmetric noise:

- **Method choice** on a 5-fold cross-validation of the TRAINING pool: the selection criterion is the accuracy
  against the noisy held-out labels (what a user has; under symmetric noise it is an increasing affine function of
  the clean accuracy), printed beside the accuracy against the true labels of those training images (never the
  test split) for information.
- **Test accuracy** of each candidate, mean over ``--seeds`` draws of the noise.
- **Oracle bounds**: heads trained on only the correctly labelled examples (a perfect noise filter: the ceiling of
  every selection method such as small-loss selection, co-teaching or confident-learning pruning), and on all
  examples with their true labels (a perfect label corrector).

Candidates: plain cross-entropy (the benchmark's weight decay, and a 3× lower learning rate, which acts like early
stopping); GCE with q = 0.7 (the product default) and 0.9; confident-learning pruning (drop the out-of-fold suspects,
refit with GCE); a k-NN filter (drop examples whose label disagrees with the majority of their 10 nearest
descriptors, refit with GCE); label correction (``mmir.learn.label_correction``: relabel when out-of-fold GCE
probabilities averaged with 10-NN label spreading favour another label ``ratio`` times, refit with GCE). The rows
answer whether a +3 point gain over plain training is possible here at all.

Why correction does not reach the oracle corrector: a diagnostic row trains on labels that are exactly as often right
as the corrected ones, but whose wrong labels are drawn at random (symmetric) instead of being the model's own
mistakes.

Run:  python benchmarks/noisy_labels_bound.py [--seeds 3]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from mmir.learn.label_correction import CorrectionConfig, correct_labels
from mmir.learn.noise import NoiseKind, corrupt_labels
from mmir.learn.robust_heads import (
    RobustConfig,
    RobustLoss,
    find_suspects,
    fit_linear,
    out_of_fold_logits,
    probabilities,
)
from noisy_labels import accuracy, one_hot
from small_datasets import cnn_descriptors, load_all

RATE = 0.4
PLAIN = RobustConfig(loss=RobustLoss.CROSS_ENTROPY, weight_decay=0.1)
GCE = RobustConfig(loss=RobustLoss.GCE, weight_decay=0.1)
# A method maps (descriptors float32[N, D], noisy labels int[N], classes, seed) to heads (W [K, D], b [K]).
Method = Callable[[np.ndarray, np.ndarray, int, int], tuple[np.ndarray, np.ndarray]]


def trained(config: RobustConfig) -> Method:
    """Plain training of the product heads with ``config``."""
    return lambda x, y, k, seed: fit_linear(x, one_hot(y, k), True, replace(config, seed=seed))


def pruned(x: np.ndarray, y: np.ndarray, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Confident-learning pruning: drop the out-of-fold GCE suspects, refit GCE on the rest."""
    config = replace(GCE, seed=seed)
    probs = probabilities(out_of_fold_logits(x, one_hot(y, classes), True, config), True)
    keep = np.ones(len(x), dtype=bool)
    keep[[s.index for s in find_suspects(probs, one_hot(y, classes), [str(k) for k in range(classes)])]] = False
    return fit_linear(x[keep], one_hot(y[keep], classes), True, config)


def knn_filtered(x: np.ndarray, y: np.ndarray, classes: int, seed: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Drop examples whose label is not the majority of their ``k`` nearest descriptors' labels, refit GCE."""
    similarity = x @ x.T
    np.fill_diagonal(similarity, -np.inf)
    neighbours = np.argpartition(-similarity, k, axis=1)[:, :k]
    votes = np.zeros((len(x), classes))
    np.add.at(votes, (np.repeat(np.arange(len(x)), k), y[neighbours].ravel()), 1.0)
    keep = votes.argmax(1) == y
    return fit_linear(x[keep], one_hot(y[keep], classes), True, replace(GCE, seed=seed))


def corrected_labels(x: np.ndarray, y: np.ndarray, classes: int, seed: int, ratio: float) -> np.ndarray:
    """``int[N]`` labels after the product's correction stage (out-of-fold GCE evidence + 10-NN spreading)."""
    config, targets = replace(GCE, seed=seed), one_hot(y, classes)
    probs = probabilities(out_of_fold_logits(x, targets, True, config), True)
    fixed, _ = correct_labels(x, probs, targets, [str(k) for k in range(classes)], CorrectionConfig(ratio=ratio))
    return fixed.argmax(1)


def corrected(ratio: float) -> Method:
    """Label correction with evidence ratio ``ratio``, then GCE on the corrected labels."""

    def method(x: np.ndarray, y: np.ndarray, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        fixed = corrected_labels(x, y, classes, seed, ratio)
        return fit_linear(x, one_hot(fixed, classes), True, replace(GCE, seed=seed))

    return method


METHODS: dict[str, Method] = {
    "plain ce (wd 0.1, lr 0.01)": trained(PLAIN),
    "plain ce (wd 0.1, lr 0.003)": trained(replace(PLAIN, lr=0.003)),
    "gce q=0.7 (product default q)": trained(GCE),
    "gce q=0.9": trained(replace(GCE, q=0.9)),
    "confident-learning prune + gce": pruned,
    "10-nn filter + gce": knn_filtered,
    "label correction ratio 2 + gce": corrected(2.0),
    "label correction ratio 4 + gce": corrected(4.0),
}


def cross_validated(method: Method, x: np.ndarray, y: np.ndarray, noisy: np.ndarray, classes: int) -> tuple[float, ...]:
    """5-fold accuracy of ``method`` on the training pool: against the noisy labels, and against the true ones."""
    fold = np.random.default_rng(1).permutation(np.arange(len(x)) % 5)
    hits = np.zeros(2)
    for k in range(5):
        fit = fold != k
        heads = method(x[fit], noisy[fit], classes, 0)
        hits += [accuracy(x[~fit], noisy[~fit], *heads), accuracy(x[~fit], y[~fit], *heads)]
    return tuple(hits / 5)  # folds are equal-sized, so the mean of fold accuracies is the pooled accuracy


def run(name: str, x: np.ndarray, y: np.ndarray, tx: np.ndarray, ty: np.ndarray, seeds: int) -> None:
    """Print the candidate and oracle rows of one data set."""
    classes = int(y.max()) + 1
    draws = [corrupt_labels(y, RATE, classes, NoiseKind.SYMMETRIC, seed=s) for s in range(seeds)]
    for label, method in METHODS.items():
        noisy_cv, clean_cv = cross_validated(method, x, y, draws[0].labels, classes)
        tests = [accuracy(tx, ty, *method(x, d.labels, classes, s)) for s, d in enumerate(draws)]
        print(f"{name:7s} {label:32s} CV noisy {noisy_cv:.3f} (true {clean_cv:.3f}) | test {np.mean(tests):.4f} "
              f"({' '.join(f'{t:.3f}' for t in tests)})", flush=True)  # fmt: skip
    for loss in (RobustLoss.CROSS_ENTROPY, RobustLoss.GCE):
        fit = trained(replace(PLAIN, loss=loss))
        kept = [accuracy(tx, ty, *fit(x[~d.flipped], y[~d.flipped], classes, s)) for s, d in enumerate(draws)]
        print(f"{name:7s} oracle filter: only the ~{1 - RATE:.0%} correct labels, {loss.value:3s}: test "
              f"{np.mean(kept):.4f} ({' '.join(f'{t:.3f}' for t in kept)})", flush=True)  # fmt: skip
        clean = accuracy(tx, ty, *fit(x, y, classes, 0))
        print(f"{name:7s} oracle corrector: all labels true, {loss.value:3s}: test {clean:.4f}", flush=True)
    structured_vs_random(name, x, y, tx, ty, draws)


def structured_vs_random(name: str, x: np.ndarray, y: np.ndarray, tx: np.ndarray, ty: np.ndarray, draws: list) -> None:
    """GCE on the corrected labels vs on labels with as many wrong ones, but wrong at random (symmetric)."""
    classes = int(y.max()) + 1
    fixed_acc: list[float] = []
    random_acc: list[float] = []
    right: list[float] = []
    for seed, draw in enumerate(draws):
        fixed = corrected_labels(x, draw.labels, classes, seed, 4.0)
        right.append(float((fixed == y).mean()))
        shuffled = corrupt_labels(y, 1.0 - right[-1], classes, NoiseKind.SYMMETRIC, seed=100 + seed).labels
        for labels, out in ((fixed, fixed_acc), (shuffled, random_acc)):
            out.append(accuracy(tx, ty, *fit_linear(x, one_hot(labels, classes), True, replace(GCE, seed=seed))))
    print(f"{name:7s} corrected labels (ratio 4; {np.mean(right):.3f} right, errors = the model's own): gce test "
          f"{np.mean(fixed_acc):.4f} | same share right, errors random: gce test {np.mean(random_acc):.4f} "
          f"({' '.join(f'{t:.3f}' for t in random_acc)})", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=3000, help="training images per data set (class-balanced)")
    parser.add_argument("--test", type=int, default=1000, help="test images per data set")
    parser.add_argument("--seeds", type=int, default=3, help="draws of the noise for the test accuracies")
    args = parser.parse_args()
    print(f"40% symmetric noise, {args.train} train / {args.test} test images, 40 epochs; CV = 5 folds of the "
          f"training pool (noise seed 0); test = mean over {args.seeds} noise seeds")  # fmt: skip
    for name, (train, test) in load_all(args.train, args.test).items():
        x, _ = cnn_descriptors(train)
        tx, _ = cnn_descriptors(test)
        unit = [d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12) for d in (x, tx)]
        run(name, unit[0], train.labels, unit[1], test.labels, args.seeds)


if __name__ == "__main__":
    main()
