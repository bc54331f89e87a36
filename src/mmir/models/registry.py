"""A strict, leaf registry: backbone name → builder (registering a name twice raises).

This module imports nothing from the rest of :mod:`mmir.models`; modules that define backbones register
themselves here, and :mod:`mmir.models.factory` imports them and resolves names (including the
``torchvision:<arch>`` / ``timm:<arch>`` prefixes and model directories).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from mmir.models.backbone import Backbone

BackboneBuilder = Callable[[], "Backbone"]
_B = TypeVar("_B", bound=BackboneBuilder)

_BUILDERS: dict[str, BackboneBuilder] = {}


def register_backbone(name: str) -> Callable[[_B], _B]:
    """Decorator that registers ``builder`` under ``name``.

    Raises:
        ValueError: if ``name`` is already registered.
    """

    def decorate(builder: _B) -> _B:
        if name in _BUILDERS:
            raise ValueError(f"backbone {name!r} is already registered")
        _BUILDERS[name] = builder
        return builder

    return decorate


def backbone_builder(name: str) -> BackboneBuilder | None:
    """The builder registered as ``name``, or ``None``."""
    return _BUILDERS.get(name)


def registered_names() -> list[str]:
    """Names registered so far, sorted."""
    return sorted(_BUILDERS)
