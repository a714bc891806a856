"""The registry's tables, as SQLAlchemy 2 ORM classes. Alembic migrations create them
(:mod:`skbundle.registry.migrations`); a test checks that the migrations and these classes agree.

Timestamps are ISO 8601 strings in UTC (``2026-01-31T12:00:00.000000+00:00``): the same text on
SQLite and PostgreSQL, sortable, and never a naive datetime.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAME_LENGTH = 128
VERSION_LENGTH = 128
ALIAS_LENGTH = 64
SHA256_LENGTH = 64
TIME_LENGTH = 32


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON}


class ModelRow(Base):
    """A model: a name under which versions are pushed and aliases set."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    created_at: Mapped[str] = mapped_column(String(TIME_LENGTH))

    versions: Mapped[list[VersionRow]] = relationship(back_populates="model")


class BlobRow(Base):
    """A file's content, stored once by its SHA-256 in the blob store."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(SHA256_LENGTH), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[str] = mapped_column(String(TIME_LENGTH))


class VersionRow(Base):
    """One pushed version of a model: the manifest's semver, hash and metrics, who pushed it."""

    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("model_id", "version", name="uq_versions_model_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    version: Mapped[str] = mapped_column(String(VERSION_LENGTH))
    bundle_sha256: Mapped[str] = mapped_column(String(SHA256_LENGTH))
    task: Mapped[str] = mapped_column(String(32))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    pushed_by: Mapped[str] = mapped_column(String(NAME_LENGTH))
    pushed_at: Mapped[str] = mapped_column(String(TIME_LENGTH))

    model: Mapped[ModelRow] = relationship(back_populates="versions")
    files: Mapped[list[FileRow]] = relationship(
        back_populates="version", cascade="all, delete-orphan", order_by="FileRow.path"
    )


class FileRow(Base):
    """One file of a version: its path in the bundle and the blob that holds its bytes."""

    __tablename__ = "version_files"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("versions.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)

    version: Mapped[VersionRow] = relationship(back_populates="files")


class AliasRow(Base):
    """Where an alias of a model points now (its past is in ``alias_events``)."""

    __tablename__ = "aliases"

    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(ALIAS_LENGTH), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), index=True)


class AliasEventRow(Base):
    """The audit log: every move of an alias, who made it, what its gate said, and why."""

    __tablename__ = "alias_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    alias: Mapped[str] = mapped_column(String(ALIAS_LENGTH))
    action: Mapped[str] = mapped_column(String(16))
    from_version: Mapped[str | None] = mapped_column(String(VERSION_LENGTH))
    to_version: Mapped[str] = mapped_column(String(VERSION_LENGTH))
    gate_passed: Mapped[bool]
    gate_summary: Mapped[str] = mapped_column(Text)
    gate: Mapped[dict[str, Any]] = mapped_column(JSON)
    forced: Mapped[bool]
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(NAME_LENGTH))
    at: Mapped[str] = mapped_column(String(TIME_LENGTH))
