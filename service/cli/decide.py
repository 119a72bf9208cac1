"""`techscore what-if` and `next-grade`: decision support for one firm profile."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from models.bundle import DEFAULT_MODEL_DIR, BundleError, load_bundle
from service.cli.common import _fail, console, err_console

app = typer.Typer()  # merged into `service.cli.main.app`: its commands are top-level commands


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
    from service.api import answers

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
    """An API answer (service.api.answers) as the JSON the API sends, read back as Python data."""
    import json

    from service.api.answers import dump

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
    from service.api import answers

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
