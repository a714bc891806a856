"""The model registry: versions of bundles, aliases such as ``@production``, and an audit log
of every alias move; ``models:/NAME@ALIAS`` sources for the server.

>>> from skbundle.registry import Registry
>>> with Registry.open() as registry:          # ./skbundle-registry, or SKBUNDLE_REGISTRY
...     version = registry.push("models/breast-cancer")
...     registry.pull("breast-cancer@production", "/srv/model")

Moving an alias through its gate (the readiness checklist) is
:func:`skbundle.lifecycle.promote`; :meth:`Registry.set_alias` is the low-level step it takes.
Needs the ``registry`` extra (SQLAlchemy, Alembic; psycopg for PostgreSQL, fsspec for remote
blobs).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from skbundle.registry.records import AliasEvent, FileEntry, GateRecord, ModelVersion, SourceState
from skbundle.registry.refs import Ref, parse_model_uri, parse_ref

if TYPE_CHECKING:
    from skbundle.registry._db import DEFAULT_LOCATION, ENV_BLOBS, ENV_REGISTRY
    from skbundle.registry.source import RegistrySource
    from skbundle.registry.store import Registry

# What needs SQLAlchemy is imported on first use, so that a server (which imports this
# package for SourceState) starts without the registry extra installed.
_LAZY = {
    "DEFAULT_LOCATION": "skbundle.registry._db",
    "ENV_BLOBS": "skbundle.registry._db",
    "ENV_REGISTRY": "skbundle.registry._db",
    "RegistrySource": "skbundle.registry.source",
    "Registry": "skbundle.registry.store",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'skbundle.registry' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

__all__ = [
    "DEFAULT_LOCATION",
    "ENV_BLOBS",
    "ENV_REGISTRY",
    "AliasEvent",
    "FileEntry",
    "GateRecord",
    "ModelVersion",
    "Ref",
    "Registry",
    "RegistrySource",
    "SourceState",
    "parse_model_uri",
    "parse_ref",
]
