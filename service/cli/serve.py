"""`techscore serve`: the scoring API under uvicorn."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from models.bundle import BundleError
from service.cli.common import _fail

app = typer.Typer()  # merged into `service.cli.main.app`: its commands are top-level commands


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

    from service.store.migrations import upgrade
    from service.api.settings import Settings
    from service.store.audit import make_engine

    if model is not None:
        os.environ["TECHSCORE_MODEL_DIR"] = str(model)
    if allow_not_ready:
        os.environ["TECHSCORE_ALLOW_NOT_READY"] = "1"
    from models.bundle import read_manifest
    from service.api.release_gate import release_of

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
    uvicorn.run("service.api.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="info", access_log=False)
