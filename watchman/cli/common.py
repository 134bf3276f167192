"""What every command shares: exit codes, the consoles, the settings, errors and progress bars."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from watchman import settings as settings_mod
from watchman.private_files import private_umask
from watchman.secrets import RedactSecrets
from watchman.settings import Settings

# LadybugDB, Faust and FastAPI (with the daemon, which serves the admin API) are imported by the
# commands that use them, not here: every command would pay their start-up time and memory, the
# long-running producer included (issue 8: its idle RSS).
if TYPE_CHECKING:
    pass

# Exit codes scripts can rely on.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_MALFORMED = 3
EXIT_BUSY = 4

# soft_wrap: a line is never broken mid-phrase at 80 columns when stderr/stdout is not a terminal
# (a log file, a pipe); a terminal wraps long lines itself.
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

_state: dict[str, Any] = {}


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def get_settings() -> Settings:
    if "settings" not in _state:
        try:
            _state["settings"] = settings_mod.load(_state.get("config"))
        except (ValidationError, FileNotFoundError, ValueError) as exc:
            raise fail(f"bad configuration: {exc}") from None
    settings: Settings = _state["settings"]
    return settings


def main_options(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML settings file (default: ./watchman.toml)")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log what happens, to stderr")] = False,
) -> None:
    private_umask()  # everything a watchman process creates is 0600/0700 (watchman/private_files.py)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:  # no secret value reaches a log line (watchman/secrets.py)
        handler.addFilter(RedactSecrets())
    _state.clear()
    _state["config"] = config


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )
