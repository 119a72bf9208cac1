"""CSV upload → scored CSV: UTF-8 (with or without BOM) or GBK, English or Chinese headers, per-row errors."""
from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from features.validate import validate_frame
from models.decision import RECOMMENDATION_COLUMNS
from models.scoring import RESULT_COLUMNS, Scorer
from service.ids import new_ids

OUTPUT_COLUMNS: tuple[str, ...] = ("row", "assessment_id") + RESULT_COLUMNS + RECOMMENDATION_COLUMNS + ("error",)
CHUNK_ROWS = 2000


class CsvError(ValueError):
    """The upload cannot be read as a table at all (the request fails; row errors never do)."""


def decode(data: bytes) -> str:
    """Text of an upload: UTF-8 (BOM stripped) when it decodes as such, else GB18030 (a superset of GBK)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise CsvError(f"the file is neither UTF-8 nor GBK/GB18030 text (byte {exc.start})") from exc


def read_csv_text(text: str) -> pd.DataFrame:
    """Every cell as text (the validator coerces by field kind: codes keep their leading zeros).

    Arrow's parser reads the file (~4× faster than pandas' own); a file it rejects (ragged rows,
    which pandas pads with empty cells) is read by pandas' parser, which gives the final word.
    """
    try:
        return pd.read_csv(io.BytesIO(text.encode("utf-8")), engine="pyarrow", dtype=str, keep_default_na=False,
                           na_values=[""])
    except (ValueError, pa.ArrowException):  # pandas' ParserError and EmptyDataError are ValueErrors
        pass
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError as exc:
        raise CsvError("the file is empty: expected a header line and at least one row") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise CsvError(f"not a readable CSV table: {exc}") from exc


@dataclass
class ScoredUpload:
    """All input rows in order: results for valid rows, an error message for the others."""
    table: pa.Table  # OUTPUT_COLUMNS, one row per data row of the file: what the client gets back
    scored_rows: np.ndarray  # positions of rows that got an assessment
    names: np.ndarray  # the firm names as submitted, of the scored rows
    normalised: Counter = field(default_factory=Counter)  # normalisation -> cells it changed (features/kinds.py)

    def chunks(self) -> Iterator[bytes]:
        """The table as UTF-8 CSV, a few thousand rows at a time (Arrow's writer: ~20× pandas' to_csv)."""
        for start in range(0, max(self.table.num_rows, 1), CHUNK_ROWS):
            buf = io.BytesIO()
            pacsv.write_csv(self.table.slice(start, CHUNK_ROWS), buf, pacsv.WriteOptions(include_header=start == 0))
            yield buf.getvalue()

    def assessed(self) -> list[tuple[str, int, str | None, str | None, float, str]]:
        """(assessment id, row, firm id, name, score, grade) of every scored row."""
        rows = pa.array(self.scored_rows)
        cols = [self.table.column(c).take(rows).to_pylist() for c in ("assessment_id", "firm_id", "score", "grade")]
        ids, firms, scores, grades = cols
        names = _text(self.names).to_pylist()  # NaN → None
        return list(zip(ids, self.scored_rows.tolist(), firms, names, scores, grades))


def score_upload(scorer: Scorer, raw: pd.DataFrame, as_of: date) -> ScoredUpload:
    """Validate and score every row; each scored row gets a new assessment id."""
    try:
        checked = validate_frame(raw, as_of_default=as_of)
    except ValueError as exc:  # two headers mapping to one field
        raise CsvError(str(exc)) from exc
    n = len(raw)
    scored = checked.clean.index.to_numpy()
    result = scorer.score_frame(checked.clean).to_table()
    at = np.full(n, -1, dtype=np.int64)
    at[scored] = np.arange(len(scored))
    table = result.take(pa.array(at, mask=at < 0))  # rejected rows: empty results
    ids = np.full(n, None, dtype=object)
    ids[scored] = new_ids(len(scored))
    firm = table.column("firm_id").to_numpy(zero_copy_only=False).astype(object)
    error = np.full(n, None, dtype=object)
    if len(checked.rejects):
        by_row = checked.rejects.groupby("row")
        rows = by_row.size().index.to_numpy()
        error[rows] = by_row["message"].agg("; ".join).to_numpy()
        firm[rows] = by_row["firm_id"].first().to_numpy()
    table = (table.set_column(table.schema.get_field_index("firm_id"), "firm_id", _text(firm))
             .add_column(0, "row", pa.array(np.arange(n)))
             .add_column(1, "assessment_id", _text(ids))
             .append_column("error", _text(error)))
    names = checked.clean["name"].to_numpy(dtype=object) if len(scored) else np.empty(0, dtype=object)
    return ScoredUpload(table, scored, names, checked.normalised)


def _text(values: np.ndarray) -> pa.Array:
    """Object array of text → Arrow strings (None and NaN → null)."""
    return pa.array(values, type=pa.string(), from_pandas=True)
