"""`watchman parse KIND FILE`: what the product makes of one input (to debug a parser on your own logs)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Annotated, cast
from zoneinfo import ZoneInfo

import typer

from producers.kinds import KINDS
from producers.parse_kind import InputError
from watchman import parsing
from watchman.cli.common import EXIT_MALFORMED, EXIT_USAGE, err, fail, get_settings

EPILOG = "\b\nKinds, and the command (or file) that produces each input:\n" + parsing.kinds_help()


def parse(
    kind: Annotated[str, typer.Argument(help="input format: one of the kinds below")],
    file: Annotated[Path, typer.Argument(help="the input (.gz is read too); for brew: a Homebrew prefix")],
    tz: Annotated[
        str,
        typer.Option(help="zone of logs written in local time (apt, dpkg, auth); default: this machine's"),
    ] = "",
    only: Annotated[
        str, typer.Option("--only", help="print only `observations` or only `decisions` (default: both)")
    ] = "all",
) -> None:
    """Parse one input and print its observations and the decisions they lead to, as JSON lines.

    Each line is an envelope as the pipeline carries it: an observation (raw topic), then the domain
    events its processors decide from it. Bad records go to stderr, one JSON object each with its
    position and reason; the exit code is then 3. A line longer than max_line_bytes (default 1 MiB)
    is one such record, never parsed. Input that cannot be read as the kind at all (a directory, a
    .gz that is not gzip or is truncated) is one line and exit code 2 or 3.

    \b
    Example:
      watchman parse dpkg /var/log/dpkg.log | jq -r 'select(.payload.action=="upgrade") | .subject'
      journalctl -o export -n 500 > j.export && watchman parse journal-export j.export --only decisions
    """
    if kind not in KINDS:
        raise fail(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}", EXIT_USAGE)
    if only not in ("all", "observations", "decisions"):
        raise fail("--only takes observations or decisions", EXIT_USAGE)
    if not file.exists():
        raise fail(f"{file} does not exist", EXIT_USAGE)
    zone = ZoneInfo(tz) if tz else None
    stage = cast(parsing.Stage, only)
    try:
        counts = parsing.run(
            KINDS[kind],
            file,
            host=socket.gethostname(),
            tz=zone,
            out=sys.stdout.buffer,
            err=sys.stderr,
            stage=stage,
            max_line_bytes=get_settings().max_line_bytes,
        )
    except InputError as exc:
        sys.stdout.flush()
        raise fail(str(exc), exc.code) from None
    sys.stdout.flush()
    if counts.bad:
        err.print(f"{counts.bad} bad record(s) in {file}")
        raise typer.Exit(EXIT_MALFORMED)
