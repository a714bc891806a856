"""joblib: the scikit-learn community's default format. Plain ``joblib.load()`` works on it.

Unpickling runs code chosen by whoever wrote the file, so this handler's ``load`` is only ever
called after the caller has said the bundle is trusted (see ``skbundle.bundle.load``), and even
then every name the pickle would import is audited first (``skbundle.audit``).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import joblib

from skbundle import audit
from skbundle.errors import UntrustedArtifactError
from skbundle.formats import FormatUnavailable, SaveContext
from skbundle.runtime import SklearnPredictor

# The first bytes of each container joblib writes: a raw pickle, or one of its compressors.
MAGIC = {
    b"\x80": "pickle",
    b"\x78": "zlib",
    b"\x1f\x8b": "gzip",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
    b"\x5d\x00\x00": "lzma",
    b"\x04\x22\x4d\x18": "lz4",
}

COMPRESSORS = ("zlib", "gzip", "bz2", "lzma", "xz", "lz4")


def sniff(data: bytes) -> str | None:
    """The container a joblib file uses, from its magic bytes; None when it is not one."""
    for magic, kind in sorted(MAGIC.items(), key=lambda item: -len(item[0])):
        if data.startswith(magic):
            return kind
    return None


def compression_option(compress: int | tuple[str, int]) -> int | tuple[str, int]:
    """Check a ``compress`` option the way joblib reads it, with our own error message."""
    if isinstance(compress, bool) or not isinstance(compress, (int, tuple)):
        raise ValueError(
            f"compress: expected a level 0-9 or a (codec, level) pair, got {compress!r}"
        )
    level = compress if isinstance(compress, int) else compress[1]
    if isinstance(compress, tuple) and (len(compress) != 2 or compress[0] not in COMPRESSORS):
        raise ValueError(
            f"compress: expected a codec among {list(COMPRESSORS)} and a level, got {compress!r}"
        )
    if not 0 <= level <= 9:
        raise ValueError(f"compress: expected a level from 0 to 9, got {level}")
    return compress


class JoblibFormat:
    name = "joblib"
    filename = "model.joblib"
    engine = "scikit-learn"
    needs_trust = True

    def save(self, pipeline: Any, directory: Path, context: SaveContext) -> Path:
        path = directory / self.filename
        compress = context.options.get("compress", ("zlib", 3))
        try:
            joblib.dump(pipeline, path, compress=compress)
        except (
            Exception
        ) as exc:  # pickling errors come in many classes (PicklingError, TypeError, ...)
            raise FormatUnavailable(f"joblib could not pickle the pipeline: {exc}") from exc
        return path

    def load(
        self, data: bytes, *, source: str, trusted: frozenset[str] = frozenset()
    ) -> SklearnPredictor:
        if sniff(data) is None:
            raise UntrustedArtifactError(
                source,
                f"its first bytes {data[:4]!r} are not those of a joblib file",
                "The file is not what the manifest says it is; rebuild the bundle.",
            )
        # Audit first: a refused file never reaches the unpickler, trusted or not.
        audit.check(data, source=source, trusted=trusted)
        return SklearnPredictor(_unpickle(data))


def _unpickle(data: bytes) -> Any:
    """The one place a bundle's pickle is deserialized (tests patch it to prove the audit)."""
    return joblib.load(io.BytesIO(data))
