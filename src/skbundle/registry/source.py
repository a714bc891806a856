"""``models:/NAME@ALIAS`` and ``models:/NAME/VERSION`` as a model source for the server.

:class:`RegistrySource` follows the ``ModelSource`` protocol of ``skbundle.serve.sources``:
``spec`` (what the user typed) and ``current()`` (the version to serve now). It resolves the
reference in the registry on each call, pulls a version it has not seen into a verified cache
directory once, and returns its token ``NAME/VERSION/<bundle.json sha256>``, which changes
exactly when the alias moves to other bytes.

The cache is ``<registry directory>/cache/`` for a registry in a directory, else a folder in
the system's temporary directory named after the registry. The server's loader verifies the
pulled bundle again when it loads it, as for any directory.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path

from skbundle.core.files import MAX_MANIFEST_BYTES, read_bundle_file
from skbundle.core.layout import MANIFEST_NAME
from skbundle.errors import BundleExistsError, SkbundleError
from skbundle.registry.records import ModelVersion, SourceState
from skbundle.registry.refs import Ref, parse_model_uri
from skbundle.registry.store import Registry

CACHE_NAME = "cache"


class RegistrySource:
    """A bundle named by a ``models:/`` URI, pulled from a registry.

    Parameters
    ----------
    spec
        ``models:/NAME@ALIAS`` (follows the alias) or ``models:/NAME/VERSION`` (fixed).
    registry
        The registry's location (directory or URL); default ``SKBUNDLE_REGISTRY``, else
        ``./skbundle-registry``.

    Raises
    ------
    RegistryError
        ``spec`` is not a model URI (checked here, before any database is opened).
    """

    def __init__(self, spec: str, registry: str | os.PathLike[str] | None = None) -> None:
        self.spec = spec
        self.ref: Ref = parse_model_uri(spec)
        self._location = registry
        self._registry: Registry | None = None
        self._lock = threading.Lock()

    def _open(self) -> Registry:
        if self._registry is None:
            self._registry = Registry.open(self._location, create=False)
        return self._registry

    def _cache(self, registry: Registry) -> Path:
        if registry.directory is not None:
            return registry.directory / CACHE_NAME
        tag = hashlib.sha256(registry.location.encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"skbundle-registry-cache-{tag}"

    def _cached(self, registry: Registry, record: ModelVersion) -> Path:
        path = self._cache(registry) / record.name / f"{record.version}-{record.bundle_sha256[:16]}"
        if not self._intact(path, record):
            try:
                registry.pull(record.ref, path, overwrite=path.exists())
            except BundleExistsError:  # another process published it first
                if not self._intact(path, record):
                    raise
        return path

    @staticmethod
    def _intact(path: Path, record: ModelVersion) -> bool:
        try:
            raw = read_bundle_file(path, MANIFEST_NAME, max_bytes=MAX_MANIFEST_BYTES)
        except (OSError, SkbundleError):
            return False
        return hashlib.sha256(raw).hexdigest() == record.bundle_sha256

    def current(self) -> SourceState:
        """Resolve the reference now and return the version to serve (blocks: call it off the
        event loop).

        Raises
        ------
        RegistryLookupError
            The model, version or alias is not in the registry.
        RegistryIntegrityError
            A blob of the version does not match its hash.
        """
        with self._lock:
            registry = self._open()
            record = registry.resolve(self.ref)
            path = self._cached(registry, record)
        return SourceState(
            version=record.version,
            path=path,
            token=f"{record.name}/{record.version}/{record.bundle_sha256}",
        )

    def close(self) -> None:
        if self._registry is not None:
            self._registry.close()
            self._registry = None
