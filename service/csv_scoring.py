"""CSV upload → scored CSV: UTF-8 (with or without BOM) or GBK, English or Chinese headers, per-row errors."""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import Iterator

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from features.validate import validate_frame
from models.decision import RECOMMENDATION_COLUMNS
from models.scoring import RESULT_COLUMNS, Scorer

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


def json_rows(frame: pd.DataFrame) -> list[str]:
    """One JSON object per row (missing → null); orjson on plain lists is ~3× faster than to_json.

    The rows are zipped from per-column lists: a mixed frame's `to_numpy(dtype=object)` costs
    as much again.
    """
    cols = list(frame.columns)
    if not cols:
        return ["{}"] * len(frame)
    values = [frame.iloc[:, j].tolist() for j in range(frame.shape[1])]
    dumps, option = orjson.dumps, orjson.OPT_SERIALIZE_NUMPY
    return [dumps(dict(zip(cols, r)), option=option).decode() for r in zip(*values)]


@dataclass
class ScoredUpload:
    """All input rows in order: results for valid rows, an error message for the others."""
    table: pd.DataFrame  # OUTPUT_COLUMNS
    raw: pd.DataFrame
    scored_rows: np.ndarray  # positions of rows that got an assessment

    def chunks(self) -> Iterator[bytes]:
        """The table as UTF-8 CSV, a few thousand rows at a time (Arrow's writer: ~20× pandas' to_csv)."""
        for start in range(0, max(len(self.table), 1), CHUNK_ROWS):
            part = pa.Table.from_pandas(self.table.iloc[start : start + CHUNK_ROWS], preserve_index=False)
            buf = io.BytesIO()
            pacsv.write_csv(part, buf, pacsv.WriteOptions(include_header=start == 0))
            yield buf.getvalue()


def score_upload(scorer: Scorer, raw: pd.DataFrame, as_of: date, ids: np.ndarray) -> ScoredUpload:
    """Validate and score every row; `ids` (one per row) become the assessment ids of scored rows."""
    try:
        checked = validate_frame(raw, as_of_default=as_of)
    except ValueError as exc:  # two headers mapping to one field
        raise CsvError(str(exc)) from exc
    n = len(raw)
    scored = checked.clean.index.to_numpy()
    if len(scored):
        result = scorer.score_frame(checked.clean).to_frame()
    else:
        result = pd.DataFrame({c: pd.Series(dtype=object) for c in RESULT_COLUMNS + RECOMMENDATION_COLUMNS})
    table = result.reindex(pd.RangeIndex(n))  # rejected rows: empty results
    has_id = np.zeros(n, dtype=bool)
    has_id[scored] = True
    table.insert(0, "row", np.arange(n))
    table.insert(1, "assessment_id", np.where(has_id, ids, None))
    table["error"] = None
    if len(checked.rejects):
        by_row = checked.rejects.groupby("row")
        rows = by_row.size().index.to_numpy()
        table.loc[rows, "error"] = by_row["message"].agg("; ".join).to_numpy()
        table.loc[rows, "firm_id"] = by_row["firm_id"].first().to_numpy()
    return ScoredUpload(table, raw, scored)
