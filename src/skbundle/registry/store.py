"""The registry: versions of bundles, aliases that point at them, and the audit log of every
alias move. Metadata in a database (SQLite by default, PostgreSQL for a team), file bytes in a
content-addressed blob store.

Invariants
----------
- A version row is committed only after every blob it names is in the blob store, so a
  crash mid-push leaves at most unreferenced blobs, never a version pointing at a missing one.
- Every write is one transaction holding the registry's write lock (:mod:`._db`): two pushes
  or alias moves at once are applied one after the other, and the audit log records each
  alias move in the same transaction as the move.
- A version's bytes never change: pushing the same version again with the same files is a
  no-op, with other bytes it is refused.
- Pulling checks every blob's SHA-256 before the bundle directory is published (atomically),
  then verifies the result as :func:`skbundle.load` would.
"""

from __future__ import annotations

import builtins
import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from skbundle.core import atomic
from skbundle.core.files import MAX_MANIFEST_BYTES, BundleDir
from skbundle.core.integrity import read_verified, verify
from skbundle.core.layout import MANIFEST_NAME, SIGNATURE_NAME
from skbundle.core.manifest import read_manifest
from skbundle.errors import (
    RegistryConflictError,
    RegistryError,
    RegistryLookupError,
    RegistryUnavailableError,
    preview,
)
from skbundle.registry import _db, migrations
from skbundle.registry._blobs import BlobStore, digest, open_blobs
from skbundle.registry._pull import write_version
from skbundle.registry._schema import (
    AliasEventRow,
    AliasRow,
    BlobRow,
    FileRow,
    ModelRow,
    VersionRow,
)
from skbundle.registry.records import AliasEvent, FileEntry, GateRecord, ModelVersion
from skbundle.registry.refs import Ref, check_alias, check_name, parse_ref, version_key

MOVE, ROLLBACK = "move", "rollback"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return f"uid {os.getuid()}"


def _json_safe(value: Any) -> Any:
    # NaN and infinities are not JSON (PostgreSQL refuses them): orjson writes them as null.
    return orjson.loads(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))


def check_reason(name: str, alias: str, version: str, reason: str) -> None:
    """Refuse a forced move without a reason: the audit log must say why the gate was
    overridden."""
    if not reason.strip():
        raise RegistryError(
            f"Cannot force {name}@{alias} to {version}",
            "a forced move needs a reason for the audit log",
            "Say why (CLI: --reason TEXT).",
        )


class Registry:
    """A model registry. Open it with :meth:`Registry.open`; it is a context manager.

    Examples
    --------
    >>> with Registry.open("./skbundle-registry") as registry:
    ...     v = registry.push("models/breast-cancer")
    ...     registry.list("breast-cancer")
    """

    def __init__(self, engine: Engine, blobs: BlobStore, location: _db.Location) -> None:
        self.engine = engine
        self.blobs = blobs
        self.location = location.shown
        self.directory = location.directory

    # -- opening --------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        location: str | os.PathLike[str] | None = None,
        *,
        blobs: str | os.PathLike[str] | None = None,
        create: bool = True,
    ) -> Registry:
        """Open (and by default create) a registry, and upgrade its schema to this skbundle's.

        Parameters
        ----------
        location
            A directory (SQLite ``registry.db`` and ``blobs/`` inside), or a database URL
            (``postgresql+psycopg://user@host/db``, ``sqlite:///path.db``). Default:
            ``SKBUNDLE_REGISTRY``, else ``./skbundle-registry``.
        blobs
            Where a database URL's blobs live: a directory or an fsspec URL (also
            ``SKBUNDLE_REGISTRY_BLOBS``, or ``?blobs=`` in the URL).
        create
            Create a missing registry directory; with False a missing one is an error (for
            commands that only read).

        Raises
        ------
        RegistryUnavailableError
            The location is not a directory or URL skbundle can use, the database cannot be
            reached, or (``create=False``) there is no registry there.
        """
        where = _db.resolve(location, blobs)
        if where.directory is not None and not (where.directory / _db.DB_NAME).is_file():
            if not create:
                raise RegistryUnavailableError(
                    f"Registry {where.shown}",
                    f"there is no registry there (no {_db.DB_NAME})",
                    "Push a bundle first ('skbundle registry push BUNDLE_DIR'), or point "
                    "--registry / SKBUNDLE_REGISTRY at an existing registry.",
                )
            try:
                where.directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RegistryUnavailableError(
                    f"Registry {where.shown}",
                    f"the directory cannot be created ({exc.strerror})",
                    "Choose a directory you may write to.",
                ) from exc
        assert where.blobs is not None  # resolve() always settles on a blob store
        engine = _db.create(where)
        registry = cls(engine, open_blobs(where.blobs), where)
        with _db.reading(engine, where.shown) as session:
            at_head = migrations.current(session.connection()) == migrations.HEAD
        if not at_head:
            with _db.writing(engine, where.shown) as session:
                migrations.upgrade(session.connection())
        return registry

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with _db.writing(self.engine, self.location) as session:
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with _db.reading(self.engine, self.location) as session:
            yield session

    # -- lookups --------------------------------------------------------------------------
    def _model(self, session: Session, name: str) -> ModelRow:
        model = session.scalar(select(ModelRow).where(ModelRow.name == name))
        if model is None:
            known = session.scalars(select(ModelRow.name).order_by(ModelRow.name)).all()
            raise RegistryLookupError(
                f"Model {name!r}",
                f"it is not in the registry {self.location}",
                f"Models there: {preview(list(known))}. Push it with 'skbundle registry push "
                "BUNDLE_DIR'."
                if known
                else "The registry is empty: push a bundle with 'skbundle registry push "
                "BUNDLE_DIR'.",
            )
        return model

    def _versions(self, session: Session, model: ModelRow) -> list[VersionRow]:
        rows = session.scalars(
            select(VersionRow)
            .where(VersionRow.model_id == model.id)
            .options(selectinload(VersionRow.files))
        ).all()
        return sorted(rows, key=lambda r: version_key(r.version))

    def _version(self, session: Session, model: ModelRow, version: str) -> VersionRow:
        row = session.scalar(
            select(VersionRow)
            .where(VersionRow.model_id == model.id, VersionRow.version == version)
            .options(selectinload(VersionRow.files))
        )
        if row is None:
            known = [r.version for r in self._versions(session, model)]
            raise RegistryLookupError(
                f"Version {model.name}@{version}",
                f"it is not in the registry {self.location}",
                f"Versions of {model.name!r}: {preview(known)}."
                if known
                else f"{model.name!r} has no versions left.",
            )
        return row

    def _alias(self, session: Session, model: ModelRow, alias: str) -> AliasRow | None:
        return session.get(AliasRow, (model.id, alias))

    def _aliases_of(self, session: Session, model: ModelRow) -> dict[int, list[str]]:
        by_version: dict[int, list[str]] = {}
        for row in session.scalars(
            select(AliasRow).where(AliasRow.model_id == model.id).order_by(AliasRow.alias)
        ):
            by_version.setdefault(row.version_id, []).append(row.alias)
        return by_version

    def _resolve(self, session: Session, ref: Ref) -> VersionRow:
        model = self._model(session, ref.name)
        if ref.version is not None:
            return self._version(session, model, ref.version)
        if ref.alias is not None:
            alias = self._alias(session, model, ref.alias)
            if alias is None:
                by_version = self._aliases_of(session, model).values()
                names = sorted(a for aliases in by_version for a in aliases)
                raise RegistryLookupError(
                    f"Alias {ref}",
                    f"{ref.name!r} has no alias {ref.alias!r}",
                    f"Its aliases: {names}. Set one with 'skbundle registry alias "
                    f"{ref.name} {ref.alias} VERSION'.",
                )
            row = session.get(VersionRow, alias.version_id)
            assert row is not None  # a foreign key: the version exists
            return row
        versions = self._versions(session, model)
        if not versions:
            raise RegistryLookupError(
                f"Model {ref.name!r}", "it has no versions left", "Push one first."
            )
        return versions[-1]

    def _record(self, session: Session, row: VersionRow) -> ModelVersion:
        aliases = self._aliases_of(session, row.model).get(row.id, [])
        return ModelVersion(
            name=row.model.name,
            version=row.version,
            bundle_sha256=row.bundle_sha256,
            task=row.task,
            metrics=dict(row.metrics),
            files=tuple(FileEntry(f.path, f.sha256, f.size) for f in row.files),
            pushed_by=row.pushed_by,
            pushed_at=row.pushed_at,
            aliases=tuple(aliases),
        )

    # -- the verbs ------------------------------------------------------------------------
    def push(self, bundle_dir: str | os.PathLike[str]) -> ModelVersion:
        """Verify a bundle and store it as ``NAME@VERSION`` (both from its manifest).

        Each file is stored once, by its SHA-256 (a file shared by versions is not stored
        again). Pushing a version that is already there with the same files is a no-op.

        Raises
        ------
        ManifestError, BundleIntegrityError
            The bundle does not verify (nothing is stored).
        RegistryConflictError
            The version is already in the registry with other bytes.
        """
        root = Path(bundle_dir)
        manifest = read_manifest(root)
        verify(root, manifest).raise_for_problems()
        contents: dict[str, bytes] = {MANIFEST_NAME: manifest.source_bytes()}
        for artifact in manifest.artifacts:
            # read_verified re-checks each hash as it reads: a file swapped after the
            # verification above is refused, not stored.
            contents[artifact.path] = read_verified(root, artifact)
        if os.path.lexists(root / SIGNATURE_NAME):
            with BundleDir(root) as directory:
                contents[SIGNATURE_NAME] = directory.read(
                    SIGNATURE_NAME, max_bytes=MAX_MANIFEST_BYTES
                )
        files = {path: (digest(data), len(data)) for path, data in contents.items()}
        bundle_sha = files[MANIFEST_NAME][0]
        ref = f"{manifest.name}@{manifest.version}"

        with self._read() as session:
            existing = self._existing(session, manifest.name, manifest.version)
        if existing is not None:
            self._same_or_refuse(existing, files, ref)  # refuse before writing anything
        # Blobs first, outside any transaction: a version row names only blobs already stored.
        # A blob already there is re-hashed and rewritten if it was changed: pushing an intact
        # copy again repairs a damaged store.
        for path, data in contents.items():
            self._store_blob(files[path][0], data)
        if existing is not None:
            return existing

        with self._write() as session:
            existing_row = self._existing_row(session, manifest.name, manifest.version)
            if existing_row is not None:  # pushed by someone else meanwhile
                return self._same_or_refuse(self._record(session, existing_row), files, ref)
            model = session.scalar(select(ModelRow).where(ModelRow.name == manifest.name))
            if model is None:
                model = ModelRow(name=manifest.name, created_at=_now())
                session.add(model)
            now = _now()
            for sha, size in set(files.values()):
                if session.get(BlobRow, sha) is None:
                    session.add(BlobRow(sha256=sha, size=size, created_at=now))
            session.flush()
            row = VersionRow(
                model=model,
                version=manifest.version,
                bundle_sha256=bundle_sha,
                task=manifest.task,
                metrics=_json_safe(manifest.metrics),
                pushed_by=_user(),
                pushed_at=now,
                files=[FileRow(path=p, sha256=s, size=n) for p, (s, n) in sorted(files.items())],
            )
            session.add(row)
            session.flush()
            return self._record(session, row)

    def _existing_row(self, session: Session, name: str, version: str) -> VersionRow | None:
        return session.scalar(
            select(VersionRow)
            .join(ModelRow)
            .where(ModelRow.name == name, VersionRow.version == version)
            .options(selectinload(VersionRow.files))
        )

    def _existing(self, session: Session, name: str, version: str) -> ModelVersion | None:
        row = self._existing_row(session, name, version)
        return None if row is None else self._record(session, row)

    def _same_or_refuse(
        self, existing: ModelVersion, files: dict[str, tuple[str, int]], ref: str
    ) -> ModelVersion:
        stored = {f.path: (f.sha256, f.size) for f in existing.files}
        if stored == files:
            return existing
        differ = sorted(p for p in stored.keys() | files.keys() if stored.get(p) != files.get(p))
        raise RegistryConflictError(
            f"Cannot push {ref}",
            f"the registry {self.location} already holds {ref} with other bytes (files that "
            f"differ: {preview(differ)}; pushed by {existing.pushed_by} at {existing.pushed_at})",
            "A version's bytes never change: give the bundle a new version "
            "(skbundle.save(..., version='X.Y.Z')) and push that.",
        )

    def _store_blob(self, sha: str, data: bytes) -> None:
        try:
            if self.blobs.has(sha) and digest(self.blobs.read(sha)) == sha:
                return  # stored already, intact
            self.blobs.write(sha, data)  # new, or repairs a blob changed outside skbundle
        except OSError as exc:
            raise RegistryUnavailableError(
                f"Blob store {self.blobs.location}",
                f"blob {sha[:16]}... cannot be written ({type(exc).__name__}: {exc})",
                "Check that the blob store exists and that you may write to it.",
            ) from exc

    def list(self, name: str | None = None) -> builtins.list[ModelVersion]:
        """Every version (of ``name``, or of every model), by name then semantic version."""
        with self._read() as session:
            if name is not None:
                check_name(name, f"Model {name!r}")
                models = [self._model(session, name)]
            else:
                models = builtins.list(session.scalars(select(ModelRow).order_by(ModelRow.name)))
            return [
                self._record(session, row)
                for model in models
                for row in self._versions(session, model)
            ]

    def show(self, ref: str) -> ModelVersion:
        """The version ``ref`` names: ``NAME@VERSION``, ``NAME@ALIAS``, or ``NAME`` (its
        newest version).

        Raises
        ------
        RegistryError
            ``ref`` is not a reference.
        RegistryLookupError
            No such model, version or alias.
        """
        parsed = parse_ref(ref)
        with self._read() as session:
            return self._record(session, self._resolve(session, parsed))

    def resolve(self, ref: Ref) -> ModelVersion:
        """Like :meth:`show`, for a reference already parsed (e.g. from a ``models:/`` URI)."""
        with self._read() as session:
            return self._record(session, self._resolve(session, ref))

    def aliases(self, name: str) -> dict[str, str]:
        """``{alias: version}`` for a model."""
        with self._read() as session:
            model = self._model(session, name)
            rows = session.scalars(select(AliasRow).where(AliasRow.model_id == model.id))
            result = {}
            for row in rows:
                version = session.get(VersionRow, row.version_id)
                assert version is not None  # a foreign key: the version exists
                result[row.alias] = version.version
            return dict(sorted(result.items()))

    def set_alias(
        self,
        name: str,
        alias: str,
        version: str,
        *,
        gate: GateRecord,
        forced: bool,
        reason: str,
        action: str = MOVE,
    ) -> AliasEvent:
        """Point ``NAME@ALIAS`` at ``version`` and record the move in the audit log, in one
        transaction. Low level: :func:`skbundle.lifecycle.promote` computes the gate.

        Raises
        ------
        RegistryError
            The gate did not pass and ``forced`` is False, or a forced move has no reason.
        RegistryLookupError
            No such model or version.
        """
        check_alias(alias)
        if not gate.passed and not forced:
            raise RegistryError(
                f"Cannot move {name}@{alias} to {version}",
                f"its gate did not pass ({gate.summary})",
                "Fix what blocks it, or force the move with a reason.",
            )
        if forced:
            check_reason(name, alias, version, reason)
        with self._write() as session:
            model = self._model(session, name)
            target = self._version(session, model, version)
            current = self._alias(session, model, alias)
            previous: str | None = None
            if current is None:
                session.add(AliasRow(model_id=model.id, alias=alias, version_id=target.id))
            else:
                old = session.get(VersionRow, current.version_id)
                previous = old.version if old is not None else None
                current.version_id = target.id
            event = AliasEventRow(
                model_id=model.id,
                alias=alias,
                action=action,
                from_version=previous,
                to_version=version,
                gate_passed=gate.passed,
                gate_summary=gate.summary,
                gate=_json_safe(gate.to_dict()),
                forced=forced,
                reason=reason,
                actor=_user(),
                at=_now(),
            )
            session.add(event)
            session.flush()
            return self._event(event, name)

    def _event(self, row: AliasEventRow, name: str) -> AliasEvent:
        return AliasEvent(
            id=row.id,
            name=name,
            alias=row.alias,
            action=row.action,
            from_version=row.from_version,
            to_version=row.to_version,
            gate=GateRecord.from_dict(row.gate),
            forced=row.forced,
            reason=row.reason,
            actor=row.actor,
            at=row.at,
        )

    def history(self, name: str, alias: str | None = None) -> builtins.list[AliasEvent]:
        """The audit log of a model's aliases (or of one alias), oldest first."""
        with self._read() as session:
            model = self._model(session, name)
            query = select(AliasEventRow).where(AliasEventRow.model_id == model.id)
            if alias is not None:
                query = query.where(AliasEventRow.alias == alias)
            rows = session.scalars(query.order_by(AliasEventRow.id)).all()
            return [self._event(row, name) for row in rows]

    def rollback(self, name: str, alias: str, *, reason: str = "") -> AliasEvent:
        """Move ``NAME@ALIAS`` back to the version it pointed at before its latest move that
        has not been rolled back yet (read from the audit log); recorded as a rollback.

        Rolling back twice goes back two moves. No gate runs: the alias served that version
        before.

        Raises
        ------
        RegistryLookupError
            No such model or alias, or the earlier version was deleted.
        RegistryError
            The alias has no earlier version to go back to.
        """
        check_alias(alias)
        events = self.history(name, alias)
        if not events:
            raise RegistryLookupError(
                f"Alias {name}@{alias}",
                "it was never set",
                "Set it with 'skbundle registry alias NAME ALIAS VERSION'.",
            )
        stack: builtins.list[str] = []
        for event in events:
            if event.action == ROLLBACK:
                if stack:
                    stack.pop()
            elif event.from_version is not None:
                stack.append(event.from_version)
        if not stack:
            raise RegistryError(
                f"Cannot roll back {name}@{alias}",
                f"it has no earlier version to go back to (it points at "
                f"{events[-1].to_version}, and every earlier move was rolled back or it was "
                "set only once)",
                "Move it with 'skbundle registry alias NAME ALIAS VERSION' instead.",
            )
        target = stack[-1]
        current = events[-1].to_version
        return self.set_alias(
            name,
            alias,
            target,
            gate=GateRecord.unchecked(
                f"not checked: rollback from {current} to {target}, which @{alias} served before"
            ),
            forced=False,
            reason=reason,
            action=ROLLBACK,
        )

    def delete(self, name: str, version: str) -> ModelVersion:
        """Remove a version from the registry (its blobs stay: they are shared by content).

        Raises
        ------
        RegistryConflictError
            An alias points at it: move the alias first.
        RegistryLookupError
            No such model or version.
        """
        with self._write() as session:
            model = self._model(session, name)
            row = self._version(session, model, version)
            record = self._record(session, row)
            if record.aliases:
                raise RegistryConflictError(
                    f"Cannot delete {name}@{version}",
                    f"the alias{'es' if len(record.aliases) > 1 else ''} "
                    f"{', '.join(repr(a) for a in record.aliases)} point"
                    f"{'' if len(record.aliases) > 1 else 's'} at it",
                    f"Move {'them' if len(record.aliases) > 1 else 'it'} to another version "
                    f"first ('skbundle registry alias {name} {record.aliases[0]} VERSION').",
                )
            session.delete(row)
            return record

    def pull(
        self, ref: str | Ref, out_dir: str | os.PathLike[str], *, overwrite: bool = False
    ) -> ModelVersion:
        """Write the version ``ref`` names as a bundle directory at ``out_dir``, verified.

        Every blob's SHA-256 is checked before anything is published; the bundle is built in
        a temporary sibling of ``out_dir`` and renamed into place, then verified against its
        manifest (as :func:`skbundle.load` will again).

        Raises
        ------
        RegistryIntegrityError
            A blob is missing or does not match its SHA-256 (nothing is written).
        BundleExistsError
            ``out_dir`` exists and ``overwrite`` is False.
        """
        record = self.resolve(ref) if isinstance(ref, Ref) else self.show(ref)

        def build(tmp: Path) -> None:
            write_version(self.blobs, record, tmp, registry=self.location)

        atomic.write_directory(Path(out_dir), build, overwrite=overwrite, marker=MANIFEST_NAME)
        return record
