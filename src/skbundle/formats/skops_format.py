"""skops: scikit-learn's secure format. Loading constructs only types that were checked first.

The file is a zip archive: ``schema.json`` names the type of every object, arrays sit beside
it as ``.npy`` files. Before anything is inflated, the archive's declared sizes are capped
(``skbundle.trust.skops_types``). Before anything is constructed, every type the schema names
(read as JSON, no code) and every type ``skops.io.get_untrusted_types`` reports is checked
against skbundle's own allowlist (``skbundle.trust.allowlist``: by what each name resolves to)
plus the names the caller passed. Only then does ``skops.io.loads`` run, trusting exactly the
names that passed. The set of trusted types never comes from the bundle.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from skbundle.core.runtime import Signature, SklearnPredictor
from skbundle.errors import UntrustedArtifactError, preview
from skbundle.formats._boundary import reading, writing
from skbundle.formats._protocol import SaveContext
from skbundle.trust.allowlist import SKOPS_CONTAINERS, refusal_hint, untrusted
from skbundle.trust.fitted import validate_fitted
from skbundle.trust.skops_types import types_in


class SkopsFormat:
    name = "skops"
    filename = "model.skops"
    engine = "scikit-learn"
    needs_trust = False

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return {}

    def save(self, pipeline: Any, directory: Path, context: SaveContext) -> Path:
        import skops.io as sio

        path = directory / self.filename
        with writing("skops cannot store the pipeline"):
            # Deflated: the arrays of a forest shrink about 20-fold.
            data = sio.dumps(pipeline, compression=zipfile.ZIP_DEFLATED)
        path.write_bytes(data)
        return path

    def imports(self, data: bytes, *, source: str) -> frozenset[str]:
        return frozenset(types_in(data, source=source))

    def load(
        self,
        data: bytes,
        *,
        source: str,
        signature: Signature | None = None,
        trusted: frozenset[str] = frozenset(),
    ) -> SklearnPredictor:
        found = types_in(data, source=source)
        refused = untrusted(found, SKOPS_CONTAINERS | trusted)
        if refused:
            raise UntrustedArtifactError(
                source,
                f"it would construct {len(refused)} type{'s' if len(refused) != 1 else ''} "
                f"outside skbundle's allowlist: {preview(refused)}",
                refusal_hint(
                    refused,
                    nothing="Nothing was constructed.",
                    otherwise="If you trust those types, pass them as trusted_types=[...] to "
                    "skbundle.load() (CLI: --trust-type NAME, once per type); never take that "
                    "list from the file.",
                ),
            )
        # Exactly the names that passed the check, so skops' own audit agrees with ours.
        with reading(source, "skops"):
            model = _construct(data, sorted(found))
        validate_fitted(model, source=source)
        return SklearnPredictor(model, signature)


def _construct(data: bytes, trusted: list[str]) -> Any:
    """The one place a skops file is turned into objects (tests patch it to prove the audit)."""
    import skops.io as sio

    return sio.loads(data, trusted=trusted)
