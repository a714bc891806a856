"""Publishing atomically: readers see the old bundle (or file) or the new one, never half.

The new directory is built in a temporary sibling and renamed into place. Replacing an
existing bundle uses Linux's ``renameat2(RENAME_EXCHANGE)`` where available, which swaps the
two directories in one step; elsewhere it falls back to two renames with a restore on failure.

Temporary siblings and crashed writers
--------------------------------------
A writer builds in ``.NAME.tmp-<pid>-<8 hex>`` and, on the fallback path, moves the previous
bundle aside as ``.NAME.old-<pid>-<8 hex>``. It holds an exclusive ``flock`` on each such
directory for as long as it uses it. A writer killed at any moment leaves its sibling behind,
unlocked (the kernel drops a dead process's locks), so every later write to ``NAME``
first calls :func:`remove_stale`, which removes a sibling only when all of these hold:

* its name matches that pattern for the same ``NAME`` exactly (nothing else is touched);
* it is a real directory (``O_NOFOLLOW``: a link with that name is left alone);
* the process of ``<pid>`` no longer exists (in this PID namespace), and
* a non-blocking ``flock`` on it succeeds (no writer anywhere still holds it).

A stale ``.NAME.old-*`` holding a bundle, when ``NAME`` itself is missing (the writer died
between its two renames), is renamed back to ``NAME`` instead: a crash never loses the
bundle that was there. Removal uses ``shutil.rmtree``, which works through directory
descriptors on Linux and so never follows a link planted inside.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import os
import re
import secrets
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
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


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


def _sibling_pattern(target: Path) -> re.Pattern[str]:
    return re.compile(re.escape(f".{target.name}.") + r"(tmp|old)-([0-9]+)-[0-9a-f]{8}")


def _sibling(target: Path, kind: str) -> Path:
    return target.parent / f".{target.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"


def _locked_sibling(target: Path, kind: str) -> tuple[Path, int]:
    """Create ``.NAME.<kind>-<pid>-<hex>`` next to ``target``, locked: ``(path, lock fd)``."""
    while True:
        path = _sibling(target, kind)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        fd = os.open(path, _DIR_FLAGS)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return path, fd


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of this process may be writing
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def remove_stale(target: str | os.PathLike[str], *, marker: str) -> list[Path]:
    """Remove the temporary siblings of ``target`` whose writer is gone; see the module doc.

    A stale ``.NAME.old-*`` that holds ``marker`` is renamed back to ``target`` when
    ``target`` is missing. Returns the siblings removed or restored.
    """
    target = Path(target)
    pattern = _sibling_pattern(target)
    try:
        names = sorted(os.listdir(target.parent))
    except (FileNotFoundError, NotADirectoryError):
        return []
    done = []
    for name in names:
        match = pattern.fullmatch(name)
        if match is None or _alive(int(match.group(2))):
            continue
        path = target.parent / name
        try:
            fd = os.open(path, _DIR_FLAGS)
        except OSError:  # gone already, or a link or a file: not ours to touch
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a writer still holds it (from another PID namespace, say)
            if os.stat(path, follow_symlinks=False).st_ino != os.fstat(fd).st_ino:
                continue  # replaced since it was opened
            if (
                match.group(1) == "old"
                and not os.path.lexists(target)
                and os.path.isfile(os.path.join(path, marker))
            ):
                os.rename(path, target)
            else:
                shutil.rmtree(path)
            done.append(path)
        except OSError:  # cleaned up by another writer first, or not ours to remove: go on
            continue
        finally:
            os.close(fd)
    return done


def write_directory(target: Path, build: Callable[[Path], T], *, overwrite: bool, marker: str) -> T:
    """Run ``build`` in a temporary sibling of ``target``, then publish it as ``target``.

    Temporary siblings left by writers that died are removed first (:func:`remove_stale`).
    On any failure the temporary directory is removed and ``target`` is left as it was.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(target, marker=marker)
    check_target(target, overwrite=overwrite, marker=marker)
    tmp, lock = _locked_sibling(target, "tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        result = build(tmp)
        _fsync_tree(tmp)
        _publish(tmp, target, overwrite=overwrite, marker=marker)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.close(lock)
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
        shutil.rmtree(tmp, ignore_errors=True)  # now holds the old bundle
        return
    old = _sibling(target, "old")
    lock = os.open(target, _DIR_FLAGS)  # the lock travels with the old bundle
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        os.rename(target, old)
        try:
            os.rename(tmp, target)
        except BaseException:
            os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        os.close(lock)


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
