"""What a server serves, asked again and again: a model source names the version to serve now.

A server follows a :class:`ModelSource`: every ``--poll`` seconds (and on SIGHUP) it asks
``source.current()`` off the event loop, and when the returned ``token`` differs from the one
it serves, it loads and verifies ``state.path`` exactly as at start-up and swaps the new
version in between requests (see :mod:`skbundle.serve.app`).

Two kinds of source:

* :class:`DirectorySource`: a bundle directory. The path may be a symbolic link that an
  operator flips atomically from one bundle directory to another (``ln -s v2 next && mv -T
  next current``); it is resolved again on every call, and the state names the *resolved*
  directory, so the loader reads every file of one version even if the link flips while it
  reads. The token is the SHA-256 of ``bundle.json``: it changes exactly when another bundle
  (or a changed one) is there.
* ``models:/NAME@ALIAS`` and ``models:/NAME/VERSION``: a version in a registry
  (``skbundle.registry.RegistrySource``, which pulls it into a verified cache directory).

:func:`open_source` turns what the user typed into one or the other.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol

from skbundle.core.manifest import read_manifest
from skbundle.registry.records import SourceState

REGISTRY_SCHEME = "models:/"
ENV_REGISTRY = "SKBUNDLE_REGISTRY"


class ModelSource(Protocol):
    """Something a server follows; ``current()`` may block (a database, a file copy), so a
    server calls it off its event loop."""

    spec: str
    """What the user typed: a path, or ``models:/...``."""

    def current(self) -> SourceState: ...


class DirectorySource:
    """A bundle directory, or a link to one, read again on every :meth:`current`.

    Examples
    --------
    >>> source = DirectorySource("models/current")    # a link to models/breast-cancer-1.0.0
    >>> source.current().version
    '1.0.0'
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.spec = str(path)
        self.path = Path(path)

    def current(self) -> SourceState:
        """The bundle the path leads to now.

        Raises
        ------
        ManifestError
            There is no bundle there (yet), or its ``bundle.json`` cannot be read.
        """
        # Resolved once per call: every later read goes to this directory, not the link.
        resolved = Path(os.path.realpath(self.path))
        manifest = read_manifest(resolved)
        token = hashlib.sha256(manifest.source_bytes()).hexdigest()
        return SourceState(version=manifest.version, path=resolved, token=token)

    def __repr__(self) -> str:
        return f"DirectorySource({self.spec!r})"


def open_source(spec: str | os.PathLike[str], registry: str | None = None) -> ModelSource:
    """The source ``spec`` names: a bundle directory (or link), or ``models:/...``.

    Parameters
    ----------
    spec
        A path, ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``.
    registry
        The registry (a directory or a database URL) that ``models:/`` names are looked up
        in; ``SKBUNDLE_REGISTRY`` when None. Not used for a path.

    Raises
    ------
    RegistryError
        ``spec`` starts with ``models:/`` but is not ``models:/NAME@ALIAS`` or
        ``models:/NAME/VERSION`` (looking the name up happens in ``current()``).

    Examples
    --------
    >>> open_source("models/breast-cancer")
    DirectorySource('models/breast-cancer')
    """
    text = os.fspath(spec)
    if not text.startswith(REGISTRY_SCHEME):
        return DirectorySource(text)
    from skbundle.registry.source import RegistrySource  # needs the registry extra

    return RegistrySource(text, registry=registry or os.environ.get(ENV_REGISTRY))
