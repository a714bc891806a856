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

from skbundle.registry._db import DEFAULT_LOCATION, ENV_BLOBS, ENV_REGISTRY
from skbundle.registry.records import AliasEvent, FileEntry, GateRecord, ModelVersion
from skbundle.registry.refs import Ref, parse_model_uri, parse_ref
from skbundle.registry.source import RegistrySource, SourceState
from skbundle.registry.store import Registry

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
