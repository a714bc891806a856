"""Changing a published bundle: rewrite some files and the manifest in one atomic step.

``skbundle bench``, ``skbundle check`` and ``skbundle report`` add measurements to a bundle
that already exists, and re-render the files that show them (the checklist, the model card,
the report). Each such change goes through :func:`update_bundle`, which builds the new bundle
in a temporary sibling and swaps it into place (``skbundle.core.atomic``), so a reader sees the old
bundle or the new one, never a manifest whose hashes disagree with the files.

Only the files handed in are re-hashed. Every other artifact entry is copied from the old
manifest untouched, and every other file is copied byte for byte: an update never blesses a
file that was tampered with, it only vouches for what it wrote itself.

The copy reads through :mod:`skbundle.core.files`: it never follows a link, and refuses a
bundle holding anything but regular files and directories (a link, a FIFO, a device) rather
than copy what a link points to, or block on a FIFO.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skbundle.core import atomic
from skbundle.core.files import MAX_ARTIFACT_BYTES, BundleDir, describe_mode, path_problem
from skbundle.core.integrity import describe_file
from skbundle.core.layout import MANIFEST_NAME, SIGNATURE_NAME
from skbundle.core.manifest import Manifest, read_manifest, write_manifest
from skbundle.errors import BundleFileError, IntegrityProblem


@dataclass(frozen=True)
class NewFile:
    """A file to (re)write into a bundle, with the role and format its manifest entry gets."""

    content: bytes
    role: str
    format: str


@dataclass(frozen=True)
class UpdateResult:
    """What an update wrote, and whether the bundle's signature no longer matches."""

    manifest: Manifest
    written: list[str] = field(default_factory=list)
    signature_stale: bool = False

    @property
    def note(self) -> str:
        """A sentence for the user when the signature must be renewed, else ''."""
        if not self.signature_stale:
            return ""
        return (
            f"{SIGNATURE_NAME} was made over the previous bundle.json and no longer matches it: "
            "sign the bundle again to renew the signature."
        )


_UNSET: Any = object()
_COPY_CHUNK = 1 << 20


def _copy_tree(source: Path, target: Path, skip: set[str]) -> None:
    """Copy every file of ``source`` but ``skip`` into ``target``, regular files only."""
    with BundleDir(source) as directory:
        files, directories = directory.walk()
        for rel in sorted(directories):
            (target / rel).mkdir(parents=True, exist_ok=True)
        for rel, mode in sorted(files.items()):
            if rel in skip:
                continue
            if not stat.S_ISREG(mode):
                raise BundleFileError(
                    str(source), IntegrityProblem(rel, "unsafe", None, describe_mode(mode))
                )
            fd, _ = directory.open(rel, max_bytes=MAX_ARTIFACT_BYTES)
            with os.fdopen(fd, "rb") as src, open(target / rel, "xb") as out:
                shutil.copyfileobj(src, out, _COPY_CHUNK)
                st = os.fstat(fd)
                os.fchmod(out.fileno(), st.st_mode & 0o777)
                os.utime(out.fileno(), ns=(st.st_atime_ns, st.st_mtime_ns))


def update_bundle(
    path: str | os.PathLike[str],
    files: Mapping[str, NewFile],
    *,
    benchmarks: dict[str, Any] | None = _UNSET,
) -> UpdateResult:
    """Write ``files`` into the bundle at ``path`` and update the manifest to match, atomically.

    Parameters
    ----------
    path
        The bundle directory.
    files
        Relative path -> new content. Each gets a fresh manifest entry (hash, size); a path
        already listed keeps its place in the list.
    benchmarks
        When given, replaces the manifest's ``benchmarks`` section.

    Returns
    -------
    UpdateResult
        The new manifest, the paths written, and whether ``signature.json`` is now stale.

    Raises
    ------
    ManifestError
        ``bundle.json`` cannot be read.
    BundleFileError
        A file to copy is a link, not a regular file, or over ``MAX_ARTIFACT_BYTES``: the
        bundle is left as it was.
    """
    root = Path(path)
    manifest = read_manifest(root)
    for relpath in files:
        if relpath in (MANIFEST_NAME, SIGNATURE_NAME) or Path(relpath).is_absolute():
            raise ValueError(f"update_bundle cannot write {relpath!r}: it is not an artifact")
        if ".." in Path(relpath).parts:
            raise ValueError(f"update_bundle cannot write {relpath!r}: it leaves the bundle")
        why = path_problem(relpath)
        if why is not None:
            raise ValueError(f"update_bundle cannot write {relpath!r}: {why}")
    signed = os.path.lexists(root / SIGNATURE_NAME)

    def build(tmp: Path) -> Manifest:
        _copy_tree(root, tmp, skip={MANIFEST_NAME, *files})
        entries = {a.path: a for a in manifest.artifacts}
        for relpath, new in files.items():
            dest = tmp / relpath
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(new.content)
            entries[relpath] = describe_file(tmp, relpath, role=new.role, fmt=new.format)
        update: dict[str, Any] = {"artifacts": sorted(entries.values(), key=lambda a: a.path)}
        if benchmarks is not _UNSET:
            update["benchmarks"] = benchmarks
        new_manifest = manifest.model_copy(update=update)
        write_manifest(tmp, new_manifest)
        return new_manifest

    new_manifest = atomic.write_directory(root, build, overwrite=True, marker=MANIFEST_NAME)
    return UpdateResult(new_manifest, sorted(files), signature_stale=signed)
