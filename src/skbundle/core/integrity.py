"""Hashing and verification of a bundle's files against its manifest.

Verification reads bytes only: it never deserializes anything, so it is safe to run on a
bundle from any source. It reads through :mod:`skbundle.core.files`: it walks the directory
without following links, opens only regular files, and never a FIFO or a device, so a
forged bundle cannot make it hang, read outside the bundle, or exhaust memory.
"""

from __future__ import annotations

import hashlib
import stat
from dataclasses import dataclass
from pathlib import Path

from skbundle.core.files import MAX_ARTIFACT_BYTES, BundleDir, describe_mode
from skbundle.core.layout import NOT_LISTED
from skbundle.core.manifest import Artifact, Manifest, read_manifest
from skbundle.errors import BundleFileError, BundleIntegrityError, IntegrityProblem


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a regular file, read in 1 MiB chunks; a link or a FIFO is refused.

    Raises
    ------
    BundleFileError
        ``path`` is a link, not a regular file, or larger than ``MAX_ARTIFACT_BYTES``.
    """
    p = Path(path)
    with BundleDir(p.parent) as directory:
        return directory.sha256(p.name)


def describe_file(bundle_dir: Path, relpath: str, *, role: str, fmt: str) -> Artifact:
    """The manifest entry for a file already written into ``bundle_dir``."""
    with BundleDir(bundle_dir) as directory:
        sha, size = directory.digest(relpath)
    return Artifact(path=relpath, role=role, format=fmt, bytes=size, sha256=sha)


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


def _check(directory: BundleDir, relpath: str, mode: int | None) -> str | IntegrityProblem:
    """The SHA-256 of a present regular file, or the problem that stops it being hashed."""
    if mode is None:
        return IntegrityProblem(relpath, "missing")
    if not stat.S_ISREG(mode):
        return IntegrityProblem(relpath, "unsafe", None, describe_mode(mode))
    try:
        return directory.sha256(relpath)
    except BundleFileError as exc:  # swapped, or larger than any artifact may be
        return exc.problems[0]
    except FileNotFoundError:  # removed since the walk
        return IntegrityProblem(relpath, "missing")


def verify(bundle_dir: str | Path, manifest: Manifest | None = None) -> Verification:
    """Check every file of a bundle against the manifest, reading bytes only.

    Finds changed files (hash differs), missing files, and files present but not listed.
    A bundle holds regular files only: a symbolic link, a FIFO, a device or a socket anywhere
    in it (listed or not, ``bundle.json`` and ``signature.json`` included) is reported as
    ``unsafe`` and never opened; a file over ``MAX_ARTIFACT_BYTES`` is reported as ``size``
    and not read.

    Raises
    ------
    ManifestError
        When ``manifest`` is not given and ``bundle.json`` cannot be read.
    """
    root = Path(bundle_dir)
    manifest = manifest if manifest is not None else read_manifest(root)
    problems: list[IntegrityProblem] = []
    with BundleDir(root) as directory:
        present, directories = directory.walk()
        for artifact in manifest.artifacts:
            mode = present.get(artifact.path)
            if mode is None and artifact.path in directories:
                mode = stat.S_IFDIR
            outcome = _check(directory, artifact.path, mode)
            if isinstance(outcome, IntegrityProblem):
                if outcome.kind == "missing":
                    outcome = IntegrityProblem(artifact.path, "missing", artifact.sha256, None)
                problems.append(outcome)
            elif outcome != artifact.sha256:
                problems.append(
                    IntegrityProblem(artifact.path, "changed", artifact.sha256, outcome)
                )
        listed = {a.path for a in manifest.artifacts}
        for name in sorted(NOT_LISTED & present.keys()):
            mode = present[name]
            if not stat.S_ISREG(mode):
                problems.append(IntegrityProblem(name, "unsafe", None, describe_mode(mode)))
        for extra in sorted(present.keys() - listed - NOT_LISTED):
            outcome = _check(directory, extra, present[extra])
            if isinstance(outcome, str):
                outcome = IntegrityProblem(extra, "unlisted", None, outcome)
            problems.append(outcome)
    return Verification(str(root), manifest, problems, list(manifest.artifacts))


def read_verified(bundle_dir: str | Path, artifact: Artifact) -> bytes:
    """Read an artifact's bytes and check them against the manifest in one step.

    Loaders deserialize the bytes returned here, never the file again, so a file swapped
    after verification cannot be loaded.

    Raises
    ------
    BundleIntegrityError
        The file is missing or its hash differs from the manifest; ``BundleFileError`` (a
        subclass) when it is a link, not a regular file, or over ``MAX_ARTIFACT_BYTES``.
    """
    try:
        with BundleDir(bundle_dir) as directory:
            data = directory.read(artifact.path, max_bytes=MAX_ARTIFACT_BYTES)
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
