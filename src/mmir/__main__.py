"""``python -m mmir`` runs the command line."""

from __future__ import annotations

from mmir.cli import main

main()
