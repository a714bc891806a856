"""What every command shares: the consoles, and turning our exceptions into exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


# Options shared by the commands that load a bundle: one definition each.
BundlePath = Annotated[Path, typer.Argument(help="The bundle directory (holds bundle.json).")]
TrustOpt = Annotated[
    bool,
    typer.Option(
        "--trust-pickle",
        help="Allow unpickling model.joblib. Only for bundles from a source you trust: a "
        "pickle can run arbitrary code when loaded (it is still audited first).",
    ),
]
TrustTypesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--trust-type",
        help="A type or function the model needs beyond skbundle's allowlist, e.g. "
        "numpy.log1p (repeat for several). Only names you checked yourself: never copy them "
        "from the bundle.",
    ),
]
RuntimeOpt = Annotated[
    str, typer.Option("--runtime", help="auto, or a format in the bundle: onnx, skops, joblib.")
]
MismatchOpt = Annotated[
    bool,
    typer.Option(
        "--allow-version-mismatch",
        help="Load even if the installed scikit-learn major.minor differs.",
    ),
]


@contextmanager
def progress_bar(
    description: str, total: int | None, *, show: bool
) -> Iterator[Callable[[int], None]]:
    """A transient progress bar on stderr; yields ``advance(done)`` for the library's callback.

    Hidden when ``show`` is False (small inputs, JSON output, or stderr not a terminal).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=not show,
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda done: progress.update(task, completed=done)


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
