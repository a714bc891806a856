"""The first registry schema: models, versions and their files, blobs, aliases, alias events.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("model_id", sa.Integer(), sa.ForeignKey("models.id"), nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("bundle_sha256", sa.String(64), nullable=False),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("pushed_by", sa.String(128), nullable=False),
        sa.Column("pushed_at", sa.String(32), nullable=False),
        sa.UniqueConstraint("model_id", "version", name="uq_versions_model_version"),
    )
    op.create_index("ix_versions_model_id", "versions", ["model_id"])
    op.create_table(
        "version_files",
        sa.Column(
            "version_id",
            sa.Integer(),
            sa.ForeignKey("versions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("sha256", sa.String(64), sa.ForeignKey("blobs.sha256"), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_version_files_sha256", "version_files", ["sha256"])
    op.create_table(
        "aliases",
        sa.Column("model_id", sa.Integer(), sa.ForeignKey("models.id"), primary_key=True),
        sa.Column("alias", sa.String(64), primary_key=True),
        sa.Column("version_id", sa.Integer(), sa.ForeignKey("versions.id"), nullable=False),
    )
    op.create_index("ix_aliases_version_id", "aliases", ["version_id"])
    op.create_table(
        "alias_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("model_id", sa.Integer(), sa.ForeignKey("models.id"), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_version", sa.String(128), nullable=True),
        sa.Column("to_version", sa.String(128), nullable=False),
        sa.Column("gate_passed", sa.Boolean(), nullable=False),
        sa.Column("gate_summary", sa.Text(), nullable=False),
        sa.Column("gate", sa.JSON(), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
    )
    op.create_index("ix_alias_events_model_id", "alias_events", ["model_id"])


def downgrade() -> None:
    for index, table in (
        ("ix_alias_events_model_id", "alias_events"),
        ("ix_aliases_version_id", "aliases"),
        ("ix_version_files_sha256", "version_files"),
        ("ix_versions_model_id", "versions"),
    ):
        op.drop_index(index, table_name=table)
    for table in ("alias_events", "aliases", "version_files", "versions", "blobs", "models"):
        op.drop_table(table)
