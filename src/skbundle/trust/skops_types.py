"""The skops type audit: every type a skops file would construct, read as data.

A skops file is a zip archive whose ``schema.json`` names the type of every object. The names
are read here from the JSON (no code runs) and joined with what ``skops.io.get_untrusted_types``
reports, so that :mod:`skbundle.formats.skops_format` can check each against the allowlist
before anything is constructed.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

from skbundle.errors import UntrustedArtifactError

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
