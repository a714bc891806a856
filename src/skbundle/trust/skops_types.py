"""The skops type audit: every type a skops file would construct, read as data.

A skops file is a zip archive whose ``schema.json`` names the type of every object. The names
are read here from the JSON (no code runs) and joined with what ``skops.io.get_untrusted_types``
reports, so that :mod:`skbundle.formats.skops_format` can check each against the allowlist
before anything is constructed.

Before anything is inflated, the archive's sizes are capped: a 4 MB file whose
``schema.json`` inflates to 4 GiB is a decompression bomb, not a model. The caps
(:data:`MAX_RATIO`, :data:`MAX_INFLATED`, :data:`MAX_MEMBERS`) leave a wide margin over what
``skbundle.save`` writes: the demo's forest of 100 trees has 506 members that inflate to 11
times the archive's size (2.5 MB from 229 KB).
"""

from __future__ import annotations

import functools
import io
import json
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

from skbundle.errors import UntrustedArtifactError

_SCHEMA = "schema.json"

MAX_RATIO = 200
"""The members of an archive may inflate to at most this many times the archive's size. Deflate
cannot shrink real arrays much past 20-fold; a run of one repeated byte shrinks ~1000-fold."""

MAX_INFLATED = 1 << 30
"""And to at most this many bytes in total (1 GiB), however large the archive."""

MAX_MEMBERS = 100_000
"""And hold at most this many members (the demo's forest of 100 trees has 506)."""

_REBUILD = "The file is not what the manifest says it is; rebuild the bundle."


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


def inflated_cap(size: int, *, max_ratio: int = MAX_RATIO, max_inflated: int = MAX_INFLATED) -> int:
    """How many bytes an archive of ``size`` bytes may inflate to in total."""
    return min(max_ratio * size, max_inflated)


def check_sizes(
    archive: zipfile.ZipFile,
    size: int,
    *,
    source: str,
    max_ratio: int = MAX_RATIO,
    max_inflated: int = MAX_INFLATED,
    max_members: int = MAX_MEMBERS,
) -> int:
    """Refuse an archive whose members would inflate past the caps, from the sizes its
    directory declares (nothing is inflated). Returns the cap.

    zipfile never inflates a member past its declared size (it stops there and checks the
    CRC), so capping the declared sizes caps every later read, ours and skops' alike.

    Raises
    ------
    UntrustedArtifactError
        Naming the member that crosses the cap, or the number of members.
    """
    members = archive.infolist()
    if len(members) > max_members:
        raise UntrustedArtifactError(
            source,
            f"the archive has {len(members)} members, more than the {max_members} allowed",
            _REBUILD,
        )
    cap = inflated_cap(size, max_ratio=max_ratio, max_inflated=max_inflated)
    total = 0
    for member in members:
        total += member.file_size
        if total > cap:
            raise UntrustedArtifactError(
                source,
                f"its member {member.filename!r} inflates to {member.file_size} bytes, bringing "
                f"the archive to {total} bytes: more than the {cap} allowed for a {size}-byte "
                f"archive ({max_ratio} times its size, at most {max_inflated} bytes); it looks "
                "like a decompression bomb",
                _REBUILD,
            )
    return cap


def _read_bounded(archive: zipfile.ZipFile, name: str, *, source: str) -> bytes:
    """A member's bytes, reading at most one byte more than its header declares (which
    :func:`check_sizes` capped), whatever the compressed stream holds."""
    declared = archive.getinfo(name).file_size
    with archive.open(name) as fh:
        data = fh.read(declared + 1)
    if len(data) > declared:
        raise UntrustedArtifactError(
            source,
            f"its member {name!r} inflates to more than the {declared} bytes its header declares",
            _REBUILD,
        )
    return data


def types_in(
    data: bytes,
    *,
    source: str,
    max_ratio: int = MAX_RATIO,
    max_inflated: int = MAX_INFLATED,
    max_members: int = MAX_MEMBERS,
) -> set[str]:
    """Every type a skops file would construct; see :func:`_types_in`.

    The answer for the last two files is kept: ``save()`` asks for the names a file it has
    just written imports, then loads it (which asks again), and walking skops' tree costs a
    quarter of a second for a forest. The answer depends on the bytes alone, and a refusal is
    never kept.
    """
    return set(_types_cached(data, source, max_ratio, max_inflated, max_members))


@functools.lru_cache(maxsize=2)
def _types_cached(
    data: bytes, source: str, max_ratio: int, max_inflated: int, max_members: int
) -> frozenset[str]:
    return frozenset(
        _types_in(
            data,
            source=source,
            max_ratio=max_ratio,
            max_inflated=max_inflated,
            max_members=max_members,
        )
    )


def _types_in(
    data: bytes,
    *,
    source: str,
    max_ratio: int = MAX_RATIO,
    max_inflated: int = MAX_INFLATED,
    max_members: int = MAX_MEMBERS,
) -> set[str]:
    """Every type a skops file would construct, from its schema and from skops' own audit.

    Parameters
    ----------
    data
        The skops file's bytes.
    source
        The file's path, for messages.
    max_ratio, max_inflated, max_members
        The size caps (see :data:`MAX_RATIO`, :data:`MAX_INFLATED`, :data:`MAX_MEMBERS`).

    Raises
    ------
    UntrustedArtifactError
        The archive would inflate past the caps, or the bytes are not a skops archive with a
        readable schema.
    """
    import skops.io as sio

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            check_sizes(
                archive,
                len(data),
                source=source,
                max_ratio=max_ratio,
                max_inflated=max_inflated,
                max_members=max_members,
            )
            schema = json.loads(_read_bounded(archive, _SCHEMA, source=source))
        named = set(_named_types(schema))
        reported = sio.get_untrusted_types(data=data)
    except (
        zipfile.BadZipFile,
        zlib.error,
        NotImplementedError,  # a compression method zipfile cannot inflate
        EOFError,
        KeyError,
        ValueError,
        TypeError,  # a schema of the wrong shape, found by skops' tree
        AttributeError,
        RecursionError,  # a schema nested too deep to walk
    ) as exc:
        raise UntrustedArtifactError(
            source,
            f"it is not a skops archive with a readable {_SCHEMA} ({exc})",
            _REBUILD,
        ) from exc
    return named | set(reported)
