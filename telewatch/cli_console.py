"""What every ``telewatch`` command shares: its consoles, the ``--config`` option and how a bad config is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from core.config_loader import ConfigError
from telewatch.config import Config, load_config

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: config/telewatch.yaml)", envvar="TELEWATCH_CONFIG"),
]


def config_or_exit(path: Path | None) -> Config:
    """The config at ``path`` (None: the default file); a bad one is printed with its line and exits with 2."""
    try:
        return load_config(path)
    except ConfigError as exc:
        err_console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from exc
