"""The `techscore` command line: generate, train and score, serve the API, and administer keys, bundles
and the audit store. Each command group lives in its own module of `service.cli` and only parses options
and calls into `training`, `models` and the service packages."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from service.cli import bundle, decide, generate, keys, score, serve, store, train
from service.cli.common import _fail

app = typer.Typer(add_completion=False, no_args_is_help=True, help="TechScore — open credit scoring for technology SMEs.")
app.add_typer(generate.app)
app.add_typer(train.app)
app.add_typer(score.app)
app.add_typer(score.map_app, name="map")
app.add_typer(decide.app)
app.add_typer(keys.keys_app, name="keys")
app.add_typer(bundle.bundle_app, name="bundle")
app.add_typer(serve.app)
app.add_typer(store.db_app, name="db")
app.add_typer(store.audit_app, name="audit")


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


if __name__ == "__main__":
    app()
