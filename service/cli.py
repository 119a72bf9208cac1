"""The `techscore` command line: generate, train and score."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from models.bundle import DEFAULT_MODEL_DIR, BundleError, load_bundle

app = typer.Typer(add_completion=False, no_args_is_help=True, help="TechScore — open credit scoring for technology SMEs.")
console = Console()
err_console = Console(stderr=True)


def _fail(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=2)


@app.command()
def generate(
    rows: int = typer.Option(100_000, "--rows", min=1, help="Number of firms"),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same bytes)"),
    output: Path = typer.Option(..., "-o", "--output", help="CSV or Parquet file to write"),
) -> None:
    """Write a synthetic portfolio with labels and the true PD."""
    from training.synthetic import generate as gen, write_profiles

    df = gen(rows, seed)
    write_profiles(df, output)
    console.print(f"wrote {len(df):,} firms to {output} (default rate {df['default_12m'].mean():.2%})")


def _metrics_table(metrics: dict) -> Table:
    table = Table(title="Holdout metrics")
    table.add_column("metric")
    table.add_column("model", justify="right")
    table.add_column("oracle (true PD)", justify="right")
    oracle = metrics.get("oracle", {})
    for key in ("auc", "gini", "ks", "brier", "ece", "default_rate", "mean_pd", "n"):
        val = metrics["holdout"][key]
        table.add_row(key, f"{val:.4f}" if isinstance(val, float) else str(val), f"{oracle[key]:.4f}" if key in oracle and isinstance(oracle[key], float) else "")
    if "auc_ratio_to_oracle" in metrics:
        table.add_row("AUC / oracle AUC", f"{metrics['auc_ratio_to_oracle']:.4f}", "")
    return table


def _grade_table(metrics: dict) -> Table:
    table = Table(title="Grades on the holdout")
    for col in ("grade", "count", "default rate", "mean PD"):
        table.add_column(col, justify="right")
    for row in metrics["grade_table"]:
        rate = "" if row["default_rate"] is None else f"{row['default_rate']:.2%}"
        mean_pd = "" if row["mean_pd"] is None else f"{row['mean_pd']:.2%}"
        table.add_row(row["grade"], str(row["count"]), rate, mean_pd)
    return table


@app.command()
def train(
    output: Path = typer.Option(DEFAULT_MODEL_DIR, "-o", "--output", help="Directory for the model bundle"),
    data: Optional[Path] = typer.Option(None, "--data", help="Labelled profile file (CSV/Parquet); synthetic when omitted"),
    target: str = typer.Option("default_12m", "--target", help="0/1 default column in --data"),
    rows: int = typer.Option(100_000, "--rows", help="Synthetic rows when --data is omitted"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Fit, calibrate and validate a model; write bundle, manifest and metrics.json."""
    from features.io import read_table
    from training.synthetic import generate as gen
    from training.train import TrainConfig, TrainingDataError, train_model, write_training_output

    raw = read_table(data) if data else gen(rows, seed)
    try:
        result = train_model(raw, TrainConfig(target=target, seed=seed))
    except TrainingDataError as exc:
        _fail(str(exc))
    manifest = write_training_output(result, output)
    console.print(_metrics_table(result.metrics))
    console.print(_grade_table(result.metrics))
    console.print(f"model {manifest['version']} ({result.metrics['trees']} trees, {result.metrics['seconds']} s) → {output}")


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
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Scoring threads (local) or local-cluster workers (dask)"),
) -> None:
    """Score firm profiles: PD, score, grade, points, ratings, knock-outs and reasons; bad rows go to a rejects file."""
    import signal
    import sys

    from features.io import InputError
    from models.scoring import Scorer
    from service.batch import RejectRateExceeded
    from service.progress import progress_bar, summary_table

    if engine not in ("local", "dask"):
        _fail(f"unknown engine {engine!r}: choose local or dask")
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
                from service.dask_engine import score_dataset

                summary = score_dataset(Scorer(bundle), source, output, run_date, scheduler=scheduler,
                                        workers=workers, progress=progress, **options)
            else:
                from service.batch import score_file

                summary = score_file(Scorer(bundle), source, output, run_date, workers=workers,
                                     progress=progress, **options)
    except RejectRateExceeded as exc:
        console.print(summary_table(exc.summary))
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=3)
    except (InputError, ValueError) as exc:
        _fail(str(exc))
    console.print(summary_table(summary))


if __name__ == "__main__":
    app()
