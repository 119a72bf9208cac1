"""Uploads' file and returned table stored in pieces (`upload_blobs`), so that an upload's audit record
is copied into the store from its spool on disk without ever being whole in memory; the inline
columns `uploads.file_zstd` and `uploads.output_arrow` become nullable (NULL: the pieces hold them;
uploads stored before keep theirs inline).

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mysql import LONGBLOB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BLOB = sa.LargeBinary().with_variant(LONGBLOB(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "upload_blobs",
        sa.Column("upload_id", sa.String(36), sa.ForeignKey("uploads.id"), primary_key=True),
        sa.Column("part", sa.String(8), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("data", BLOB, nullable=False))
    with op.batch_alter_table("uploads") as b:
        b.alter_column("file_zstd", existing_type=BLOB, nullable=True)
        b.alter_column("output_arrow", existing_type=BLOB, nullable=True)


def downgrade() -> None:
    """The pieces joined back into the inline columns, one upload at a time."""
    conn = op.get_bind()
    u = sa.table("uploads", sa.column("id"), sa.column("file_zstd"), sa.column("output_arrow"))
    b = sa.table("upload_blobs", sa.column("upload_id"), sa.column("part"), sa.column("seq"), sa.column("data"))
    ids = conn.execute(sa.select(b.c.upload_id).distinct()).scalars().all()
    for upload_id in ids:
        parts = {}
        for part in ("file", "output"):
            parts[part] = b"".join(bytes(p) for p in conn.execute(
                sa.select(b.c.data).where(b.c.upload_id == upload_id, b.c.part == part).order_by(b.c.seq)).scalars())
        conn.execute(sa.update(u).where(u.c.id == upload_id)
                     .values(file_zstd=parts["file"], output_arrow=parts["output"]))
    op.drop_table("upload_blobs")
    with op.batch_alter_table("uploads") as b:
        b.alter_column("file_zstd", existing_type=BLOB, nullable=False)
        b.alter_column("output_arrow", existing_type=BLOB, nullable=False)
