"""Where a registry lives, and its database: one engine per registry, locking, error mapping.

Locations
---------
- a directory (the embedded default): ``DIR/registry.db`` (SQLite) and ``DIR/blobs/``;
- a SQLAlchemy URL: ``postgresql+psycopg://user@host/db`` for a team (``postgresql://`` is
  read as psycopg 3), or ``sqlite:///path/registry.db``. Blobs then go where ``blobs=`` says
  (a directory or an fsspec URL), which may also be given in the URL as ``?blobs=...``; a
  SQLite URL defaults to ``blobs/`` next to the database file.

Locking
-------
Every write (push, alias move, rollback, delete, migration) runs in one transaction that first
takes the registry's write lock, and every check it makes is made under that lock: SQLite
starts it with ``BEGIN IMMEDIATE`` (waiting up to :data:`BUSY_TIMEOUT_S` for another writer),
PostgreSQL takes a transaction-level advisory lock. Writes are rare and short (blobs are
written before the transaction), so serialising them costs nothing and leaves no room for a
lost update or a retry loop. Readers never take it (SQLite in WAL mode lets them read while a
writer writes).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session

from skbundle.errors import RegistryUnavailableError

ENV_REGISTRY = "SKBUNDLE_REGISTRY"
ENV_BLOBS = "SKBUNDLE_REGISTRY_BLOBS"
DEFAULT_LOCATION = "./skbundle-registry"
DB_NAME = "registry.db"
BLOBS_NAME = "blobs"
BUSY_TIMEOUT_S = 60.0
WRITE = "skbundle_write"
# 'skbundle' as a big-endian 64-bit integer: the advisory lock every writer takes.
PG_LOCK_KEY = int.from_bytes(b"skbundle", "big")


@dataclass(frozen=True)
class Location:
    """A resolved registry location: the database URL, the blob store, and how to show it."""

    url: URL
    blobs: str | None
    shown: str
    directory: Path | None = None  # the registry directory, for the embedded layout

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"


def _bad(location: str, problem: str) -> RegistryUnavailableError:
    return RegistryUnavailableError(
        f"Registry {location}",
        problem,
        f"Give a directory (the default is {DEFAULT_LOCATION}) or a database URL such as "
        "postgresql+psycopg://user@host/db, with --registry or SKBUNDLE_REGISTRY.",
    )


def resolve(
    location: str | os.PathLike[str] | None, blobs: str | os.PathLike[str] | None
) -> Location:
    """Turn what the user gave (or the environment, or the default) into a :class:`Location`."""
    if location is None:
        location = os.environ.get(ENV_REGISTRY) or DEFAULT_LOCATION
    if blobs is None:
        blobs = os.environ.get(ENV_BLOBS) or None
    text_location = os.fspath(location)
    blob_spec = os.fspath(blobs) if blobs is not None else None
    if "://" not in text_location:
        directory = Path(text_location)
        url = URL.create("sqlite", database=str(directory / DB_NAME))
        return Location(
            url, blob_spec or str(directory / BLOBS_NAME), str(directory), directory=directory
        )
    try:
        url = make_url(text_location)
    except ArgumentError as exc:
        raise _bad(text_location, f"it is not a database URL ({exc})") from None
    query_blobs = url.query.get("blobs")
    if query_blobs is not None:
        url = url.difference_update_query(["blobs"])
        if blob_spec is None:
            blob_spec = query_blobs if isinstance(query_blobs, str) else query_blobs[0]
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        if not url.database:
            raise _bad(shown, "an in-memory SQLite database keeps nothing between commands")
        blob_spec = blob_spec or str(Path(url.database).parent / BLOBS_NAME)
    if blob_spec is None:
        raise RegistryUnavailableError(
            f"Registry {shown}",
            "a database registry needs a place for its blobs",
            "Give blobs=DIR_OR_URL (CLI: --blobs, or SKBUNDLE_REGISTRY_BLOBS), or add "
            "?blobs=DIR_OR_URL to the URL.",
        )
    return Location(url, blob_spec, shown)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own would be DEFERRED).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _on_sqlite_begin(connection: Any) -> None:
    write = connection.get_execution_options().get(WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def create(location: Location) -> Engine:
    """An engine for ``location``; SQLite gets WAL, a busy timeout and foreign keys."""
    try:
        if location.is_sqlite:
            engine = create_engine(location.url, connect_args={"timeout": BUSY_TIMEOUT_S})
            event.listen(engine, "connect", _on_sqlite_connect)
            event.listen(engine, "begin", _on_sqlite_begin)
            return engine
        return create_engine(location.url, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise _bad(location.shown, f"SQLAlchemy cannot use it ({exc})") from None


@contextmanager
def translated(location: str) -> Iterator[None]:
    """The one boundary where database errors become :class:`RegistryUnavailableError`."""
    try:
        yield
    except DBAPIError as exc:
        detail = " ".join(str(exc.orig).split())
        raise RegistryUnavailableError(
            f"Registry {location}",
            f"the database failed: {type(exc.orig).__name__}: {detail}",
            "Check that the database is reachable and that you may write to it.",
        ) from exc
    except SQLAlchemyError as exc:
        raise RegistryUnavailableError(
            f"Registry {location}",
            f"the database failed: {type(exc).__name__}: {exc}",
            "Check that the database is reachable and that you may write to it.",
        ) from exc


@contextmanager
def writing(engine: Engine, location: str) -> Iterator[Session]:
    """A session in one transaction that holds the registry's write lock; committed on exit."""
    bind = engine.execution_options(**{WRITE: True})
    with translated(location), Session(bind) as session, session.begin():
        if engine.dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
        yield session


@contextmanager
def reading(engine: Engine, location: str) -> Iterator[Session]:
    """A session in one read transaction (no write lock)."""
    with translated(location), Session(engine) as session, session.begin():
        yield session
