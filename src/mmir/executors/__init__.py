"""Where indexing work runs: in-process (default, :mod:`mmir.indexing.pipeline`) or on a Ray cluster (optional extra).

Nothing here is imported by the default path; :mod:`mmir.executors.ray_executor` imports Ray only when used.
"""

from __future__ import annotations

import enum


class ExecutorKind(str, enum.Enum):
    """The closed set of executors."""

    LOCAL = "local"
    RAY = "ray"


def parse_executor(value: str | None) -> tuple[ExecutorKind, str | None]:
    """``None``/``local`` → in-process; ``ray`` → a local Ray cluster; ``ray://host:port`` → that cluster.

    Raises:
        ValueError: for anything else.
    """
    if value in (None, "", "local"):
        return ExecutorKind.LOCAL, None
    if value == "ray":
        return ExecutorKind.RAY, None
    if value.startswith("ray://") and len(value) > len("ray://"):
        return ExecutorKind.RAY, value
    raise ValueError(f"--executor {value}: expected local, ray or ray://HOST:PORT")
