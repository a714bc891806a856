"""Inflate a compressed joblib file the way joblib will, within a size limit checked as it goes.

A few kilobytes of zlib can inflate to gigabytes. The limit is checked chunk by chunk, before
each piece is kept, so a decompression bomb costs at most the limit in memory, never the size
it claims. The inflated bytes land in the ``io.BytesIO`` that the audit then reads (no second
copy). A compressed stream must end cleanly: truncated streams, bytes after the end marker
and second streams (which joblib's readers would go on to read) are refused, so the audit
reads exactly the bytes joblib will.
"""

from __future__ import annotations

import bz2
import io
import lzma
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from skbundle.errors import UntrustedArtifactError

CHUNK = 1 << 20
"""How many inflated bytes are produced at a time."""


@dataclass(frozen=True)
class InflateLimit:
    """How far a compressed joblib file may inflate before it is refused as a bomb.

    The limit for a file of ``n`` compressed bytes is ``ratio * n``, but at least ``floor``
    (a small model with one all-zero array compresses far better than 200x and is harmless
    at that size) and at most ``ceiling``, whatever the file's size.
    """

    ratio: int = 200
    floor: int = 64 << 20
    ceiling: int = 2 << 30

    def for_size(self, compressed: int) -> int:
        return min(self.ceiling, max(self.floor, self.ratio * compressed))

    def describe(self, compressed: int) -> str:
        return (
            f"{self.ratio}x its {compressed} compressed bytes, at least {self.floor} and "
            f"at most {self.ceiling} bytes"
        )


def _zlib(wbits: int) -> Callable[[], Any]:
    return lambda: zlib.decompressobj(wbits)


def _lz4() -> Callable[[], Any] | None:
    try:  # optional: joblib only writes lz4 when the lz4 package is installed
        from lz4.frame import LZ4FrameDecompressor  # type: ignore[import-not-found]
    except ImportError:
        return None
    return LZ4FrameDecompressor  # type: ignore[no-any-return]


# joblib's readers: zlib and gzip through its own BinaryZlibFile (wbits 15 and 31), bz2 and
# lzma/xz through the standard library's files (format detected, as lzma.LZMAFile does).
CODECS: dict[str, Callable[[], Any]] = {
    "zlib": _zlib(zlib.MAX_WBITS),
    "gzip": _zlib(31),
    "bz2": bz2.BZ2Decompressor,
    "xz": lzma.LZMADecompressor,
    "lzma": lzma.LZMADecompressor,
}
_LZ4 = _lz4()
if _LZ4 is not None:
    CODECS["lz4"] = _LZ4

_ERRORS = (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError)


def inflate(data: bytes, kind: str, *, source: str, limit: InflateLimit) -> io.BytesIO:
    """The inflated bytes of ``data`` (compressed with ``kind``, a key of :data:`CODECS`).

    Raises
    ------
    UntrustedArtifactError
        It inflates past the limit, does not decompress, is truncated, or has bytes after
        the end of its compressed stream.
    """
    most = limit.for_size(len(data))
    out = io.BytesIO()
    decompressor: Any = CODECS[kind]()
    is_zlib = isinstance(decompressor, type(zlib.decompressobj()))
    feed = data
    try:
        while not decompressor.eof:
            # Ask for one byte more than the room left: getting it proves the limit is passed.
            piece = decompressor.decompress(feed, min(CHUNK, most + 1 - out.tell()))
            feed = decompressor.unconsumed_tail if is_zlib else b""
            if out.tell() + len(piece) > most:
                raise UntrustedArtifactError(
                    source,
                    f"it inflates to more than {most} bytes ({limit.describe(len(data))}), "
                    "the limit past which skbundle treats a compressed model as a "
                    "decompression bomb",
                    "Nothing was unpickled. If you built this bundle, save it again "
                    "uncompressed (skbundle.save(..., compress=0)), or load its skops or "
                    "ONNX runtime instead.",
                )
            out.write(piece)
            if not piece and not feed and (is_zlib or decompressor.needs_input):
                break  # no input left and no output: the stream stops before its end
    except _ERRORS as exc:
        raise UntrustedArtifactError(
            source, f"it does not decompress as {kind} ({exc})", "Rebuild the bundle."
        ) from exc
    if not decompressor.eof:
        raise UntrustedArtifactError(
            source,
            f"its {kind} stream is truncated (it ends before its end marker)",
            "Rebuild the bundle.",
        )
    trailing = len(feed) + len(decompressor.unused_data)
    if trailing:
        raise UntrustedArtifactError(
            source,
            f"it has {trailing} more byte{'s' if trailing != 1 else ''} after the end of its "
            f"{kind} stream (joblib's reader would go on into them; a file joblib writes is "
            "one stream)",
            "Rebuild the bundle.",
        )
    out.seek(0)
    return out
