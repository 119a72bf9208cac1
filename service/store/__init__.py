"""The audit store: tables, group commit, record codec, history, archive and retention, and its
Alembic migrations. Imports `service.batch` only (to re-read a stored upload as its CSV reader does)."""
