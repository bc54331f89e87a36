"""Stopping ``mmir serve`` with a signal leaves nothing behind: its text-model child exits and no resources leak."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.error import URLError

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from ``/proc``)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow  # a real server process and its text-model child: 15-50 s
def test_a_server_stopped_by_sigterm_joins_its_text_model_child(collection_dir: Path) -> None:
    port = _free_port()
    command = [sys.executable, "-m", "mmir", "serve", "-c", str(collection_dir), "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/search?q=zorblaxquux+dog", timeout=120):
                    break  # a made-up word: the text-model child has answered
            except (URLError, ConnectionError):
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        children = [pid for pid in _children(server.pid) if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()]
        assert children, "the text model runs in a child process"
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert "leaked semaphore" not in stderr, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-2000:]
    assert not [pid for pid in children if _alive(pid)], "the text-model child outlived the server"
