"""``mmir serve``: the web UI and the JSON API of a collection (thin over :mod:`mmir.server`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mmir.api import DEFAULT_HOST, DEFAULT_PORT
from mmir.cli.groups import app
from mmir.cli.options import COLLECTION, CollectionOpt, JsonOpt, open_collection


def server_url(host: str, port: int) -> str:
    """The address a browser opens: ``http://HOST:PORT/`` (an IPv6 host in brackets)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


@app.command()
def serve(
    collection: CollectionOpt = COLLECTION,
    host: Annotated[str, typer.Option(help="Address to bind; loopback by default.")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(min=1, max=65535)] = DEFAULT_PORT,
    token: Annotated[
        str | None, typer.Option(envvar="MMIR_TOKEN", help="Require this bearer token on every API call.")
    ] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow serving beyond loopback without a token.")
    ] = False,
    allow_host: Annotated[
        list[str] | None,
        typer.Option("--allow-host", help="Another name clients use for this server (LAN name, reverse proxy)."),
    ] = None,
    root: Annotated[
        list[Path] | None, typer.Option("--root", help="A folder the web UI may index (repeatable).")
    ] = None,
    max_upload_mb: Annotated[int, typer.Option(min=1, max=1024, help="Largest query image accepted.")] = 20,
    query_timeout: Annotated[
        float | None,
        typer.Option(min=0, envvar="MMIR_QUERY_TIMEOUT", show_default=False,
                     help="Seconds one request's query may run before it is stopped, answered 503 (default 10; 0: "
                     "no limit). A query whose client goes away stops at once."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Serve the web UI and the JSON API for a collection; prints its URL (as {"url": ...} with --json)."""
    from mmir.errors import require
    from mmir.server import ServerSettings, create_app
    from mmir.server.settings import DEFAULT_QUERY_TIMEOUT_S

    timeout = DEFAULT_QUERY_TIMEOUT_S if query_timeout is None else (query_timeout or None)  # 0: no limit
    settings = ServerSettings(
        collection=collection, token=token, host=host, allowed_hosts=tuple(allow_host or ()),
        roots=tuple(path.expanduser().absolute() for path in root or ()), insecure=insecure,
        max_upload_bytes=max_upload_mb * 2**20, query_timeout_s=timeout,
    )  # fmt: skip  # refuses an empty token, or an open bind without one, before anything starts
    open_collection(collection).close()  # fail now, with a clear message, if there is no collection
    if insecure and token is None:
        typer.echo(f"warning: serving on {host} without a token; anyone who can reach it can search", err=True)
    web = create_app(settings)
    uvicorn = require("uvicorn", "server")
    url = server_url(host, port)
    if as_json:
        typer.echo(json.dumps({"url": url, "collection": str(collection)}))
    else:
        typer.echo(f"serving {collection} at {url} (Ctrl-C to stop)")
    uvicorn.run(web, host=host, port=port, log_level="warning")  # type: ignore[attr-defined]
