"""What every command shares: the consoles, and turning our exceptions into exit codes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


@contextmanager
def errors_to_exit(code: int = 1) -> Iterator[None]:
    """Render an skbundle error (or a bad file) as a red message and exit with ``code``."""
    from skbundle.errors import SkbundleError

    try:
        yield
    except SkbundleError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(code) from None
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(code) from None


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()
