"""Where a format's library meets skbundle: its exceptions become ours, in one place each.

Serializers, converters and readers raise whatever their authors chose (pickle's
``PicklingError``, skops' ``TypeError``, skl2onnx's ``MissingShapeCalculator``, protobuf's
``DecodeError``, onnxruntime's ``Fail``...). Handlers wrap each call into a library in one of
these context managers, so the rest of skbundle sees only :class:`FormatUnavailable` (at save
time: the format cannot represent this pipeline) or :class:`UntrustedArtifactError` (at load
time: the file cannot be turned into a runtime).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from skbundle.errors import FormatUnavailable, SkbundleError, UntrustedArtifactError
from skbundle.formats._protocol import shorten


@contextmanager
def writing(what: str) -> Iterator[None]:
    """Map a library's failure to store the pipeline to :class:`FormatUnavailable`.

    ``what`` reads as the subject of the message, e.g. ``"joblib could not pickle the
    pipeline"``.
    """
    try:
        yield
    except SkbundleError:
        raise
    except Exception as exc:  # the boundary: every library error class ends here
        raise FormatUnavailable(shorten(f"{what}: {type(exc).__name__}: {exc}")) from exc


@contextmanager
def reading(source: str, library: str) -> Iterator[None]:
    """Map a library's failure to read verified bytes to :class:`UntrustedArtifactError`."""
    try:
        yield
    except SkbundleError:
        raise
    except Exception as exc:  # the boundary: every library error class ends here
        raise UntrustedArtifactError(
            source,
            f"{library} cannot load it ({type(exc).__name__}: {shorten(str(exc))})",
            "The file does not match the installed libraries or was damaged; rebuild the "
            "bundle with this environment.",
        ) from exc
