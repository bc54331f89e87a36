"""The web service: a FastAPI app and a static browser UI over :class:`mmir.api.Collection`.

Needs the ``server`` extra (FastAPI, uvicorn, python-multipart); importing :mod:`mmir` does not load it.
"""

from __future__ import annotations

from mmir.server.app import create_app
from mmir.server.settings import ServerSettings, SettingsError

__all__ = ["ServerSettings", "SettingsError", "create_app"]
