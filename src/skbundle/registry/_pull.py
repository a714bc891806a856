"""Writing a registered version out as a bundle directory, every blob checked first."""

from __future__ import annotations

from pathlib import Path

from skbundle.core.files import path_problem
from skbundle.core.integrity import verify
from skbundle.core.layout import MANIFEST_NAME
from skbundle.errors import IntegrityProblem, RegistryIntegrityError
from skbundle.registry._blobs import BlobStore, digest
from skbundle.registry.records import ModelVersion


def write_version(blobs: BlobStore, record: ModelVersion, tmp: Path, *, registry: str) -> None:
    """Write every file of ``record`` into ``tmp`` (a fresh directory), each blob's SHA-256
    checked before it is written, then verify the result against its manifest.

    Raises
    ------
    RegistryIntegrityError
        A blob is missing or changed, a stored path leaves the bundle, ``bundle.json`` is not
        the one pushed, or the result does not verify.
    """
    problems: list[IntegrityProblem] = []
    for entry in record.files:
        why = path_problem(entry.path)
        if why is not None:
            problems.append(IntegrityProblem(entry.path, "path", None, why))
            continue
        try:
            data = blobs.read(entry.sha256)
        except FileNotFoundError:
            problems.append(IntegrityProblem(entry.path, "missing", entry.sha256, None))
            continue
        actual = digest(data)
        if actual != entry.sha256:
            problems.append(IntegrityProblem(entry.path, "changed", entry.sha256, actual))
            continue
        target = tmp / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    if problems:
        raise RegistryIntegrityError(record.ref, registry, problems)
    manifest_sha = digest((tmp / MANIFEST_NAME).read_bytes())
    if manifest_sha != record.bundle_sha256:
        raise RegistryIntegrityError(
            record.ref,
            registry,
            [IntegrityProblem(MANIFEST_NAME, "changed", record.bundle_sha256, manifest_sha)],
        )
    verification = verify(tmp)
    if verification.problems:
        raise RegistryIntegrityError(record.ref, registry, verification.problems)
