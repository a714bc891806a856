"""Model formats, registered as data: ``FORMATS[name]`` is the handler for that format.

A handler writes the fitted pipeline into a bundle directory and builds a runtime from verified
bytes. Handlers run in registry order at save time; at load time the bundle chooses among the
formats its manifest lists (see ``skbundle.bundle.load``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from skbundle.runtime import Predictor


class FormatUnavailable(Exception):
    """A handler cannot represent this pipeline; the message says why (recorded in the manifest)."""


def shorten(text: str, limit: int = 300) -> str:
    """An error on one line, at most ``limit`` characters: what the manifest records."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


@dataclass(frozen=True)
class SaveContext:
    """What a handler may need besides the pipeline: a sample of float input in schema order."""

    feature_names: tuple[str, ...]
    sample: np.ndarray
    options: dict[str, Any]


class FormatHandler(Protocol):
    """One on-disk format of the fitted pipeline."""

    name: str
    filename: str
    engine: str
    needs_trust: bool
    """True when loading could run arbitrary code (pickle): load() then requires trust."""

    def save(self, pipeline: Any, directory: Path, context: SaveContext) -> Path:
        """Write the pipeline; return the path written. Raise FormatUnavailable if impossible."""
        ...

    def load(self, data: bytes, *, source: str, trusted: frozenset[str] = frozenset()) -> Predictor:
        """Build a runtime from verified bytes. ``source`` names the file in error messages.

        ``trusted`` holds names the caller trusts beyond ``skbundle.allowlist`` (formats that
        import types check every one against both; the file itself never adds to them).
        """
        ...


def _registry() -> dict[str, FormatHandler]:
    from skbundle.formats.joblib_format import JoblibFormat
    from skbundle.formats.onnx_format import OnnxFormat
    from skbundle.formats.skops_format import SkopsFormat

    return {"joblib": JoblibFormat(), "skops": SkopsFormat(), "onnx": OnnxFormat()}


FORMATS: dict[str, FormatHandler] = _registry()
