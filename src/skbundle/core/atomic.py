"""Publishing atomically: readers see the old bundle (or file) or the new one, never half.

The new directory is built in a temporary sibling and renamed into place. Replacing an
existing bundle uses Linux's ``renameat2(RENAME_EXCHANGE)`` where available, which swaps the
two directories in one step; elsewhere it falls back to two renames with a restore on failure.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TypeVar

from skbundle.errors import BundleExistsError

T = TypeVar("T")

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False when the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(result == 0)


def check_target(target: Path, *, overwrite: bool, marker: str) -> None:
    """Refuse a target that exists, unless overwriting a directory that is one of ours.

    ``marker`` is the file that shows a directory is a bundle; an empty directory is also
    accepted. Anything else is never replaced, whatever ``overwrite`` says, so that a wrong
    path cannot delete unrelated files.
    """
    if not target.exists() and not target.is_symlink():
        return
    if not overwrite:
        raise BundleExistsError(str(target))
    if target.is_symlink() or not target.is_dir():
        raise BundleExistsError(f"{target} (not a directory, so it will not be replaced)")
    if not (target / marker).is_file() and any(target.iterdir()):
        raise BundleExistsError(
            f"{target} (a non-empty directory without {marker}: not a bundle, so it will not "
            "be replaced)"
        )


def _fsync_tree(root: Path) -> None:
    for path in [*root.rglob("*"), root]:
        if path.is_file() or path.is_dir():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def write_directory(target: Path, build: Callable[[Path], T], *, overwrite: bool, marker: str) -> T:
    """Run ``build`` in a temporary sibling of ``target``, then publish it as ``target``.

    On any failure the temporary directory is removed and ``target`` is left as it was.
    """
    check_target(target, overwrite=overwrite, marker=marker)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        result = build(tmp)
        _fsync_tree(tmp)
        _publish(tmp, target, overwrite=overwrite, marker=marker)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


def _publish(tmp: Path, target: Path, *, overwrite: bool, marker: str) -> None:
    if not target.exists():
        try:
            os.rename(tmp, target)
            return
        except OSError as exc:  # another writer published first
            raise BundleExistsError(str(target)) from exc
    check_target(target, overwrite=overwrite, marker=marker)
    if _exchange(tmp, target):
        shutil.rmtree(tmp)  # now holds the old bundle
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.rmdir(old)
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old)


@contextlib.contextmanager
def write_file(target: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Write a file atomically: yield a binary file in a temporary sibling, then rename it.

    On success the file gets the permissions a newly created file would get (``0o666`` less
    the umask) and replaces ``target`` in one rename; on any failure the temporary file is
    removed and ``target`` is left as it was.

    Examples
    --------
    >>> with write_file("out/report.html") as fh:
    ...     fh.write(page.encode())
    """
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
