"""The one way skbundle reads a file of a bundle: regular files only, no links, sizes capped.

A bundle can come from anyone, so its directory is hostile input. Every file skbundle reads
from it (the manifest, the artifacts, ``readiness.json``, the importance image, the
signature) goes through :class:`BundleDir`, which

* refuses a path that is absolute, holds ``..`` or ``.``, or is empty;
* walks the path one component at a time from a descriptor of the bundle directory, each
  opened with ``O_NOFOLLOW``, so no component may be a symbolic link (the bundle directory
  itself is the caller's choice, and may be reached through links);
* looks at the file with ``lstat`` first and opens only a regular file: a FIFO, a device, a
  socket or a directory is refused without being opened (opening a FIFO can block, reading
  ``/dev/zero`` never ends), and the descriptor is checked again with ``fstat`` after
  ``open(O_RDONLY | O_NOFOLLOW | O_NONBLOCK)``, so a file swapped in between is refused too;
* refuses a file larger than the caller's cap from ``fstat``, before reading, and reads at
  most cap + 1 bytes, so a file that grows while it is read is refused as well.

Every refusal is a :class:`~skbundle.errors.BundleFileError` naming the file and the reason; a
file that does not exist raises the builtin ``FileNotFoundError``, as ``open()`` would, so that
each caller can say what a missing file means for it.

The caps (``MAX_*_BYTES`` below) are far above what skbundle itself writes; they bound the
memory and time that a forged bundle can cost.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path
from types import TracebackType
from typing import NoReturn

from skbundle.errors import BundleFileError, IntegrityProblem

MAX_MANIFEST_BYTES = 16 << 20
"""``bundle.json`` is read whole and parsed: at most 16 MiB (a 30-feature bundle has 14 KB)."""
MAX_DATA_BYTES = 16 << 20
"""Files that skbundle parses or embeds in a page (``readiness.json``, the importance image,
``signature.json``, ``requirements.txt``): at most 16 MiB each."""
MAX_ARTIFACT_BYTES = 4 << 30
"""Any other file of a bundle (a model, ``reference.json``): at most 4 GiB; the manifest cannot
declare a larger one either."""
MAX_DEPTH = 16
"""Directories nested deeper than this inside a bundle are not walked, and are reported."""

_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

_KINDS = [
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
]


def describe_mode(mode: int) -> str:
    """What a file of this ``st_mode`` is, for a message: 'a symbolic link', 'a directory'..."""
    return next((name for test, name in _KINDS if test(mode)), "not a file skbundle knows")


def path_problem(relpath: str) -> str | None:
    """Why ``relpath`` is not a plain relative path inside a bundle, or None when it is one."""
    if not relpath:
        return "the path is empty"
    if "\x00" in relpath or "\\" in relpath:
        return "it holds a NUL byte or a backslash"
    if relpath.startswith("/"):
        return "it is absolute"
    parts = relpath.split("/")
    if ".." in parts:
        return "it climbs out with '..'"
    if "" in parts or "." in parts:
        return "it has an empty or '.' component"
    return None


class BundleDir:
    """A bundle directory opened once, whose files are read safely relative to it.

    Use it as a context manager; :func:`read_bundle_file` and :func:`hash_bundle_file` open
    one for a single read.

    Examples
    --------
    >>> with BundleDir("models/cancer") as bundle:
    ...     raw = bundle.read("bundle.json", max_bytes=MAX_MANIFEST_BYTES)
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._fd = os.open(self.root, _DIR_FLAGS)
        self._buffer: bytearray | None = None

    def __enter__(self) -> BundleDir:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _refuse(
        self, relpath: str, kind: str, actual: str, expected: str | None = None
    ) -> NoReturn:
        raise BundleFileError(str(self.root), IntegrityProblem(relpath, kind, expected, actual))

    def _missing(self, relpath: str) -> FileNotFoundError:
        return FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(self.root / relpath))

    def open(self, relpath: str, *, max_bytes: int) -> tuple[int, int]:
        """Open a regular file of the bundle: ``(fd, size)``; the caller closes ``fd``.

        Raises
        ------
        BundleFileError
            The path leaves the bundle, a component is a link or not a directory, the file
            is not a regular file, or it is larger than ``max_bytes``.
        FileNotFoundError
            The file (or a directory on its path) does not exist.
        """
        why = path_problem(relpath)
        if why is not None:
            self._refuse(relpath, "path", why)
        parts = relpath.split("/")
        dir_fd = self._fd
        try:
            for i, part in enumerate(parts[:-1]):
                where = "/".join(parts[: i + 1])
                try:
                    next_fd = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=dir_fd)
                except FileNotFoundError:
                    raise self._missing(relpath) from None
                except OSError:  # ELOOP (a link) or ENOTDIR: say which
                    mode = os.stat(part, dir_fd=dir_fd, follow_symlinks=False).st_mode
                    if stat.S_ISREG(mode):  # "model.onnx/x": no such file, as open() says
                        raise self._missing(relpath) from None
                    self._refuse(where, "unsafe", describe_mode(mode))
                if dir_fd != self._fd:
                    os.close(dir_fd)
                dir_fd = next_fd
            name = parts[-1]
            try:
                # lstat first: a FIFO or a device is never opened, not even without blocking
                mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
            except FileNotFoundError:
                raise self._missing(relpath) from None
            if not stat.S_ISREG(mode):
                self._refuse(relpath, "unsafe", describe_mode(mode))
            try:
                fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
            except FileNotFoundError:
                raise self._missing(relpath) from None
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                self._refuse(relpath, "unsafe", "a symbolic link")  # swapped in after lstat
        finally:
            if dir_fd != self._fd:
                os.close(dir_fd)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                self._refuse(relpath, "unsafe", describe_mode(st.st_mode))
            if st.st_size > max_bytes:
                self._refuse(relpath, "size", str(st.st_size), str(max_bytes))
        except BaseException:
            os.close(fd)
            raise
        return fd, st.st_size

    def read(self, relpath: str, *, max_bytes: int) -> bytes:
        """The bytes of a regular file of the bundle, at most ``max_bytes`` of them.

        Raises
        ------
        BundleFileError, FileNotFoundError
            See :meth:`open`; also BundleFileError when the file grows past ``max_bytes``
            while it is read.
        """
        fd, size = self.open(relpath, max_bytes=max_bytes)
        try:
            chunks = []
            total = 0
            # One read normally returns the whole file; the next one confirms the end.
            want = min(size, max_bytes) + 1
            while chunk := os.read(fd, want):
                chunks.append(chunk)
                total += len(chunk)
                if total > max_bytes:
                    self._refuse(relpath, "size", f"at least {total}", str(max_bytes))
                want = min(_CHUNK, max_bytes + 1 - total)
        finally:
            os.close(fd)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def sha256(self, relpath: str, *, max_bytes: int = MAX_ARTIFACT_BYTES) -> str:
        """Hex SHA-256 of a regular file of the bundle, read in 1 MiB chunks.

        Raises
        ------
        BundleFileError, FileNotFoundError
            See :meth:`read`.
        """
        return self.digest(relpath, max_bytes=max_bytes)[0]

    def digest(self, relpath: str, *, max_bytes: int = MAX_ARTIFACT_BYTES) -> tuple[str, int]:
        """``(hex SHA-256, size in bytes)`` of a regular file of the bundle; see :meth:`sha256`."""
        fd, _ = self.open(relpath, max_bytes=max_bytes)
        digest = hashlib.sha256()
        total = 0
        if self._buffer is None:  # one buffer per bundle: verify hashes every file
            self._buffer = bytearray(_CHUNK)
        buffer = self._buffer
        view = memoryview(buffer)
        try:
            while n := os.readv(fd, [buffer]):
                total += n
                if total > max_bytes:
                    self._refuse(relpath, "size", f"at least {total}", str(max_bytes))
                digest.update(view[:n])
        finally:
            os.close(fd)
        return digest.hexdigest(), total

    def walk(self) -> tuple[dict[str, int], set[str]]:
        """Every entry of the bundle, never following a link: ``(files, directories)``.

        ``files`` maps each relative path that is not a directory (regular files, links,
        FIFOs...) to its ``lstat`` mode; a directory nested deeper than ``MAX_DEPTH`` is not
        walked and is listed there too, as a directory. ``directories`` holds the others.
        """
        files: dict[str, int] = {}
        directories: set[str] = set()
        self._walk(self._fd, "", 0, files, directories)
        return files, directories

    def _walk(
        self, fd: int, prefix: str, depth: int, files: dict[str, int], directories: set[str]
    ) -> None:
        with os.scandir(fd) as entries:
            found = [(entry.name, entry.stat(follow_symlinks=False).st_mode) for entry in entries]
        for name, mode in sorted(found):
            rel = prefix + name
            if not stat.S_ISDIR(mode) or depth >= MAX_DEPTH:
                files[rel] = mode
                continue
            try:
                sub = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            except OSError:  # replaced by a link or removed since the listing
                files[rel] = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
                continue
            directories.add(rel)
            try:
                self._walk(sub, rel + "/", depth + 1, files, directories)
            finally:
                os.close(sub)


def read_bundle_file(root: str | os.PathLike[str], relpath: str, *, max_bytes: int) -> bytes:
    """The bytes of the regular file ``relpath`` of the bundle ``root``, read safely.

    Parameters
    ----------
    root
        The bundle directory.
    relpath
        A relative POSIX path inside it, e.g. ``"bundle.json"``.
    max_bytes
        Refuse the file when it is larger than this (see the ``MAX_*_BYTES`` caps).

    Raises
    ------
    BundleFileError
        The path leaves the bundle, goes through a link, names something that is not a
        regular file, or the file is larger than ``max_bytes``. Nothing was read.
    FileNotFoundError
        The file, or the bundle directory, does not exist.

    Examples
    --------
    >>> raw = read_bundle_file("models/cancer", "readiness.json", max_bytes=MAX_DATA_BYTES)
    """
    with BundleDir(root) as bundle:
        return bundle.read(relpath, max_bytes=max_bytes)


def hash_bundle_file(
    root: str | os.PathLike[str], relpath: str, *, max_bytes: int = MAX_ARTIFACT_BYTES
) -> str:
    """Hex SHA-256 of a file of a bundle, read safely in chunks; raises as
    :func:`read_bundle_file` does."""
    with BundleDir(root) as bundle:
        return bundle.sha256(relpath, max_bytes=max_bytes)
