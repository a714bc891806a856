"""skops: scikit-learn's secure format. Loading constructs only types that were checked first.

The file is a zip archive: ``schema.json`` names the type of every object, arrays sit beside
it as ``.npy`` files. Before anything is constructed, every type the schema names (read as
JSON, no code) and every type ``skops.io.get_untrusted_types`` reports is checked against
skbundle's own allowlist (``skbundle.allowlist``) plus the names the caller passed. Only then
does ``skops.io.loads`` run, trusting exactly the names that passed. The set of trusted types
never comes from the bundle.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from skbundle.allowlist import SKOPS_CONTAINERS, untrusted
from skbundle.errors import UntrustedArtifactError, preview
from skbundle.formats import FormatUnavailable, SaveContext, shorten
from skbundle.runtime import SklearnPredictor

_SCHEMA = "schema.json"


def _named_types(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        module, name = node.get("__module__"), node.get("__class__")
        if isinstance(module, str) and isinstance(name, str):
            yield f"{module}.{name}"
        for value in node.values():
            yield from _named_types(value)
    elif isinstance(node, list):
        for value in node:
            yield from _named_types(value)


def types_in(data: bytes, *, source: str) -> set[str]:
    """Every type a skops file would construct, from its schema and from skops' own audit.

    Raises
    ------
    UntrustedArtifactError
        The bytes are not a skops archive with a readable schema.
    """
    import skops.io as sio

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read(_SCHEMA))
        reported = sio.get_untrusted_types(data=data)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UntrustedArtifactError(
            source,
            f"it is not a skops archive with a readable {_SCHEMA} ({exc})",
            "The file is not what the manifest says it is; rebuild the bundle.",
        ) from exc
    return set(_named_types(schema)) | set(reported)


class SkopsFormat:
    name = "skops"
    filename = "model.skops"
    engine = "scikit-learn"
    needs_trust = False

    def save(self, pipeline: Any, directory: Path, context: SaveContext) -> Path:
        import skops.io as sio

        path = directory / self.filename
        try:
            # Deflated: the arrays of a forest shrink about 20-fold.
            data = sio.dumps(pipeline, compression=zipfile.ZIP_DEFLATED)
        except Exception as exc:  # skops raises TypeError/NotImplementedError/... per type
            raise FormatUnavailable(shorten(f"skops cannot store the pipeline: {exc}")) from exc
        path.write_bytes(data)
        return path

    def load(
        self, data: bytes, *, source: str, trusted: frozenset[str] = frozenset()
    ) -> SklearnPredictor:
        found = types_in(data, source=source)
        refused = untrusted(found, SKOPS_CONTAINERS | trusted)
        if refused:
            raise UntrustedArtifactError(
                source,
                f"it would construct {len(refused)} type{'s' if len(refused) != 1 else ''} "
                f"outside skbundle's allowlist: {preview(refused)}",
                "Nothing was constructed. If you trust those types, pass them as "
                "trusted_types=[...] to skbundle.load(); never take that list from the file.",
            )
        # Exactly the names that passed the check, so skops' own audit agrees with ours.
        return SklearnPredictor(_construct(data, sorted(found)))


def _construct(data: bytes, trusted: list[str]) -> Any:
    """The one place a skops file is turned into objects (tests patch it to prove the audit)."""
    import skops.io as sio

    return sio.loads(data, trusted=trusted)
