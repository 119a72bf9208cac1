"""What every command shares: the consoles and the error exit."""
from __future__ import annotations

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def _fail(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=2)
