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
]

for _module in COMMAND_MODULES:
    importlib.import_module(f"skbundle.cli.{_module}").register(app)


def main() -> None:
    """Entry point of the ``skbundle`` console script."""
    app()
