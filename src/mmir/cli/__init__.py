"""The ``mmir`` command line: thin Typer commands over :mod:`mmir.api`.

Every :class:`~mmir.errors.MmirError` is printed as one clear line (exit status 2), never a traceback.
"""

from __future__ import annotations

import atexit
import gc
import sys
from typing import Any

from mmir.errors import MmirError


def cli_command() -> Any:
    """The click command behind ``mmir`` with every command registered and readable help."""
    import typer

    # Command modules register themselves on import; importing here keeps `import mmir` light.
    from mmir.cli import classify, commands, metric, video  # noqa: F401
    from mmir.cli.groups import app, readable_help

    command = typer.main.get_command(app)
    readable_help(command)
    return command


def main() -> None:
    """Console-script entry point."""
    from mmir.cli.options import echo_status_lines

    # Once torch is imported (a new collection builds the network once), the interpreter's final garbage collection
    # walks its millions of objects: `mmir index` lingered 1.5-4.4 s after its summary, with every file committed.
    # Freezing them at exit (after the other exit handlers, registered later and run first) skips that walk;
    # objects are still released by reference counting as modules are torn down.
    atexit.register(gc.freeze)
    echo_status_lines()

    try:
        cli_command()(prog_name="mmir")
    except MmirError as exc:
        print(f"mmir: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("mmir: interrupted; everything committed so far is kept (run again to resume)", file=sys.stderr)
        sys.exit(130)
