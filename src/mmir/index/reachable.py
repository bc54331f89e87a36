"""Is a vector store reachable? Asked before a collection records it, so an unreachable server leaves nothing behind.

A Milvus server is probed with a TCP connection to its port (a few seconds at most): enough to tell "no server
there" (the common mistake) from a server that answers; the store itself reports anything deeper when opened.
FAISS and Milvus Lite stores are local files and always reachable once the address parses.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from mmir.errors import CollectionError
from mmir.index.stores import StoreKind, parse_store

TIMEOUT_S = 3.0


def unreachable(url: str, default_port: int, timeout_s: float = TIMEOUT_S) -> tuple[str, int, str] | None:
    """``(host, port, reason)`` when nothing accepts a TCP connection at ``url``'s host and port, else ``None``."""
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as exc:
        return host, port, exc.strerror or type(exc).__name__


def check_reachable(store: str, timeout_s: float = TIMEOUT_S) -> None:
    """Raise unless ``store`` parses and, for ``milvus://HOST:PORT``, something accepts connections there.

    Raises:
        CollectionError: ``--store ADDRESS: no Milvus server answers at HOST:PORT (REASON)``.
    """
    address = parse_store(store)
    if address.kind is not StoreKind.MILVUS_SERVER:
        return
    failed = unreachable(address.uri, 19530, timeout_s)
    if failed is not None:
        host, port, reason = failed
        raise CollectionError(
            f"--store {store}: no Milvus server answers at {host}:{port} ({reason}); start one, or use "
            "--store faiss or --store milvus:PATH.db (Milvus Lite)"
        )
