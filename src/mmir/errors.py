"""Errors that mmir reports to users (the CLI prints them without a traceback)."""

from __future__ import annotations


class MmirError(Exception):
    """Base class of every error mmir reports to a user."""


class CollectionError(MmirError):
    """The collection on disk is missing, locked, or was built by another model."""


class ModelError(MmirError):
    """A model name, weights file or architecture could not be used."""


class QueryError(MmirError):
    """A query could not be understood or run."""


class MissingExtraError(MmirError):
    """An optional dependency is not installed."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(f"{module} is needed for this; install it with: pip install 'mmir[{extra}]'")
        self.module = module
        self.extra = extra


def require(module: str, extra: str) -> object:
    """Import an optional heavy module or raise a :class:`MissingExtraError` naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # the message names what to install
        raise MissingExtraError(module, extra) from exc
