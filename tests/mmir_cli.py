"""Running ``mmir`` in the test process (so a session's Lite0 is reused), for CLI tests in any folder."""

from __future__ import annotations

import sys

import pytest


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``mmir ARGS`` in this process: exit status, stdout, stderr (never a traceback)."""
    from mmir.cli import main

    monkeypatch.setattr(sys, "argv", ["mmir", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err
