"""joblib: the scikit-learn community's default format. Plain ``joblib.load()`` works on it.

Unpickling runs code chosen by whoever wrote the file, so this handler's ``load`` is only ever
called after the caller has said the bundle is trusted (see ``skbundle.bundle.load``), and even
then every name the pickle would import is audited first (``skbundle.trust.audit``).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import joblib

from skbundle.core.runtime import Signature, SklearnPredictor
from skbundle.errors import UntrustedArtifactError
from skbundle.formats._boundary import reading, writing
from skbundle.formats._protocol import SaveContext
from skbundle.trust import audit
from skbundle.trust.fitted import validate_fitted

COMPRESSORS = ("zlib", "gzip", "bz2", "lzma", "xz", "lz4")
DEFAULT_COMPRESS: tuple[str, int] = ("zlib", 3)


def compression_option(compress: object) -> int | tuple[str, int]:
    """Check a ``compress`` option the way joblib reads it, with our own error message."""
    if isinstance(compress, bool) or not isinstance(compress, (int, tuple)):
        raise ValueError(
            f"compress: expected a level 0-9 or a (codec, level) pair, got {compress!r}"
        )
    if isinstance(compress, tuple) and (len(compress) != 2 or compress[0] not in COMPRESSORS):
        raise ValueError(
            f"compress: expected a codec among {list(COMPRESSORS)} and a level, got {compress!r}"
        )
    level = compress if isinstance(compress, int) else compress[1]
    if not isinstance(level, int) or not 0 <= level <= 9:
        raise ValueError(f"compress: expected a level from 0 to 9, got {level}")
    return compress


class JoblibFormat:
    name = "joblib"
    filename = "model.joblib"
    engine = "scikit-learn"
    needs_trust = True

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"compress": compression_option(options.get("compress", DEFAULT_COMPRESS))}

    def save(self, pipeline: Any, directory: Path, context: SaveContext) -> Path:
        path = directory / self.filename
        compress = context.options.get("compress", DEFAULT_COMPRESS)
        with writing("joblib could not pickle the pipeline"):
            joblib.dump(pipeline, path, compress=compress)
        return path

    def imports(self, data: bytes, *, source: str) -> frozenset[str]:
        return frozenset(audit.scan(data, source=source).imports)

    def load(
        self,
        data: bytes,
        *,
        source: str,
        signature: Signature | None = None,
        trusted: frozenset[str] = frozenset(),
    ) -> SklearnPredictor:
        if audit.sniff(data) is None:
            raise UntrustedArtifactError(
                source,
                f"its first bytes {data[:4]!r} are not those of a joblib file",
                "The file is not what the manifest says it is; rebuild the bundle.",
            )
        # Audit first: a refused file never reaches the unpickler, trusted or not.
        audit.check(data, source=source, trusted=trusted)
        with reading(source, "joblib"):
            model = _unpickle(data)
        validate_fitted(model, source=source)
        return SklearnPredictor(model, signature)


def _unpickle(data: bytes) -> Any:
    """The one place a bundle's pickle is deserialized (tests patch it to prove the audit)."""
    return joblib.load(io.BytesIO(data))
