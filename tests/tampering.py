"""Helpers for tests that forge bundles the way an attacker would: change a file, then make
the manifest's hash match it, so that integrity checks pass and the next line of defence is
what gets tested."""

from __future__ import annotations

import io
import os
from pathlib import Path

import joblib

from skbundle.core.integrity import describe_file
from skbundle.core.manifest import read_manifest, write_manifest


def rehash(bundle: Path, relpath: str) -> None:
    """Recompute one artifact's hash and size in the manifest, as a forger would."""
    manifest = read_manifest(bundle)
    artifacts = [
        describe_file(bundle, a.path, role=a.role, fmt=a.format) if a.path == relpath else a
        for a in manifest.artifacts
    ]
    write_manifest(bundle, manifest.model_copy(update={"artifacts": artifacts}))


class SystemPayload:
    """Unpickling this runs ``os.system(command)``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


def payload_bytes(sentinel: Path, *, compress: int | tuple[str, int] = 3) -> bytes:
    """A joblib file whose unpickling creates ``sentinel``, wrapped like a real model."""
    buf = io.BytesIO()
    joblib.dump({"model": SystemPayload(f"touch {sentinel}")}, buf, compress=compress)
    return buf.getvalue()
