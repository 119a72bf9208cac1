"""The `techscore` command line: generate, train and score."""
from __future__ import annotations

from datetime import date, datetime
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
    from service.settings import Settings

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
    from service.batch import RejectRateExceeded
    from service.progress import progress_bar, summary_table

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
                from service.dask_engine import score_dataset

                summary = score_dataset(Scorer(bundle), source, output, run_date, scheduler=scheduler,
                                        workers=workers, progress=progress, **options)
            else:
                from service.batch import score_file

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


map_app = typer.Typer(no_args_is_help=True, help="Map a bank's own column headers to our fields.")
app.add_typer(map_app, name="map")


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


@app.callback()
def _policy_option(
    policy: Optional[Path] = typer.Option(None, "--policy", help="Credit policy YAML for every command (sets $TECHSCORE_POLICY; default: the packaged policy)"),
) -> None:
    """Check the credit policy once, before any command uses it (a broken file is a clean error)."""
    import os

    from models.policy import POLICY_ENV, PolicyError, load_policy

    if policy is not None:
        os.environ[POLICY_ENV] = str(policy)
    try:
        load_policy()
    except PolicyError as exc:
        _fail(str(exc))


def _scorer(model: Path):  # type: ignore[no-untyped-def]
    """Scorer for a bundle directory (with the policy of $TECHSCORE_POLICY), or a clean exit."""
    from models.scoring import Scorer

    try:
        bundle, _ = load_bundle(model)
    except BundleError as exc:
        _fail(str(exc))
    return Scorer(bundle)


def _read_profile(path: Path) -> dict:
    """A firm profile from a JSON file (one object), or a clean exit naming the problem."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        _fail(f"{path}: not a readable JSON file ({exc})")
    if not isinstance(data, dict):
        _fail(f"{path}: a firm profile must be one JSON object")
    return data


def _print_json(out: dict) -> None:
    import json

    print(json.dumps(out, ensure_ascii=False, indent=2, default=str))


def _side_table(out: dict) -> Table:
    table = Table(title=f"What-if for {out['firm_id']}")
    for col in ("", "before", "after"):
        table.add_column(col, justify="right")
    b, a = out["before"], out["after"]
    for key in ("score", "grade", "pd", "decision", "limit"):
        fmt = (lambda v: f"{v:.3%}") if key == "pd" else str
        table.add_row(key, fmt(b[key]), fmt(a[key]))
    table.add_row("products", ", ".join(b["products"]), ", ".join(a["products"]))
    for d in out["dimensions"]:
        table.add_row(f"{d['label_en']} points", f"{d['before']:.2f}", f"{d['after']:.2f} ({d['points']:+.2f})")
    return table


def _what_if_errors(exc) -> None:  # type: ignore[no-untyped-def]
    """Each bad field of a what-if / next-grade request, then a clean exit."""
    from rich.markup import escape

    for v in exc.violations:
        err_console.print("  " + escape(v["message"]))
    _fail(escape(f"invalid {str(exc).split(':', 1)[0]}; nothing scored" if exc.violations else str(exc)))


@app.command("what-if")
def what_if_cmd(
    profile: Path = typer.Argument(..., exists=True, dir_okay=False, help="Firm profile (JSON object)"),
    change: list[str] = typer.Option(..., "--change", help="FIELD=CHANGE: +2, -1, +20%, =other_field (write FIELD==other_field) or a value; repeatable"),
    model: Path = typer.Option(DEFAULT_MODEL_DIR, "--model", help="Model bundle directory"),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Assessment date when the profile has none (default today)"),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON"),
) -> None:
    """Score a profile with changes beside the profile as it is: score, grade, limit and points moved."""
    from models.whatif import WhatIfError, what_if
    from service import answers

    changes = {}
    for item in change:
        field, sep, value = item.partition("=")
        if not sep or not field.strip():
            _fail(f"--change {item!r}: write FIELD=CHANGE, e.g. rd_expense_y0=+20%")
        changes[field.strip()] = value.strip()
    scorer = _scorer(model)
    try:
        found = what_if(scorer, _read_profile(profile), changes, date.fromisoformat(as_of) if as_of else date.today())
    except WhatIfError as exc:
        _what_if_errors(exc)
    out = _answer(answers.what_if_result(found))
    if as_json:
        return _print_json(out)
    console.print(_side_table(out))
    console.print(f"score {out['score_change']:+.2f} points; policy {out['policy_version']}, model {out['model_version']}")


def _answer(model: object) -> dict:
    """An API answer (service.answers) as the JSON the API sends, read back as Python data."""
    import json

    from service.answers import dump

    return json.loads(dump(model))  # type: ignore[arg-type]


@app.command("next-grade")
def next_grade_cmd(
    profile: Path = typer.Argument(..., exists=True, dir_okay=False, help="Firm profile (JSON object)"),
    model: Path = typer.Option(DEFAULT_MODEL_DIR, "--model", help="Model bundle directory"),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Assessment date when the profile has none (default today)"),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON"),
) -> None:
    """The smallest set of realistic changes (the policy's levers) that lifts the firm one grade."""
    from models.whatif import WhatIfError, next_grade
    from service import answers

    scorer = _scorer(model)
    try:
        path = next_grade(scorer, _read_profile(profile), date.fromisoformat(as_of) if as_of else date.today())
    except WhatIfError as exc:
        _what_if_errors(exc)
    out = _answer(answers.next_grade_result(path))
    if as_json:
        return _print_json(out)
    cur = out["current"]
    console.print(f"{out['firm_id']}: score {cur['score']:.2f}, grade {cur['grade']}"
                  + (f" → target {out['target_grade']} (PD below {out['target_pd_below']:.2%}, "
                     f"{out['points_needed']:.2f} points)" if out["target_grade"] else ""))
    if out["steps"]:
        table = Table(title="Path to the next grade")
        for col in ("step", "field", "change", "from → to", "points", "grade after"):
            table.add_column(col, justify="right")
        for n, st in enumerate(out["steps"], 1):
            moves = "; ".join(f"{c['field']} {c['from']} → {c['to']}" for c in st["changes"])
            table.add_row(str(n), st["label_en"], st["change"], moves, f"{st['points']:+.2f}", st["grade_after"])
        console.print(table)
        after = out["result"]["after"]
        console.print(f"re-scored: {after['score']:.2f}, grade {after['grade']}, {after['decision']}, limit {after['limit']:g} 万元")
    if out["knockouts"]:
        console.print(f"knock-outs remain ({', '.join(out['knockouts'])}): the decision stays decline")
    console.print(out["message"])


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
        batch = scorer.score_frame(checked.clean)
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


keys_app = typer.Typer(no_args_is_help=True, help="API keys (stored only as sha256 hashes).")
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    role: str = typer.Option("officer", "--role", help="officer (score, read own assessments) or admin"),
    key_id: Optional[str] = typer.Option(None, "--id", help="Key id recorded in the audit trail"),
    keys_file: Optional[Path] = typer.Option(None, "--keys-file", help="Keys file (default TECHSCORE_KEYS_FILE)"),
    if_none: bool = typer.Option(False, "--if-none", help="Do nothing when the file already holds a key of this role"),
) -> None:
    """Create an API key; the secret is printed once and only its hash is stored."""
    from service.auth import create_key, read_keys
    from service.settings import Settings

    path = keys_file or Settings.from_env().keys_file
    try:
        if if_none and any(k.role == role and k.active for k in read_keys(path)):
            err_console.print(f"{path} already holds an {role} key; none created")
            return
        key, secret = create_key(path, role, key_id)  # type: ignore[arg-type]
    except ValueError as exc:
        _fail(str(exc))
    err_console.print(f"created {key.role} key [bold]{key.id}[/] in {path}; keep the secret, only its hash is stored:")
    print(secret)  # alone on stdout, so scripts can capture it


def _keys_path(keys_file: Optional[Path]) -> Path:
    from service.settings import Settings

    return keys_file or Settings.from_env().keys_file


_KEYS_FILE_OPTION = typer.Option(None, "--keys-file", help="Keys file (default TECHSCORE_KEYS_FILE)")


@keys_app.command("list")
def keys_list(keys_file: Optional[Path] = _KEYS_FILE_OPTION,
              show_revoked: bool = typer.Option(True, "--revoked/--active-only", help="Also list revoked keys")) -> None:
    """List keys: id, role, created, revoked, and the first characters of the hash (never a secret)."""
    from service.auth import read_keys

    path = _keys_path(keys_file)
    try:
        keys = read_keys(path)
    except ValueError as exc:
        _fail(str(exc))
    table = Table(title=f"API keys in {path}")
    for col in ("id", "role", "status", "created", "revoked", "sha256"):
        table.add_column(col)
    for k in keys:
        if show_revoked or k.active:
            table.add_row(k.id, k.role, "active" if k.active else "revoked", k.created_at or "", k.revoked_at or "",
                          k.sha256[:12] + "…")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(..., help="Id of the key to revoke"),
                keys_file: Optional[Path] = _KEYS_FILE_OPTION) -> None:
    """Revoke a key: every running server refuses it within a second (the entry stays, marked revoked)."""
    from service.auth import revoke_key

    path = _keys_path(keys_file)
    try:
        key = revoke_key(path, key_id)
    except ValueError as exc:
        _fail(str(exc))
    err_console.print(f"revoked {key.role} key [bold]{key.id}[/] at {key.revoked_at} in {path}")


@keys_app.command("rotate")
def keys_rotate(key_id: str = typer.Argument(..., help="Id of the key to give a new secret"),
                keys_file: Optional[Path] = _KEYS_FILE_OPTION) -> None:
    """Give a key a new secret (same id and role, so its audit history stays its own); the old secret stops working."""
    from service.auth import rotate_key

    path = _keys_path(keys_file)
    try:
        key, secret = rotate_key(path, key_id)
    except ValueError as exc:
        _fail(str(exc))
    err_console.print(f"rotated {key.role} key [bold]{key.id}[/] in {path}; the old secret stops working within a second. New secret:")
    print(secret)


bundle_app = typer.Typer(no_args_is_help=True, help="Model bundles: the registry of trusted bundles, and converting old ones.")
app.add_typer(bundle_app, name="bundle")
_TRUSTED_OPTION = typer.Option(None, "--registry", help="Trusted-bundles file (default TECHSCORE_TRUSTED_BUNDLES_FILE)")


def _registry(path: Optional[Path]) -> Path:
    from service.settings import Settings

    return path or Settings.from_env().trusted_bundles_file


@bundle_app.command("trust")
def bundle_trust(directory: Path = typer.Argument(..., help="Bundle directory to register"),
                 note: str = typer.Option("", "--note", help="Why it is trusted (kept in the registry)"),
                 registry: Optional[Path] = _TRUSTED_OPTION) -> None:
    """Verify a bundle and register its identity (sha256 of manifest.json): the server may then load it."""
    from models.trust import trust_bundle

    path = _registry(registry)
    try:
        entry = trust_bundle(path, directory, note)
    except BundleError as exc:
        _fail(str(exc))
    err_console.print(f"trusted bundle {entry['version']} in {path}:")
    print(entry["sha256"])


@bundle_app.command("untrust")
def bundle_untrust(sha256: str = typer.Argument(..., help="Bundle sha256 (or 8+ leading characters)"),
                   registry: Optional[Path] = _TRUSTED_OPTION) -> None:
    """Remove a bundle from the registry: servers refuse to load it from then on (the served model stays)."""
    from models.trust import untrust_bundle

    path = _registry(registry)
    try:
        entry = untrust_bundle(path, sha256)
    except BundleError as exc:
        _fail(str(exc))
    err_console.print(f"bundle {entry['sha256']} ({entry.get('version')}) is no longer trusted in {path}")


@bundle_app.command("list")
def bundle_list(registry: Optional[Path] = _TRUSTED_OPTION) -> None:
    """The trusted bundles: sha256, version, when and from where they were registered."""
    from models.trust import read_trusted

    path = _registry(registry)
    try:
        entries = read_trusted(path)
    except BundleError as exc:
        _fail(str(exc))
    err_console.print(f"{len(entries)} trusted bundle(s) in {path} (sha256, version, registered, source, note):")
    for e in entries.values():  # one tab-separated line each: full hashes, for scripts and eyes alike
        print("\t".join(str(e.get(k, "")) for k in ("sha256", "version", "registered_at", "source", "note")))


@bundle_app.command("convert")
def bundle_convert(old: Path = typer.Argument(..., help="Old joblib bundle directory (format 1)"),
                   new: Path = typer.Argument(..., help="Directory for the converted bundle"),
                   trust: bool = typer.Option(False, "--trust", help="Also register the converted bundle as trusted"),
                   registry: Optional[Path] = _TRUSTED_OPTION) -> None:
    """Convert an old joblib bundle to the JSON format. This unpickles OLD: run it only on a bundle you trust."""
    from models.bundle import convert_joblib_bundle

    if new.exists() and any(new.iterdir()):
        _fail(f"{new} is not empty; convert into a new directory")
    try:
        manifest = convert_joblib_bundle(old, new)
    except BundleError as exc:
        _fail(str(exc))
    console.print(f"converted model {manifest['version']} → {new} (bundle sha256 {manifest['bundle_sha256']})")
    if trust:
        bundle_trust(new, "converted from a joblib bundle", registry)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    model: Optional[Path] = typer.Option(None, "--model", help="Model bundle directory (default TECHSCORE_MODEL_DIR)"),
    workers: int = typer.Option(1, "--workers", min=1),
    allow_not_ready: bool = typer.Option(False, "--allow-not-ready", help="Admin override: serve a bundle whose release verdict is not_ready (recorded in TECHSCORE_RELEASE_OVERRIDES_FILE)"),
) -> None:
    """Serve the scoring API with uvicorn (settings from TECHSCORE_* environment variables)."""
    import os

    import uvicorn

    from service.migrations import upgrade
    from service.settings import Settings
    from service.store import make_engine

    if model is not None:
        os.environ["TECHSCORE_MODEL_DIR"] = str(model)
    if allow_not_ready:
        os.environ["TECHSCORE_ALLOW_NOT_READY"] = "1"
    from models.bundle import read_manifest
    from service.release_gate import release_of

    settings = Settings.from_env()
    try:
        verdict = release_of(read_manifest(settings.model_dir))
    except BundleError:
        verdict = None  # the server starts and /readyz says why no model is served
    if verdict and verdict.get("release") != "ready" and not settings.allow_not_ready:
        _fail(f"model at {settings.model_dir} is not ready for release: {'; '.join(verdict.get('reasons', []))}; "
              "serve it only with --allow-not-ready (an admin override, recorded)")
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)  # once, before the workers start (each would otherwise race to do it)
    except Exception as exc:  # unreachable or unwritable store: say which, no traceback
        _fail(f"the audit store {engine.url.render_as_string(hide_password=True)} cannot be opened: "
              f"{str(exc).splitlines()[0]}")
    finally:
        engine.dispose()
    uvicorn.run("service.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="info", access_log=False)


db_app = typer.Typer(no_args_is_help=True, help="The audit store's database schema (Alembic migrations).")
app.add_typer(db_app, name="db")
_DB_URL = typer.Option(None, "--database-url", help="SQLAlchemy URL (default TECHSCORE_DATABASE_URL)")


def _db_url(url: Optional[str]) -> str:
    from service.settings import Settings

    return url or Settings.from_env().database_url


@db_app.command("upgrade")
def db_upgrade(database_url: Optional[str] = _DB_URL,
               revision: str = typer.Option("head", "--revision", help="Target revision")) -> None:
    """Apply the migrations the database lacks (the server also does this at start-up)."""
    from service.migrations import current, upgrade
    from service.store import make_engine

    engine = make_engine(_db_url(database_url))
    try:
        before = current(engine)
        upgrade(engine, revision)
        console.print(f"audit store at revision {current(engine)} (was {before or 'empty'})")
    finally:
        engine.dispose()


@db_app.command("current")
def db_current(database_url: Optional[str] = _DB_URL) -> None:
    """Print the revision the database is at and the newest one this version knows."""
    from service.migrations import current, head
    from service.store import make_engine

    engine = make_engine(_db_url(database_url))
    try:
        console.print(f"database {current(engine) or 'empty'}, code {head()}")
    finally:
        engine.dispose()


audit_app = typer.Typer(no_args_is_help=True, help="The audit trail: archive and retention.")
app.add_typer(audit_app, name="audit")


@audit_app.command("archive")
def audit_archive(
    output: Path = typer.Option(..., "-o", "--output", help="Parquet file to write (not overwritten)"),
    before: Optional[datetime] = typer.Option(None, "--before", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
                                              help="Export the records made before this UTC date or time"),
    older_than_days: Optional[int] = typer.Option(None, "--older-than-days", min=1, help="…or older than this many days"),
    delete: bool = typer.Option(False, "--delete", help="Delete the exported records from the store once the file is safe"),
    database_url: Optional[str] = _DB_URL,
) -> None:
    """Export audit records to Parquet (input and answer as stored), optionally deleting them after."""
    from datetime import timedelta, timezone

    from service.audit_archive import archive, exclusive
    from service.store import AuditStore

    if (before is None) == (older_than_days is None):
        _fail("give exactly one of --before and --older-than-days")
    cut = before.replace(tzinfo=timezone.utc) if before else datetime.now(timezone.utc) - timedelta(days=older_than_days or 0)
    store = AuditStore(_db_url(database_url))
    try:
        with exclusive(store.engine) as mine:
            if not mine:
                _fail("another process is archiving this store; try again later")
            result = archive(store, cut, output, delete_after=delete)
    except FileExistsError as exc:
        _fail(str(exc))
    finally:
        store.close()
    if result.path is None:
        console.print(f"no audit records before {cut.isoformat()}; nothing written")
        return
    console.print(f"{result.records:,} records before {cut.isoformat()} → {result.path}"
                  + (f"; {result.deleted:,} deleted from the store" if delete else ""))


if __name__ == "__main__":
    app()
