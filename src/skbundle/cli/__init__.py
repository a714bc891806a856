"""The ``skbundle`` command line. Thin: parse, call the library, render.

Each command group lives in its own module and registers itself on ``app``; heavy imports
happen inside the commands so that ``skbundle --help`` stays fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="skbundle",
    help="Turn a fitted scikit-learn Pipeline into a verified bundle, then load, predict, "
    "serve, check and monitor it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# One module per command group; each defines register(app).
COMMAND_MODULES = [
    "bundle_commands",
    "trust_commands",
    "readiness_commands",
    "drift_commands",
    "serve_commands",
    "registry_commands",
    "export_commands",
]

for _module in COMMAND_MODULES:
    importlib.import_module(f"skbundle.cli.{_module}").register(app)


def main() -> None:
    """Entry point of the ``skbundle`` console script.

    A command that needs an extra that is not installed (``skbundle demo`` without
    ``skbundle[build]``) ends with the install command, not an ImportError traceback.
    """
    import sys

    from skbundle.core.environment import missing_extra

    try:
        app()
    except ImportError as exc:
        missing = missing_extra(exc, f"'skbundle {' '.join(sys.argv[1:2])}'")
        if missing is None:
            raise
        from skbundle.cli._common import print_error

        print_error(missing)
        raise SystemExit(1) from None
