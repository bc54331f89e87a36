"""How the service runs, and the checks that refuse unsafe combinations before it starts."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from mmir.errors import MmirError
from mmir.types import DEFAULT_HOST

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
# Far above any ordinary query (tens of ms; a caption of made-up words: the text model's 2 s budget plus scoring),
# low enough that a runaway or abandoned one frees its thread and the collection lock.
DEFAULT_QUERY_TIMEOUT_S = 10.0


class SettingsError(MmirError):
    """The server was asked to run in a way that is unsafe or makes no sense."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or name to bind) only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServerSettings:
    """How the service runs.

    Attributes:
        collection: Collection directory.
        token: If set, every API call needs ``Authorization: Bearer <token>`` (media also accept the
            session cookie that ``POST /api/session`` sets). Never empty.
        host: The address the server binds to; decides which ``Host`` headers are accepted.
        allowed_hosts: Extra names clients may use in ``Host`` (a LAN name, the reverse proxy's name).
        roots: Folders the UI may index; hit paths are shown relative to them.
        max_upload_bytes: Largest accepted query image (the request body may be a little larger).
        max_k: Largest number of results per query.
        max_decode_side: Uploads are decoded at reduced size (JPEG draft) with this shorter side at least.
        max_pixels: Largest ``width * height`` of an upload (from its header, before decoding).
        decode_slots: How many uploads may be decoded and encoded at the same time.
        text_model_process: Run the text model (words WordNet cannot place) in one separate low-priority process,
            so that clients sending made-up words never take CPU or the GIL from the others' searches.
        query_timeout_s: Seconds a request may spend before its query is stopped and answered 503 "narrow it"
            (``None``: no limit). The wait for the collection lock counts.
        cancel_on_disconnect: Stop a request's query once its client goes away (frees the thread and the lock).
        insecure: Allow binding beyond loopback without a token (the user said so explicitly).
    """

    collection: Path
    token: str | None = None
    host: str = DEFAULT_HOST
    allowed_hosts: tuple[str, ...] = ()
    roots: tuple[Path, ...] = ()
    max_upload_bytes: int = 20 * 2**20
    max_k: int = 200
    max_decode_side: int = 512
    max_pixels: int = 40_000_000
    decode_slots: int = 2
    text_model_process: bool = True
    query_timeout_s: float | None = DEFAULT_QUERY_TIMEOUT_S
    cancel_on_disconnect: bool = True
    insecure: bool = False
    _hosts: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.token is not None and not self.token.strip():
            raise SettingsError("the API token is empty; give a real --token or leave it out")
        if not is_loopback(self.host) and self.token is None and not self.insecure:
            raise SettingsError(
                f"refusing to serve on {self.host} without --token: anyone who can reach it could search and "
                "read your files (add --token, or --insecure if you really mean it)"
            )
        if self.max_upload_bytes < 1 or self.max_k < 1 or self.decode_slots < 1:
            raise SettingsError("max_upload_bytes, max_k and decode_slots must be positive")
        if self.query_timeout_s is not None and not self.query_timeout_s > 0:  # NaN too
            raise SettingsError("the query timeout must be a positive number of seconds (or none)")
        hosts = {name.lower().strip("[]") for name in self.allowed_hosts}
        if is_loopback(self.host):
            hosts.update(LOOPBACK_NAMES)
        hosts.add(self.host.lower().strip("[]"))
        object.__setattr__(self, "_hosts", frozenset(hosts))

    def host_allowed(self, host_header: str) -> bool:
        """Whether a request's ``Host`` header names this server (protects against DNS rebinding).

        A wildcard bind (``0.0.0.0``) without ``allowed_hosts`` accepts any name: the token guards it.
        """
        if self.host in WILDCARD_HOSTS and not self.allowed_hosts:
            return True
        name = host_header.strip().lower()
        if name.startswith("["):  # [::1]:8000
            name = name[1 : name.find("]")] if "]" in name else name
        elif name.count(":") == 1:
            name = name.rsplit(":", 1)[0]
        return name in self._hosts
