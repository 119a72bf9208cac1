"""Batch scoring of profile files: read → validate → score → write atomically."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from features.io import read_table
from features.validate import validate_frame
from models.scoring import Scorer


@dataclass
class BatchSummary:
    rows: int
    scored: int
    rejected: int
    grade_counts: dict[str, int]
    rejects_path: Path | None


def write_table_atomic(df: pd.DataFrame, path: Path) -> None:
    """CSV or Parquet by extension, via a temp file renamed into place (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def rejects_path_for(out: Path) -> Path:
    return out.with_name(out.stem + ".rejects.csv")


def score_file(scorer: Scorer, src: Path, out: Path, as_of: date | None = None) -> BatchSummary:
    """Score every valid row of src into out; invalid rows go to <out>.rejects.csv."""
    raw = read_table(src)
    checked = validate_frame(raw, as_of_default=as_of or date.today())
    result = scorer.score_frame(checked.clean).to_frame()
    write_table_atomic(result, out)
    rej_path = rejects_path_for(Path(out))
    if len(checked.rejects):
        write_table_atomic(checked.rejects, rej_path)
    else:
        rej_path.unlink(missing_ok=True)
    counts = result["grade"].value_counts().to_dict()
    return BatchSummary(len(raw), len(result), len(raw) - len(result), counts, rej_path if len(checked.rejects) else None)
