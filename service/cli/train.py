"""`techscore train` and `report`: fit a bundle, write its validation report."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from models.bundle import DEFAULT_MODEL_DIR, BundleError, load_bundle
from service.cli.common import _fail, console, err_console

app = typer.Typer()  # merged into `service.cli.main.app`: its commands are top-level commands


def _metrics_table(metrics: dict) -> Table:
    table = Table(title="Out-of-fold metrics (whole book)" if "evaluation" in metrics else "Holdout metrics")
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
    table = Table(title="Grades out of fold (merged bands)" if "evaluation" in metrics else "Grades on the holdout")
    for col in ("grade", "count", "default rate", "mean PD"):
        table.add_column(col, justify="right")
    for row in metrics["grade_table"]:
        rate = "" if row["default_rate"] is None else f"{row['default_rate']:.2%}"
        mean_pd = "" if row["mean_pd"] is None else f"{row['mean_pd']:.2%}"
        table.add_row(row["grade"], str(row["count"]), rate, mean_pd)
    return table


def _champion_table(metrics: dict) -> Table:
    table = Table(title=f"Champion {metrics['champion']} vs challenger (holdout)")
    table.add_column("model")
    for key in ("auc", "ks", "brier", "ece"):
        table.add_column(key, justify="right")
    for name, m in metrics["models"].items():
        table.add_row(name, *(f"{m[k]:.4f}" for k in ("auc", "ks", "brier", "ece")))
    if "cv" in metrics:
        cv = metrics["cv"]
        for name in metrics["models"]:
            table.add_row(f"{name} {cv['folds']}-fold CV", f"{cv[f'{name}_auc_mean']:.4f} ± {cv[f'{name}_auc_std']:.4f}",
                          f"{cv[f'{name}_ks_mean']:.4f} ± {cv[f'{name}_ks_std']:.4f}", "", "")
    return table


@app.command()
def train(
    output: Path = typer.Option(DEFAULT_MODEL_DIR, "-o", "--output", help="Directory for the model bundle"),
    data: Optional[Path] = typer.Option(None, "--data", help="Labelled profile file (CSV/Parquet); synthetic when omitted"),
    target: str = typer.Option("default_12m", "--target", help="0/1 default column in --data"),
    rows: int = typer.Option(100_000, "--rows", help="Synthetic rows when --data is omitted"),
    seed: int = typer.Option(0, "--seed"),
    config: Optional[Path] = typer.Option(None, "--config", exists=True, dir_okay=False, help="Generic mode: YAML with column types, directions, groups, id, target_positive"),
    cv: int = typer.Option(0, "--cv", min=0, help="Also report K-fold cross-validated AUC/KS of champion and challenger (K ≥ 2)"),
    threads: int = typer.Option(1, "--threads", min=0, help="LightGBM threads (0: every core; 1, the default, is fastest at this model's size)"),
    trust: Optional[bool] = typer.Option(None, "--trust/--no-trust", help="Register the bundle as trusted for the server (default: only when writing the served model, TECHSCORE_MODEL_DIR)"),
) -> None:
    """Fit, calibrate and validate a model (and its WoE challenger); write bundle, manifest and metrics.json.

    A file whose headers are the firm-profile schema goes through the full pipeline; any other
    labelled table is trained in the generic tabular mode."""
    from features.io import read_table
    from features.tabular import TabularConfigError, load_tabular_config
    from training.synthetic import generate as gen
    from training.book import fit_book
    from training.tabular import BookPrepared, prepare_any
    from training.train import TrainConfig, TrainingDataError, cross_validate, fit_prepared, write_training_output

    if cv == 1:
        _fail("--cv needs at least 2 folds")
    cfg = TrainConfig(target=target, seed=seed, num_threads=threads)
    try:
        raw = read_table(data) if data else gen(rows, seed)
        prepared = prepare_any(raw, cfg, load_tabular_config(config))
        if isinstance(prepared, BookPrepared):  # a bank's own book: tuned, chosen and graded out of fold
            result = fit_book(prepared, cfg, cv or 5)
        else:
            result = fit_prepared(prepared, cfg)
            if cv:
                result.metrics["cv"] = cross_validate(prepared, cfg, cv)
    except (TrainingDataError, TabularConfigError, ValueError) as exc:
        _fail(str(exc))
    manifest = write_training_output(result, output)
    _trust_trained(output, trust)
    console.print(_metrics_table(result.metrics))
    console.print(_champion_table(result.metrics))
    console.print(_grade_table(result.metrics))
    for name, why in result.metrics.get("excluded_columns", {}).items():
        console.print(f"excluded column [bold]{name}[/]: {why}")
    if "release" in result.metrics:
        rel = result.metrics["release"]
        console.print(f"release: [bold]{rel['release']}[/]" + "".join(f"\n  - {r}" for r in rel["reasons"] + rel["notes"]))
    console.print(f"model {manifest['version']} ({result.metrics['trees']} trees, {result.metrics['seconds']} s) → {output}")


def _trust_trained(output: Path, trust: Optional[bool]) -> None:
    """Register a freshly trained bundle when asked, or by default when it is the model the server serves."""
    from models.trust import trust_bundle
    from service.api.settings import Settings

    settings = Settings.from_env()
    if trust is None:
        trust = Path(output).resolve() == Path(settings.model_dir).resolve()
    if trust:
        try:
            entry = trust_bundle(settings.trusted_bundles_file, output, note="techscore train")
        except BundleError as exc:
            _fail(str(exc))
        err_console.print(f"registered bundle {entry['sha256'][:16]}… as trusted in {settings.trusted_bundles_file}")


@app.command()
def report(
    model: Path = typer.Option(DEFAULT_MODEL_DIR, "--model", help="Model bundle directory"),
    data: Optional[Path] = typer.Option(None, "--data", exists=True, dir_okay=False, help="File to validate on (default: the training holdout)"),
    target: Optional[str] = typer.Option(None, "--target", help="0/1 outcome column in --data (default: the training target)"),
    output: Path = typer.Option(Path("report.html"), "-o", "--output", help="HTML file; figures are written beside it as PNG"),
) -> None:
    """Write the validation report: discrimination, calibration, grades, importance, monotonicity, PSI."""
    from features.io import read_table
    from features.tabular import TabularConfigError
    from training.report import ReportError, write_report

    try:
        bundle, manifest = load_bundle(model)
        raw = read_table(data) if data else None
        files = write_report(bundle, manifest, output, raw, str(data) if data else "", target)
    except (BundleError, ReportError, TabularConfigError) as exc:
        _fail(str(exc))
    console.print(f"report → {files.html}" + (f" (numbers in {files.json})" if files.json else "") + f"; {len(files.pngs)} figures as PNG beside it")
