"""Compact assessments: input and answer deflated (with a preset dictionary) instead of JSON text;
score, grade and name as columns for history lists; indexes for key history and retention.

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

import json
import zlib

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mysql import LONGBLOB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BLOB = sa.LargeBinary().with_variant(LONGBLOB(), "mysql", "mariadb")
BATCH = 2000
NAME_KEYS = ("name", "企业名称")  # FIELD_SPECS["name"] in English and Chinese when this was written


def _summary(given: object, result: object) -> tuple[float | None, str | None, str | None]:
    name = next((given[k] for k in NAME_KEYS if given.get(k)), None) if isinstance(given, dict) else None
    result = result if isinstance(result, dict) else {}
    score, grade = result.get("score"), result.get("grade")
    return (float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None,
            grade if isinstance(grade, str) else None, name if isinstance(name, str) else None)


def upgrade() -> None:
    op.create_table(
        "audit_dictionaries",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("data", BLOB, nullable=False))
    with op.batch_alter_table("assessments") as b:
        b.add_column(sa.Column("score", sa.Float, nullable=True))
        b.add_column(sa.Column("grade", sa.String(16), nullable=True))
        b.add_column(sa.Column("name", sa.Text, nullable=True))
        b.add_column(sa.Column("dict_id", sa.String(16), nullable=True))
        b.add_column(sa.Column("input_size", sa.Integer, nullable=True))
        b.add_column(sa.Column("record_z", BLOB, nullable=True))
    conn = op.get_bind()
    t = sa.table("assessments", sa.column("id"), sa.column("input_json"), sa.column("output_json"),
                 sa.column("score"), sa.column("grade"), sa.column("name"), sa.column("input_size"),
                 sa.column("record_z"))
    update = (sa.update(t).where(t.c.id == sa.bindparam("b_id"))
              .values(score=sa.bindparam("b_score"), grade=sa.bindparam("b_grade"), name=sa.bindparam("b_name"),
                      input_size=sa.bindparam("b_size"), record_z=sa.bindparam("b_z")))
    last = ""
    while True:  # keyset pages over the primary key: bounded memory however large the table
        rows = conn.execute(sa.select(t.c.id, t.c.input_json, t.c.output_json).where(t.c.id > last)
                            .order_by(t.c.id).limit(BATCH)).all()
        if not rows:
            break
        params = []
        for rid, given, answer in rows:
            raw_in, raw_out = given.encode("utf-8"), answer.encode("utf-8")
            comp = zlib.compressobj(6)
            score, grade, name = _summary(json.loads(given), json.loads(answer))
            params.append({"b_id": rid, "b_score": score, "b_grade": grade, "b_name": name, "b_size": len(raw_in),
                           "b_z": comp.compress(raw_in) + comp.compress(raw_out) + comp.flush()})
        conn.execute(update, params)
        last = rows[-1][0]
    with op.batch_alter_table("assessments") as b:
        b.drop_column("input_json")
        b.drop_column("output_json")
        b.alter_column("input_size", existing_type=sa.Integer, nullable=False)
        b.alter_column("record_z", existing_type=BLOB, nullable=False)
        b.create_index("ix_assessments_key", ["key_id", "assessed_at"])
        b.create_index("ix_assessments_at", ["assessed_at"])
    op.create_index("ix_uploads_received", "uploads", ["received_at"])
    op.create_index("ix_upload_assessments_upload", "upload_assessments", ["upload_id"])


def downgrade() -> None:
    op.drop_index("ix_upload_assessments_upload", "upload_assessments")
    op.drop_index("ix_uploads_received", "uploads")
    with op.batch_alter_table("assessments") as b:
        b.drop_index("ix_assessments_at")
        b.drop_index("ix_assessments_key")
        b.add_column(sa.Column("input_json", sa.Text, nullable=True))
        b.add_column(sa.Column("output_json", sa.Text, nullable=True))
    conn = op.get_bind()
    dicts = dict(conn.execute(sa.text("SELECT id, data FROM audit_dictionaries")).all())
    t = sa.table("assessments", sa.column("id"), sa.column("dict_id"), sa.column("input_size"),
                 sa.column("record_z"), sa.column("input_json"), sa.column("output_json"))
    update = (sa.update(t).where(t.c.id == sa.bindparam("b_id"))
              .values(input_json=sa.bindparam("b_in"), output_json=sa.bindparam("b_out")))
    last = ""
    while True:
        rows = conn.execute(sa.select(t.c.id, t.c.dict_id, t.c.input_size, t.c.record_z).where(t.c.id > last)
                            .order_by(t.c.id).limit(BATCH)).all()
        if not rows:
            break
        params = []
        for rid, dict_id, size, data in rows:
            dec = zlib.decompressobj(zdict=bytes(dicts[dict_id])) if dict_id else zlib.decompressobj()
            both = dec.decompress(bytes(data)) + dec.flush()
            params.append({"b_id": rid, "b_in": both[:size].decode("utf-8"), "b_out": both[size:].decode("utf-8")})
        conn.execute(update, params)
        last = rows[-1][0]
    with op.batch_alter_table("assessments") as b:
        for col in ("record_z", "input_size", "dict_id", "name", "grade", "score"):
            b.drop_column(col)
        b.alter_column("input_json", existing_type=sa.Text, nullable=False)
        b.alter_column("output_json", existing_type=sa.Text, nullable=False)
    op.drop_table("audit_dictionaries")
