"""Model formats, registered as data: ``FORMATS[name]`` is the handler for that format.

A handler writes the fitted pipeline into a bundle directory, says what a file would import,
and builds a runtime from verified bytes; the protocol (:class:`FormatHandler`) carries all
that build and load need to know about a format, so no code outside this package asks which
format it holds. Handlers run in registry order at save time; at load time the bundle chooses
among the formats its manifest lists (see ``skbundle.bundle.load``).
"""

from __future__ import annotations

from skbundle.formats._protocol import FormatHandler, SaveContext, shorten
from skbundle.formats.joblib_format import JoblibFormat
from skbundle.formats.onnx_format import OnnxFormat
from skbundle.formats.skops_format import SkopsFormat

FORMATS: dict[str, FormatHandler] = {
    "joblib": JoblibFormat(),
    "skops": SkopsFormat(),
    "onnx": OnnxFormat(),
}

__all__ = ["FORMATS", "FormatHandler", "SaveContext", "shorten"]
