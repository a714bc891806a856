"""Serving a bundle over HTTP: ``create_app(bundle)`` returns an ASGI app.

See ``skbundle.serve.app`` for the endpoints, ``skbundle.serve.runner`` for running it with
uvicorn (``skbundle serve``).
"""

from __future__ import annotations

from skbundle.serve.app import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_ROWS,
    PredictionHook,
    ServeOptions,
    create_app,
)

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_ROWS",
    "PredictionHook",
    "ServeOptions",
    "create_app",
]
