"""Helpers shared by the readiness tests: edit a real bundle the way a careless hand would."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from skbundle.manifest import read_manifest, write_manifest


def edit_manifest(path: Path, **changes: Any) -> None:
    """Rewrite bundle.json with some fields changed (bundle.json is not hashed)."""
    manifest = read_manifest(path)
    write_manifest(path, manifest.model_copy(update=changes))


def edit_features(path: Path, **changes: Any) -> None:
    """Change the same fields on every feature of the schema."""
    manifest = read_manifest(path)
    features = [f.model_copy(update=changes) for f in manifest.features]
    write_manifest(path, manifest.model_copy(update={"features": features}))


def copy_bundle(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk; raises if the bytes are not a PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
