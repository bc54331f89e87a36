"""A strict name → builder registry for encoders (registering a name twice raises).

Besides registered names, two prefixes load architectures from the user's own checkpoint files:
``torchvision:<arch>`` and ``timm:<arch>`` (see :mod:`mmir.models.external`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from mmir.errors import ModelError

if TYPE_CHECKING:
    from mmir.models.encoder import Encoder

Builder = Callable[..., "Encoder"]
_B = TypeVar("_B", bound=Builder)

_BUILDERS: dict[str, Builder] = {}
_BUILTINS_LOADED = False


def register_model(name: str) -> Callable[[_B], _B]:
    """Decorator that registers ``builder`` under ``name``.

    Raises:
        ValueError: if ``name`` is already registered.
    """

    def decorate(builder: _B) -> _B:
        if name in _BUILDERS:
            raise ValueError(f"model {name!r} is already registered")
        _BUILDERS[name] = builder
        return builder

    return decorate


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        import mmir.models.efficientnet  # noqa: F401  (registers the bundled models)


def list_models() -> list[str]:
    """Names of the registered encoders (prefixed names are not listed)."""
    _load_builtins()
    return sorted(_BUILDERS)


def get_encoder(name: str, **kwargs: Any) -> Encoder:
    """Build the encoder registered as ``name``.

    Args:
        name: A registered name (``efficientnet-lite0``), ``torchvision:<arch>`` or ``timm:<arch>``,
            or a directory holding an mmir model entry (``model.json``, e.g. a metric-learning run).
        **kwargs: Passed to the builder (e.g. ``weights_path``, ``pooling``).

    Raises:
        ModelError: for an unknown name or unusable weights.
    """
    _load_builtins()
    if name in _BUILDERS:
        return _BUILDERS[name](**kwargs)
    prefix, _, arch = name.partition(":")
    if arch and prefix in ("torchvision", "timm"):
        from mmir.models.external import build_external_encoder

        return build_external_encoder(prefix, arch, **kwargs)
    from pathlib import Path

    if (Path(name) / "model.json").is_file():
        from mmir.models.entry import load_model_dir

        return load_model_dir(Path(name), **kwargs)
    known = ", ".join(list_models())
    raise ModelError(f"unknown model {name!r}; known: {known}, or torchvision:<arch> / timm:<arch> with --weights")
