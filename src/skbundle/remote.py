"""A bundle loaded in another process (a Dask worker, a Spark executor): shipped, verified
there, loaded once per process.

The client never sends a loaded model: it sends a :class:`BundleRef`, which says where the
bundle is (a path every worker can read, or an fsspec URL) or carries the bundle's files as a
tar, plus the SHA-256 of the ``bundle.json`` the client verified and the load options. Each
process turns a ref into a :class:`~skbundle.bundle.Bundle` with :func:`load_ref`, which

* extracts an archive with :func:`unpack` (regular files and directories only, plain relative
  paths, sizes and member count capped: nothing is written outside a fresh temporary
  directory), or copies a URL's files into one;
* checks that ``bundle.json`` there is the one the client verified (its SHA-256), so a bundle
  swapped or altered on the way, or different on another machine, is refused;
* then calls :func:`skbundle.load`, which verifies every file against the manifest before
  anything is deserialized, exactly as for a local bundle. Bytes that came over the wire are
  trusted no more than a directory on disk: the same trust options apply.

Loaded bundles are cached per process, keyed by the manifest's SHA-256 and the load options.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
import tempfile
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skbundle.batch import DEFAULT_COLUMNS, score_frame
from skbundle.bundle import AUTO, Bundle, load
from skbundle.core.files import MAX_ARTIFACT_BYTES, MAX_MANIFEST_BYTES, BundleDir, path_problem
from skbundle.core.layout import MANIFEST_NAME, NOT_LISTED
from skbundle.core.manifest import read_manifest
from skbundle.errors import BundleFileError, BundleIntegrityError, IntegrityProblem

if TYPE_CHECKING:
    import pandas as pd

MAX_MEMBERS = 10_000
"""The most entries an archive of a bundle may hold (a bundle has about a dozen files)."""
MAX_ARCHIVE_BYTES = 8 << 30
"""The most bytes the files of an archive may add up to."""


@dataclass(frozen=True)
class BundleRef:
    """What a worker needs to load the same verified bundle as the client.

    Exactly one of ``location`` (a path every worker can read, or an fsspec URL such as
    ``s3://models/cancer``) and ``archive`` (the bundle directory as an uncompressed tar) is
    set. ``manifest_sha256`` pins the manifest the client verified.
    """

    manifest_sha256: str
    name: str
    location: str | None = None
    archive: bytes | None = None
    runtime: str = AUTO
    trust_pickle: bool = False
    trusted_types: tuple[str, ...] = ()
    allow_version_mismatch: bool = False

    @property
    def key(self) -> tuple[object, ...]:
        return (
            self.manifest_sha256,
            self.runtime,
            self.trust_pickle,
            self.trusted_types,
            self.allow_version_mismatch,
        )

    def __repr__(self) -> str:  # never print megabytes of archive in a task graph dump
        where = self.location if self.location is not None else f"<{len(self.archive or b'')} B>"
        return f"BundleRef({self.name!r}, {where}, sha256={self.manifest_sha256[:12]}...)"


def is_url(spec: str) -> bool:
    """Whether ``spec`` names an fsspec location rather than a local path."""
    return "://" in spec and not spec.startswith("file://")


def manifest_sha256(directory: str | os.PathLike[str]) -> str:
    """SHA-256 of a bundle's ``bundle.json``, read safely (no links, size capped)."""
    with BundleDir(directory) as bundle_dir:
        return hashlib.sha256(
            bundle_dir.read(MANIFEST_NAME, max_bytes=MAX_MANIFEST_BYTES)
        ).hexdigest()


def pack(directory: str | os.PathLike[str]) -> bytes:
    """The files of a verified bundle as an uncompressed tar: the manifest, the signature if
    any, and every artifact the manifest lists, read through :class:`BundleDir`."""
    root = Path(directory)
    manifest = read_manifest(root)
    names = [a.path for a in manifest.artifacts]
    buffer = io.BytesIO()
    with BundleDir(root) as bundle_dir, tarfile.open(fileobj=buffer, mode="w") as archive:
        present, _ = bundle_dir.walk()
        for name in sorted(NOT_LISTED & present.keys()) + names:
            data = bundle_dir.read(name, max_bytes=MAX_ARTIFACT_BYTES)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _refuse(source: str, name: str, why: str) -> BundleFileError:
    return BundleFileError(source, IntegrityProblem(name, "path", None, why))


def unpack(archive: bytes, target: Path, *, source: str = "the bundle archive") -> None:
    """Extract a bundle archive made by :func:`pack` into the empty directory ``target``.

    Raises
    ------
    BundleFileError
        An entry is not a regular file or a directory (a link, a device...), its name is not a
        plain relative path, or the archive holds too many entries or bytes. Nothing is
        written outside ``target``.
    """
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
            for count, member in enumerate(tar, start=1):
                if count > MAX_MEMBERS:
                    raise _refuse(source, member.name, f"more than {MAX_MEMBERS} entries")
                why = path_problem(member.name)
                if why is not None:
                    raise _refuse(source, member.name, why)
                if member.isdir():
                    (target / member.name).mkdir(parents=True, exist_ok=True)
                    continue
                if not member.isreg():
                    raise BundleFileError(
                        source,
                        IntegrityProblem(member.name, "unsafe", None, "a link or a special file"),
                    )
                total += member.size
                if member.size > MAX_ARTIFACT_BYTES or total > MAX_ARCHIVE_BYTES:
                    raise BundleFileError(
                        source,
                        IntegrityProblem(
                            member.name, "size", str(MAX_ARTIFACT_BYTES), str(member.size)
                        ),
                    )
                path = target / member.name
                path.parent.mkdir(parents=True, exist_ok=True)
                reader = tar.extractfile(member)
                assert reader is not None  # a regular member always has a reader
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                with (
                    reader,
                    os.fdopen(os.open(path, flags, stat.S_IRUSR | stat.S_IWUSR), "wb") as fh,
                ):
                    while chunk := reader.read(1 << 20):
                        fh.write(chunk)
    except (tarfile.TarError, EOFError, FileExistsError) as exc:
        raise _refuse(source, "", f"not a bundle archive ({exc})") from exc


def _fetch(url: str, target: Path) -> None:
    import fsspec  # only a worker given a URL needs fsspec

    fs, root = fsspec.core.url_to_fs(url)
    fs.get(root.rstrip("/") + "/", str(target), recursive=True)


_CACHE: dict[tuple[object, ...], Bundle] = {}
_LOCK = threading.Lock()


def load_ref(ref: BundleRef) -> Bundle:
    """The bundle a ref names, verified and loaded once per process (see module docstring).

    Raises
    ------
    BundleIntegrityError
        ``bundle.json`` differs from the one the client verified, or a file differs from the
        manifest; ``BundleFileError`` when the archive holds a link, a special file or a path
        outside the bundle. The errors of :func:`skbundle.load` otherwise.
    """
    with _LOCK:
        cached = _CACHE.get(ref.key)
        if cached is not None:
            return cached
        label = (
            f"{ref.name!r} as the client sent it"
            if ref.archive is not None
            else f"{ref.name!r} at {ref.location}"
        )
        with tempfile.TemporaryDirectory(prefix="skbundle-worker-") as tmp:
            if ref.archive is not None:
                directory = Path(tmp) / "bundle"
                directory.mkdir()
                unpack(ref.archive, directory, source=label)
            elif ref.location is not None and is_url(ref.location):
                directory = Path(tmp) / "bundle"
                _fetch(ref.location, directory)
            else:
                directory = Path(str(ref.location).removeprefix("file://"))
            actual = manifest_sha256(directory)
            if actual != ref.manifest_sha256:
                raise BundleIntegrityError(
                    f"{label} (its bundle.json is not the one the client verified)",
                    [IntegrityProblem(MANIFEST_NAME, "changed", ref.manifest_sha256, actual)],
                )
            try:
                bundle = load(
                    directory,
                    runtime=ref.runtime,
                    trust_pickle=ref.trust_pickle,
                    trusted_types=ref.trusted_types,
                    allow_version_mismatch=ref.allow_version_mismatch,
                )
            except BundleFileError:
                raise
            except BundleIntegrityError as exc:  # name the bundle, not a temporary directory
                raise BundleIntegrityError(label, exc.problems) from None
        _CACHE[ref.key] = bundle
        return bundle


def clear_cache() -> None:
    """Forget the bundles this process loaded (a long-lived worker, or a test)."""
    with _LOCK:
        _CACHE.clear()


def cached_count() -> int:
    """How many bundles this process holds loaded (the tests check it stays one per bundle)."""
    return len(_CACHE)


def make_ref(
    bundle: Bundle | str | os.PathLike[str],
    *,
    ship: str = "bytes",
    runtime: str | None = None,
    trust_pickle: bool = False,
    trusted_types: Collection[str] = (),
    allow_version_mismatch: bool = False,
) -> tuple[BundleRef, Bundle]:
    """Verify and load the bundle on the client, and the ref its workers load it from.

    ``bundle`` is a loaded :class:`Bundle` (its directory and runtime are used), a bundle
    directory, or an fsspec URL. ``ship="bytes"`` sends the files (a tar) with the ref;
    ``"path"`` sends the location only (a path every worker can read, or the URL).
    """
    if ship not in ("bytes", "path"):
        raise ValueError(f"ship must be 'bytes' or 'path', got {ship!r}")
    options: dict[str, Any] = {
        "trust_pickle": trust_pickle,
        "trusted_types": tuple(trusted_types),
        "allow_version_mismatch": allow_version_mismatch,
    }
    with tempfile.TemporaryDirectory(prefix="skbundle-client-") as tmp:
        location = None if isinstance(bundle, Bundle) else os.fspath(bundle)
        if location is not None and is_url(location):
            directory = Path(tmp) / "bundle"
            _fetch(location, directory)
        elif isinstance(bundle, Bundle):
            directory = bundle.path
        else:
            directory = Path(str(location).removeprefix("file://"))
        chosen = runtime or (bundle.runtime.format if isinstance(bundle, Bundle) else AUTO)
        loaded = load(directory, runtime=chosen, **options)
        sha = manifest_sha256(directory)
        archive = pack(directory) if ship == "bytes" else None
        where = None
        if ship == "path":
            where = (
                location
                if location is not None and is_url(location)
                else str(Path(directory).resolve())
            )
    ref = BundleRef(sha, loaded.name, where, archive, chosen, **options)
    return ref, loaded


def example_frame(bundle: Bundle) -> pd.DataFrame:
    """One valid row built from the manifest (each feature's training mean or first category),
    to learn the output's columns and dtypes without touching the data."""
    import pandas as pd

    row: dict[str, Any] = {}
    for feature in bundle.manifest.features:
        if feature.categories:
            row[feature.name] = feature.categories[0]
        elif feature.kind == "boolean":
            row[feature.name] = False
        else:
            row[feature.name] = next(
                (v for v in (feature.mean, feature.min, feature.max) if v is not None), 0.0
            )
    example: pd.DataFrame = pd.DataFrame([row])
    return example


def output_meta(
    bundle: Bundle,
    input_meta: pd.DataFrame,
    *,
    columns: Sequence[str] = DEFAULT_COLUMNS,
    keep: Sequence[str] = (),
) -> pd.DataFrame:
    """The empty output frame (columns and dtypes) that scoring ``input_meta`` gives."""
    meta: pd.DataFrame = score_frame(bundle, example_frame(bundle), columns=columns).iloc[:0]
    for name in reversed(keep):
        meta.insert(1, name, input_meta[name].iloc[:0])
    return meta
