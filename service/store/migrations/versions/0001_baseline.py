"""Baseline: the audit store as created before migrations (JSON text per assessment).

Revision ID: 0001
Revises:
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mysql import LONGBLOB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BLOB = sa.LargeBinary().with_variant(LONGBLOB(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "assessments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("assessed_at", sa.String(40), nullable=False),
        sa.Column("firm_id", sa.String(64), nullable=True),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("input_json", sa.Text, nullable=False),
        sa.Column("output_json", sa.Text, nullable=False))
    op.create_index("ix_assessments_firm", "assessments", ["firm_id", "assessed_at"])
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("received_at", sa.String(40), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("file_size", sa.Integer, nullable=False),
        sa.Column("file_zstd", BLOB, nullable=False),
        sa.Column("output_arrow", BLOB, nullable=False))
    op.create_table(
        "upload_assessments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("upload_id", sa.String(36), sa.ForeignKey("uploads.id"), nullable=False),
        sa.Column("row", sa.Integer, nullable=False),
        sa.Column("assessed_at", sa.String(40), nullable=False),
        sa.Column("firm_id", sa.String(64), nullable=True),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("grade", sa.String(4), nullable=False),
        sa.Column("name", sa.Text, nullable=True))
    op.create_index("ix_upload_assessments_firm", "upload_assessments", ["firm_id", "assessed_at"])
    op.create_index("ix_upload_assessments_key", "upload_assessments", ["key_id", "assessed_at"])
    op.create_table("store_probe", sa.Column("id", sa.String(8), primary_key=True))


def downgrade() -> None:
    for table in ("store_probe", "upload_assessments", "uploads", "assessments"):
        op.drop_table(table)
