"""The web service: a FastAPI app and a static browser UI over :class:`mmir.api.Collection`.

Needs the ``server`` extra (FastAPI, uvicorn, python-multipart); importing :mod:`mmir` does not load it.
"""

from __future__ import annotations

from mmir.server.app import ServerSettings, create_app

__all__ = ["ServerSettings", "create_app"]
