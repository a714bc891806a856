"""The handler protocol: everything build and load need to know about a model format."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from skbundle.core.runtime import Predictor, Signature


def shorten(text: str, limit: int = 300) -> str:
    """An error on one line, at most ``limit`` characters: what the manifest records."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


@dataclass(frozen=True)
class SaveContext:
    """What a handler may need besides the pipeline: a sample of input in schema order (float64,
    categorical features as codes), the schema and output kind, and the save options."""

    feature_names: tuple[str, ...]
    sample: np.ndarray
    options: dict[str, Any]
    signature: Signature | None = None
    """None: numeric features, the estimator's own output (tools without a manifest)."""


class FormatHandler(Protocol):
    """One on-disk format of the fitted pipeline."""

    name: str
    filename: str
    engine: str
    needs_trust: bool
    """True when loading could run arbitrary code (pickle): load() then requires trust."""

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The save options this format reads, checked; raise ValueError naming a bad one."""
        ...

    def save(self, pipeline: Any, directory: Path, context: SaveContext) -> Path:
        """Write the pipeline; return the path written. Raise FormatUnavailable if impossible."""
        ...

    def imports(self, data: bytes, *, source: str) -> frozenset[str]:
        """Every name the file would import or construct, read without constructing anything.

        ``save()`` trusts exactly these names when it reads back a file it has just written,
        to measure parity; at load time they must come from the allowlist or the caller.
        """
        ...

    def load(
        self,
        data: bytes,
        *,
        source: str,
        signature: Signature | None = None,
        trusted: frozenset[str] = frozenset(),
    ) -> Predictor:
        """Build a runtime from verified bytes. ``source`` names the file in error messages;
        ``signature`` (from the manifest) is the input schema and the output the runtime gives
        (None: numeric input, and the output the estimator itself offers, for tools that hold
        a model file without its manifest).

        ``trusted`` holds names the caller trusts beyond ``skbundle.trust.allowlist`` (formats
        that import types check every one against both; the file itself never adds to them).
        Whatever the format's library raises is reported as an ``UntrustedArtifactError``.
        """
        ...
