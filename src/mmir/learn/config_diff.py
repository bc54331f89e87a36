"""What differs between two configs of one recipe, for errors that refuse to resume a run under other settings."""

from __future__ import annotations

import dataclasses
from typing import Any


def config_changes(old: Any, new: Any) -> str:
    """``"lr: 0.1 → 0.05, epochs: 30 → 40"``: the fields of two dataclass instances that differ, in field order.

    Args:
        old: The config a checkpoint was trained with.
        new: The config asked for now (same dataclass).
    """
    changes = []
    for field in dataclasses.fields(old):
        before, after = getattr(old, field.name), getattr(new, field.name, None)
        if before != after:
            changes.append(f"{field.name}: {_shown(before)} → {_shown(after)}")
    return ", ".join(changes) or "nothing"


def _shown(value: Any) -> str:
    return str(getattr(value, "value", value))
