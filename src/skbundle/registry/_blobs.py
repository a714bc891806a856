"""The content-addressed blob store: each file's bytes once, under its SHA-256.

Layout: ``<root>/ab/abcdef...`` (the first two hex digits fan the files out). A blob is
written to a temporary file in its own folder, flushed to disk and renamed into place with
``os.replace``, so a reader never sees half a blob and two writers of the same blob both end
with the same complete file. A blob's name is its hash: a reader checks the bytes against it.

Two stores: a local directory (:class:`LocalBlobs`), and any fsspec URL
(:class:`FsspecBlobs`, e.g. ``s3://bucket/blobs``), where an object store's put is atomic
by itself and a file system gets a temporary name and a move.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path
from typing import Any, Protocol

from skbundle.errors import RegistryUnavailableError


def blob_path(sha256: str) -> str:
    """The blob's path relative to the store's root."""
    return f"{sha256[:2]}/{sha256}"


class BlobStore(Protocol):
    location: str

    def has(self, sha256: str) -> bool: ...
    def read(self, sha256: str) -> bytes: ...
    def write(self, sha256: str, data: bytes) -> None: ...


class LocalBlobs:
    """Blobs in a directory on this machine (or a shared mount)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)

    def _path(self, sha256: str) -> Path:
        return self.root / blob_path(sha256)

    def has(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def read(self, sha256: str) -> bytes:
        return self._path(sha256).read_bytes()

    def write(self, sha256: str, data: bytes) -> None:
        target = self._path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{sha256}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            with open(tmp, "xb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        # The rename is durable only once the folder holding it is flushed too.
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class FsspecBlobs:
    """Blobs under an fsspec URL (``s3://``, ``gs://``, ``memory://``...)."""

    def __init__(self, url: str) -> None:
        try:
            import fsspec
        except ImportError as exc:  # an optional dependency: say how to get it
            raise RegistryUnavailableError(
                f"Blob store {url}",
                "fsspec is not installed",
                "Install skbundle's registry extra: pip install 'skbundle[registry]'.",
            ) from exc
        try:
            self.fs: Any
            self.fs, self.root = fsspec.core.url_to_fs(url)
        except (ValueError, ImportError) as exc:
            raise RegistryUnavailableError(
                f"Blob store {url}",
                f"fsspec cannot open it ({exc})",
                "Give a directory, or an fsspec URL whose file system is installed.",
            ) from exc
        self.location = url

    def _path(self, sha256: str) -> str:
        return f"{self.root.rstrip('/')}/{blob_path(sha256)}"

    def has(self, sha256: str) -> bool:
        return bool(self.fs.exists(self._path(sha256)))

    def read(self, sha256: str) -> bytes:
        data: bytes = self.fs.cat_file(self._path(sha256))
        return data

    def write(self, sha256: str, data: bytes) -> None:
        target = self._path(sha256)
        tmp = f"{target}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        self.fs.pipe_file(tmp, data)
        self.fs.mv(tmp, target)


def open_blobs(spec: str | os.PathLike[str]) -> BlobStore:
    """A directory path, ``file://`` URL, or any other fsspec URL."""
    text = os.fspath(spec)
    if text.startswith("file://"):
        return LocalBlobs(Path(text.removeprefix("file://")))
    if "://" in text:
        return FsspecBlobs(text)
    return LocalBlobs(Path(text))


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
