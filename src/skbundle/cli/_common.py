"""What every command shares: the consoles, printing bundle text safely, and turning our
exceptions into exit codes.

Printing what a bundle says
---------------------------
Every string that comes from a bundle (its manifest, readiness data, reference statistics,
a log, an input file) or from an exception that quotes one is printed through
:func:`plain`: control characters become visible escapes (``\\x1b``), so a name cannot
write to the clipboard (OSC 52), retitle the window, clear the screen, move the cursor or
reorder text with bidi overrides; and the result is a :class:`rich.text.Text`, which Rich
prints as it is, so ``[link=...]`` or ``[red]`` in a name is shown, never interpreted.
Markup in format strings is only ever our own, with no bundle value inside it.

Output that is not a terminal
-----------------------------
When stdout (or stderr) is a pipe or a file, what reads it is a program or a log: a line is
as long as it is, never wrapped at 80 columns, and a table's cells are never cut (``worst
radi...``) or folded onto a second line, so ``skbundle inspect PATH | grep 'worst radius'``
finds the whole row. Tables keep their natural width (their columns fit their cells); only a
frame that fills the line (a rule, a panel) is drawn at ``FRAME_WIDTH``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, ConsoleDimensions
from rich.panel import Panel
from rich.rule import Rule
from rich.text import Text

PLAIN_WIDTH = 100_000
"""The width of a console that is not a terminal: wider than any line skbundle prints."""
FRAME_WIDTH = 80
"""The width of a rule or a panel printed to a console that is not a terminal."""


class _Console(Console):
    """A Rich console that prints for a program when its stream is not a terminal (see the
    module docstring); on a terminal it is Rich's own."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        return size if self.is_terminal else ConsoleDimensions(PLAIN_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]

    def print(self, *objects: Any, **options: Any) -> None:
        if (
            not self.is_terminal
            and options.get("width") is None
            and any(isinstance(o, (Panel, Rule)) for o in objects)
        ):
            options["width"] = FRAME_WIDTH  # a frame fills the line: as wide as a terminal's
        super().print(*objects, **options)


console = _Console(highlight=False)
err_console = _Console(stderr=True, highlight=False)

# C0 controls (ESC, BEL, CR, backspace...), DEL and C1 controls (CSI and OSC have one-byte
# forms at 0x9b and 0x9d); Unicode bidi embeddings, overrides, isolates and marks, which
# reorder what is shown; and the Unicode line and paragraph separators.
_BIDI_AND_SEPARATORS = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f" + _BIDI_AND_SEPARATORS + "]")
_UNSAFE_KEEP_NEWLINES = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f" + _BIDI_AND_SEPARATORS + "]")
MAX_LINE = 1000
"""The longest one-line message printed for an unexpected error, in characters."""


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def plain(value: object, style: str = "", *, multiline: bool = False) -> Text:
    """``value`` as terminal-safe plain text: controls made visible, markup never parsed.

    Parameters
    ----------
    value
        Anything; it is turned into text with ``str``.
    style
        Our own Rich style for the whole text, e.g. ``"bold"``.
    multiline
        Keep line feeds (for our multi-line error messages); otherwise they are shown as
        ``\\x0a`` too, so a value cannot forge a line of output.

    Examples
    --------
    >>> plain("evil\\x1b]52;c;aGk=\\x07 [link=https://x]click[/link]").plain
    'evil\\\\x1b]52;c;aGk=\\\\x07 [link=https://x]click[/link]'
    """
    pattern = _UNSAFE_KEEP_NEWLINES if multiline else _UNSAFE
    return Text(pattern.sub(_visible, str(value)), style=style)


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

# The thresholds of a readiness checklist: 'skbundle check' and a gated 'registry alias'.
MinAccuracyOpt = Annotated[
    float | None,
    typer.Option("--min-accuracy", min=0.0, max=1.0, help="Required test accuracy (classifiers)."),
]
MinR2Opt = Annotated[
    float | None, typer.Option("--min-r2", max=1.0, help="Required test R² (regressors).")
]
MaxRmseOpt = Annotated[
    float | None,
    typer.Option(
        "--max-rmse", min=0.0, help="Largest test RMSE allowed, in the target's unit (regressors)."
    ),
]
MaxP99Opt = Annotated[
    float, typer.Option("--max-p99-ms", min=0.0, help="Single-row p99 latency budget (ms).")
]
RequestsOpt = Annotated[
    int, typer.Option("--requests", min=1, help="Requests sent by the load probe.")
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


def print_error(message: object, *, multiline: bool = False) -> None:
    """``error: <message>`` on stderr as plain text, one line per line of the message (not
    wrapped to the terminal's width, so a log collector sees whole lines)."""
    err_console.print(
        Text.assemble(("error:", "bold red"), " ", plain(message, multiline=multiline)),
        soft_wrap=True,
    )


def print_warning(message: object) -> None:
    """``warning: <message>`` on stderr; the message is printed as plain text."""
    err_console.print(Text.assemble(("warning:", "yellow"), " ", plain(message)))


@contextmanager
def errors_to_exit(code: int = 1, *, unexpected: bool = False) -> Iterator[None]:
    """Render an skbundle error (or a bad file) as a red message and exit with ``code``.

    With ``unexpected``, any other exception also ends in ``code`` with a one-line message
    instead of a traceback: for ``skbundle drift``, whose exit codes 1 and 2 are verdicts a
    scheduler acts on, a crash must never read as one. Our own exits pass through.
    """
    import click

    from skbundle.errors import InputValidationError, SkbundleError

    try:
        yield
    except SkbundleError as exc:
        # Only the validator's message has lines of its own (one per problem, names quoted
        # with repr); in any other, a line break came from the bundle and is shown escaped.
        print_error(exc, multiline=isinstance(exc, InputValidationError))
        raise typer.Exit(code) from None
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print_error(exc, multiline=False)
        raise typer.Exit(code) from None
    except (click.exceptions.Exit, click.ClickException, click.Abort):
        raise
    except Exception as exc:
        if not unexpected:
            raise
        detail = " ".join(str(exc).split())
        if len(detail) > MAX_LINE:
            detail = detail[:MAX_LINE] + "..."
        print_error(
            f"unexpected {type(exc).__name__}: {detail or 'no message'} (exit {code}: nothing "
            "was concluded; please report this with the command that caused it)"
        )
        raise typer.Exit(code) from None
    except KeyboardInterrupt:
        if not unexpected:
            raise
        print_error(f"interrupted (exit {code}: nothing was concluded)")
        raise typer.Exit(code) from None


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def number(value: object, spec: str) -> Text:
    """A figure read from a bundle, formatted with ``spec``; anything else shown as text.

    The manifest's metrics and benchmarks are free-form JSON: a forged bundle can put a
    string where a number belongs, and ``format`` would raise on it.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Text(format(value, spec))
    return plain("-" if value is None else repr(value))


_UNSAFE_IN_JSON = re.compile(r"[\x7f-\x9f" + _BIDI_AND_SEPARATORS + "]")


def json_for_terminal(text: str) -> str:
    """JSON text with DEL, C1 controls and bidi characters written as ``\\uXXXX`` escapes.

    The same JSON (a parser reads the same strings), but nothing a terminal acts on: orjson
    already escapes C0 controls, and these can only occur inside strings.
    """
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
