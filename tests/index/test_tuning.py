"""Choosing the index by size, deciding when to re-train, and recording the plan."""

from __future__ import annotations

from mmir.index import tuning
from mmir.index.tuning import IndexKind, IndexPlan, choose_plan, needs_rebuild, training_size


def test_exact_up_to_the_threshold_then_ivf_with_lists_growing_like_sqrt_n() -> None:
    assert choose_plan(tuning.EXACT_MAX, 1280).kind is IndexKind.EXACT
    small, large = choose_plan(100_000, 1280), choose_plan(1_000_000, 1280)
    assert small.kind is large.kind is IndexKind.IVF
    assert small.nlist < large.nlist <= 4096
    assert small.reduced_dim == tuning.REDUCED_DIM
    assert choose_plan(100_000, 128).reduced_dim == 0  # already small: no PCA


def test_rebuild_when_crossing_the_threshold_or_outgrowing_training() -> None:
    exact = choose_plan(100, 1280)
    assert not needs_rebuild(exact, tuning.EXACT_MAX)
    assert needs_rebuild(exact, tuning.EXACT_MAX + 1)
    ivf = choose_plan(100_000, 1280)
    assert not needs_rebuild(ivf, 300_000)
    assert needs_rebuild(ivf, 400_001)
    assert needs_rebuild(ivf, 24_000)  # shrank by more than 4×
    assert needs_rebuild(choose_plan(30_000, 1280), tuning.BACK_TO_EXACT - 1)


def test_training_sample_is_bounded_whatever_the_size() -> None:
    plan = choose_plan(50_000_000, 1280)
    assert training_size(plan, 50_000_000) <= tuning.MAX_TRAIN_SAMPLE


def test_plan_json_round_trip_ignores_unknown_keys() -> None:
    plan = choose_plan(200_000, 1280).tuned(nprobe=16, recall=0.97, size=200_000)
    assert IndexPlan.from_json(plan.to_json() | {"from_the_future": 1}) == plan
    assert "IVF" in plan.description and "nprobe 16" in plan.description
