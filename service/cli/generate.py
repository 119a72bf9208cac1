"""`techscore generate` and `generate-book`: synthetic portfolios and loan books."""
from __future__ import annotations

from pathlib import Path

import typer

from service.cli.common import _fail, console

app = typer.Typer()  # merged into `service.cli.main.app`: its commands are top-level commands


@app.command()
def generate(
    rows: int = typer.Option(100_000, "--rows", min=1, help="Number of firms"),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same bytes)"),
    output: Path = typer.Option(..., "-o", "--output", help="CSV or Parquet file to write (.xlsx or CSV with --style bank-export)"),
    style: str = typer.Option("plain", "--style", help="plain (our columns, with labels) or bank-export (a bank's headers and spreadsheet formats, no labels; GBK CSV or .xlsx)"),
) -> None:
    """Write a synthetic portfolio with labels and the true PD."""
    from training.synthetic import generate as gen, write_profiles

    if style == "bank-export":
        from training.bank_export import bank_export, write_bank_export

        export = bank_export(rows, seed)
        write_bank_export(export, output)
        console.print(f"wrote {rows:,} firms as a bank export to {output}; {len(export.planted_rows)} planted rows "
                      f"to be rejected listed in {output.with_name(output.stem + '.planted.csv')}")
        return
    if style != "plain":
        _fail(f"unknown --style {style!r}: choose plain or bank-export")
    df = gen(rows, seed)
    write_profiles(df, output)
    console.print(f"wrote {len(df):,} firms to {output} (default rate {df['default_12m'].mean():.2%})")


@app.command("generate-book")
def generate_book(
    rows: int = typer.Option(10_000, "--rows", min=1, help="Number of loans"),
    seed: int = typer.Option(0, "--seed", help="Random seed"),
    output: Path = typer.Option(..., "-o", "--output", help="CSV or Parquet file to write"),
) -> None:
    """Write a labelled loan book whose columns are NOT the firm profile (to try the generic tabular mode)."""
    from training.synthetic import write_profiles
    from training.synthetic_tabular import generate_loan_book

    df = generate_loan_book(rows, seed)
    write_profiles(df, output)  # atomic, byte-deterministic CSV or Parquet
    console.print(f"wrote {len(df):,} loans to {output} (default rate {df['defaulted'].mean():.2%}; target column `defaulted`)")
