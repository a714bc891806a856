"""Hashing and verification of a bundle's files against its manifest.

Verification reads bytes only: it never deserializes anything, so it is safe to run on a
bundle from any source.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from skbundle.core.layout import NOT_LISTED
from skbundle.core.manifest import Artifact, Manifest, read_manifest
from skbundle.errors import BundleIntegrityError, IntegrityProblem

_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def describe_file(bundle_dir: Path, relpath: str, *, role: str, fmt: str) -> Artifact:
    """The manifest entry for a file already written into ``bundle_dir``."""
    path = bundle_dir / relpath
    return Artifact(
        path=relpath, role=role, format=fmt, bytes=path.stat().st_size, sha256=sha256_file(path)
    )


@dataclass(frozen=True)
class Verification:
    """The outcome of checking a bundle's files against its manifest."""

    bundle: str
    manifest: Manifest
    problems: list[IntegrityProblem]
    checked: list[Artifact]

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        if self.problems:
            raise BundleIntegrityError(self.bundle, self.problems)


def _present_files(bundle_dir: Path) -> set[str]:
    return {
        p.relative_to(bundle_dir).as_posix()
        for p in bundle_dir.rglob("*")
        if p.is_file() or p.is_symlink()
    }


def verify(bundle_dir: str | Path, manifest: Manifest | None = None) -> Verification:
    """Check every file of a bundle against the manifest, reading bytes only.

    Finds changed files (hash differs), missing files, and files present but not listed.
    Symbolic links are reported as unlisted or changed: a bundle holds regular files only.

    Raises
    ------
    ManifestError
        When ``manifest`` is not given and ``bundle.json`` cannot be read.
    """
    root = Path(bundle_dir)
    manifest = manifest if manifest is not None else read_manifest(root)
    problems: list[IntegrityProblem] = []
    present = _present_files(root)
    for artifact in manifest.artifacts:
        path = root / artifact.path
        if artifact.path not in present:
            problems.append(IntegrityProblem(artifact.path, "missing", artifact.sha256, None))
            continue
        if path.is_symlink() or not path.is_file():
            problems.append(IntegrityProblem(artifact.path, "changed", artifact.sha256, "symlink"))
            continue
        actual = sha256_file(path)
        if actual != artifact.sha256:
            problems.append(IntegrityProblem(artifact.path, "changed", artifact.sha256, actual))
    listed = {a.path for a in manifest.artifacts}
    for extra in sorted(present - listed - NOT_LISTED):
        path = root / extra
        actual = "symlink" if path.is_symlink() else sha256_file(path)
        problems.append(IntegrityProblem(extra, "unlisted", None, actual))
    return Verification(str(root), manifest, problems, list(manifest.artifacts))


def read_verified(bundle_dir: str | Path, artifact: Artifact) -> bytes:
    """Read an artifact's bytes and check them against the manifest in one step.

    Loaders deserialize the bytes returned here, never the file again, so a file swapped
    after verification cannot be loaded.

    Raises
    ------
    BundleIntegrityError
        The file is missing or its hash differs from the manifest.
    """
    path = Path(bundle_dir) / artifact.path
    try:
        if path.is_symlink():
            raise BundleIntegrityError(
                str(bundle_dir),
                [IntegrityProblem(artifact.path, "changed", artifact.sha256, "symlink")],
            )
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise BundleIntegrityError(
            str(bundle_dir), [IntegrityProblem(artifact.path, "missing", artifact.sha256, None)]
        ) from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != artifact.sha256:
        raise BundleIntegrityError(
            str(bundle_dir), [IntegrityProblem(artifact.path, "changed", artifact.sha256, actual)]
        )
    return data
