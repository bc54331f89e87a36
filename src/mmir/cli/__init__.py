"""The ``mmir`` command line: thin Typer commands over :mod:`mmir.api`.

Every :class:`~mmir.errors.MmirError` is printed as one clear line (exit status 2), never a traceback.
"""

from __future__ import annotations

import sys

from mmir.errors import MmirError


def main() -> None:
    """Console-script entry point."""
    # Command modules register themselves on import; importing here keeps `import mmir` light.
    from mmir.cli.groups import cli_command

    try:
        cli_command()(prog_name="mmir")
    except MmirError as exc:
        print(f"mmir: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("mmir: interrupted; everything committed so far is kept (run again to resume)", file=sys.stderr)
        sys.exit(130)
