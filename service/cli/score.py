"""`techscore score`, `drift` and `map suggest`: score files with the batch engines, compare a file with the
model's reference, map a bank's headers."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from models.bundle import DEFAULT_MODEL_DIR, BundleError, load_bundle
from service.cli.common import _fail, console, err_console

app = typer.Typer()  # merged into `service.cli.main.app`: its commands are top-level commands


@app.command()
def score(
    source: str = typer.Argument(..., help="Profiles to score: a CSV/Parquet file, a folder of partitions or a glob"),
    output: Path = typer.Option(..., "-o", "--output", help="Scored file (CSV/Parquet by extension or --format); a folder for partitioned Parquet with --engine dask"),
    model: Path = typer.Option(DEFAULT_MODEL_DIR, "--model", help="Model bundle directory"),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Assessment date for rows without as_of (default today)"),
    fmt: Optional[str] = typer.Option(None, "--format", help="Output format: csv or parquet (default: by extension)"),
    encoding: Optional[str] = typer.Option(None, "--encoding", help="CSV input encoding (default: detect UTF-8, UTF-8 with BOM or GBK)"),
    max_reject_rate: Optional[float] = typer.Option(None, "--max-reject-rate", min=0.0, max=1.0, help="Fail (exit 3, no scored output) when more than this share of rows is rejected"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar"),
    engine: str = typer.Option("local", "--engine", help="local (streaming, this machine) or dask"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (default: a local cluster)"),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Scoring worker processes (local; default one per core, up to 4) or local-cluster workers (dask)"),
    mapping: Optional[Path] = typer.Option(None, "--mapping", exists=True, dir_okay=False, help="YAML mapping of the file's columns to our fields (see `techscore map suggest`)"),
    sheet: Optional[str] = typer.Option(None, "--sheet", help="Excel input: sheet name or number (default: the first)"),
) -> None:
    """Score firm profiles (CSV, Parquet or .xlsx): PD, score, grade, points, ratings, knock-outs and reasons; bad rows go to a rejects file."""
    import signal
    import sys

    from features.io import InputError
    from models.scoring import Scorer
    from service.batch.local_engine import RejectRateExceeded
    from service.batch.progress import progress_bar, summary_table

    if engine not in ("local", "dask"):
        _fail(f"unknown engine {engine!r}: choose local or dask")
    column_mapping = _mapping(mapping)
    if engine == "dask" and (column_mapping or sheet or _has_xlsx(source)):
        _fail("Excel input, --sheet and --mapping run on the local engine (--engine local)")
    try:
        bundle, _ = load_bundle(model)
        run_date = date.fromisoformat(as_of) if as_of else None
    except BundleError as exc:
        _fail(str(exc))
    except ValueError:
        _fail(f"--as-of must be a date like 2025-06-30, got {as_of!r}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup of temporary files
    options = dict(encoding=encoding, fmt=fmt, max_reject_rate=max_reject_rate)
    try:
        with progress_bar(err_console, not quiet and err_console.is_terminal) as progress:
            if engine == "dask":
                from service.batch.dask_engine import score_dataset

                summary = score_dataset(Scorer(bundle), source, output, run_date, scheduler=scheduler,
                                        workers=workers, progress=progress, **options)
            else:
                from service.batch.local_engine import score_file

                summary = score_file(Scorer(bundle), source, output, run_date, workers=workers,
                                     progress=progress, mapping=column_mapping, sheet=sheet, **options)
    except RejectRateExceeded as exc:
        console.print(summary_table(exc.summary))
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=3)
    except (InputError, ValueError) as exc:
        _fail(str(exc))
    console.print(summary_table(summary))


def _has_xlsx(source: str) -> bool:
    """Whether any input file is an Excel workbook."""
    from features.io import InputError, input_files
    from features.xlsx import is_xlsx

    try:
        return any(is_xlsx(f) for f in input_files(source))
    except InputError:
        return False


def _mapping(path: Optional[Path]):  # type: ignore[no-untyped-def]
    """The --mapping file, or a clean exit naming what is wrong with it."""
    if path is None:
        return None
    from features.mapping import MappingError, load_mapping

    try:
        return load_mapping(path)
    except MappingError as exc:
        _fail(str(exc))


@app.command()
def drift(
    model: Path = typer.Option(DEFAULT_MODEL_DIR, "--model", help="Model bundle directory"),
    data: Path = typer.Option(..., "--data", exists=True, dir_okay=False, help="Recent applications (CSV/Parquet)"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Also write the result as JSON"),
) -> None:
    """PSI of every indicator and of the score against the training reference (watch ≥ 0.1, act ≥ 0.25)."""
    import json

    from features.io import read_table
    from features.tabular import TabularConfigError
    from models.drift import DriftReference
    from models.scoring import Scorer

    try:
        bundle, _ = load_bundle(model)
        scorer = Scorer(bundle)
        checked = scorer.validate(read_table(data))
        if not len(checked.clean):
            _fail(f"no row of {data} passes validation (first problem: {checked.rejects.head(1).to_dict(orient='records')}); nothing to compare")
        batch = scorer.score(checked.clean)
        result = DriftReference.from_dict(bundle.extras["drift_reference"]).compare(batch.values, batch.score)
    except (BundleError, TabularConfigError) as exc:
        _fail(str(exc))
    except KeyError:
        _fail(f"the model at {model} has no drift reference; retrain it with this version")
    table = Table(title=f"PSI vs training reference ({result['n']:,} rows; overall {result['status']})")
    for col in ("feature", "PSI", "status"):
        table.add_column(col, justify="right")
    table.add_row("score", f"{result['score']['psi']:.4f}", result["score"]["status"])
    for row in sorted(result["features"], key=lambda r: -r["psi"]):
        table.add_row(row["feature"], f"{row['psi']:.4f}", row["status"])
    console.print(table)
    if output:
        from models.bundle import atomic_write_bytes

        atomic_write_bytes(Path(output), json.dumps(result, indent=1).encode())


map_app = typer.Typer(no_args_is_help=True, help="Map a bank's own column headers to our fields.")


@map_app.command("suggest")
def map_suggest(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The bank's file (CSV, Parquet or .xlsx)"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the suggested mapping (YAML) here"),
    sheet: Optional[str] = typer.Option(None, "--sheet", help="Excel: sheet name or number (default: the first)"),
    encoding: Optional[str] = typer.Option(None, "--encoding", help="CSV encoding (default: detect)"),
    rows: int = typer.Option(200, "--rows", min=1, help="Sample rows whose values are checked"),
) -> None:
    """Propose a mapping from the file's headers (our names, Chinese labels, aliases, units in brackets,
    fuzzy matching) and sample values, with a confidence per column and the columns it could not place."""
    from rich.markup import escape

    from features.io import InputError, sample_rows
    from features.mapping import mapping_yaml, suggest_mapping

    try:
        guesses = suggest_mapping(sample_rows(file, rows, encoding, sheet))
    except (InputError, ValueError) as exc:
        _fail(str(exc))
    table = Table(title=f"Suggested mapping for {file.name} (review before use)")
    for col in ("their column", "our field", "unit", "confidence", "why"):
        table.add_column(col, justify="right" if col == "confidence" else "left")
    for g in guesses:
        table.add_row(escape(g.header), g.field or "[yellow]not placed[/]", g.unit or "", f"{g.confidence:.2f}",
                      escape(g.reason + (f"; candidates {', '.join(g.alternatives)}" if g.alternatives else "")))
    console.print(table)
    placed = sum(g.field is not None for g in guesses)
    console.print(f"{placed} of {len(guesses)} columns placed; {len(guesses) - placed} not placed")
    text = mapping_yaml(guesses, file.name)
    if output:
        from models.bundle import atomic_write_bytes

        atomic_write_bytes(output, text.encode("utf-8"))
        console.print(f"mapping → {output} (use it with `techscore score {file.name} --mapping {output.name}`)")
    else:
        print(text, end="")
