"""The officer's history page: assessments newest first, one page at a time, searched by name or credit code.

Reads the audit store's two assessment tables (single/batch records and CSV-upload rows) as one
ordered union, so paging and the total are computed by the database, not by loading everything.
A search term matches the credit code (prefix, case-insensitive) or the firm's name as submitted
(substring), both kept in columns of their own beside the compressed record.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, literal, or_, select, union_all

from service.store.audit import AuditStore, _summary, assessments, upload_assessments


def _like(term: str) -> str:
    """`term` as a LIKE pattern matched literally (its % and _ escaped with backslash)."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def history_page(store: AuditStore, key_id: str | None, q: str, offset: int,
                 limit: int) -> tuple[list[dict[str, Any]], int]:
    """(summaries of rows offset … offset+limit−1, total matching) for `key_id` (all keys when None)."""
    single, rows = assessments.c, upload_assessments.c
    s = select(single.id.label("id"), single.assessed_at.label("at"), literal(0).label("csv"), literal(0).label("row"))
    c = select(rows.id.label("id"), rows.assessed_at.label("at"), literal(1).label("csv"), rows.row.label("row"))
    if key_id is not None:
        s, c = s.where(single.key_id == key_id), c.where(rows.key_id == key_id)
    term = q.strip()
    if term:
        code, text = _like(term.upper()) + "%", "%" + _like(term) + "%"
        s = s.where(or_(func.upper(single.firm_id).like(code, escape="\\"), single.name.like(text, escape="\\")))
        c = c.where(or_(func.upper(rows.firm_id).like(code, escape="\\"), rows.name.like(text, escape="\\")))
    both = union_all(s, c).subquery()
    page = select(both).order_by(both.c.at.desc(), both.c.row).offset(offset).limit(limit)
    with store.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(both)).scalar_one()
        picked = list(conn.execute(page).mappings())
        out = _details(conn, [p["id"] for p in picked if not p["csv"]], [p["id"] for p in picked if p["csv"]])
    return [out[p["id"]] for p in picked], int(total)


def _details(conn: Any, single_ids: list[str], csv_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The history lines of the picked ids, keyed by id."""
    out: dict[str, dict[str, Any]] = {}
    if single_ids:
        a = assessments.c
        q = select(a.id, a.assessed_at, a.channel, a.model_version, a.score, a.grade, a.firm_id, a.name)
        out |= {r["id"]: _summary(r, r["channel"]) for r in conn.execute(q.where(a.id.in_(single_ids))).mappings()}
    if csv_ids:
        u = upload_assessments.c
        q = select(u.id, u.assessed_at, u.model_version, u.firm_id, u.score, u.grade, u.name)
        out |= {r["id"]: _summary(r, "csv") for r in conn.execute(q.where(u.id.in_(csv_ids))).mappings()}
    return out
