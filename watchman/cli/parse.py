"""`watchman parse KIND FILE`: what the product makes of one log (for debugging a parser)."""

from __future__ import annotations

import gzip
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import orjson
import typer

from producers.packages import KINDS, brew, make_parser
from producers.packages.base import ParseError

# LadybugDB, Faust and FastAPI (with the daemon, which serves the admin API) are imported by the
# commands that use them, not here: every command would pay their start-up time and memory, the
# long-running producer included (issue 8: its idle RSS).
if TYPE_CHECKING:
    pass
from watchman.cli.common import EXIT_MALFORMED, EXIT_USAGE, err, fail


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    opener = gzip.open if path.suffix == ".gz" else open
    offset = 0
    with opener(path, "rb") as fh:
        for raw in fh:
            yield offset, raw.rstrip(b"\n").rstrip(b"\r")
            offset += len(raw)


def parse(
    kind: Annotated[str, typer.Argument(help=f"log format: {', '.join(KINDS)}")],
    file: Annotated[
        Path, typer.Argument(help="log file (.gz is read too); for brew: a Homebrew prefix or Cellar")
    ],
    tz: Annotated[
        str, typer.Option(help="zone of logs written in local time (apt, dpkg); default: this machine's")
    ] = "",
) -> None:
    """Parse one log and print one JSON object per package change (for debugging a parser).

    Malformed lines are reported on stderr as JSON objects with the reason; the exit code is then 3.

    \b
    Example:
      watchman parse dpkg /var/log/dpkg.log | jq -r 'select(.action=="upgrade") | .package'
    """
    if kind not in KINDS:
        raise fail(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}", EXIT_USAGE)
    if not file.exists():
        raise fail(f"{file} does not exist", EXIT_USAGE)
    if kind == "brew":
        for change in brew.parse_dir(file, datetime.now(UTC)):
            sys.stdout.buffer.write(orjson.dumps(change.model_dump(mode="json")) + b"\n")
        return
    zone = ZoneInfo(tz) if tz else None
    parser = make_parser(kind, tz=zone)
    bad = 0
    write = sys.stdout.buffer.write
    for offset, raw in _lines(file):
        results = parser.feed(raw.decode("utf-8", "replace"), offset)
        bad += _emit(results, write)
    bad += _emit(parser.flush(), write)
    sys.stdout.flush()
    if bad:
        err.print(f"{bad} malformed line(s) in {file}")
        raise typer.Exit(EXIT_MALFORMED)


def _emit(results: list[Any], write: Any) -> int:
    bad = 0
    for r in results:
        if isinstance(r, ParseError):
            bad += 1
            sys.stderr.write(orjson.dumps(r.model_dump(mode="json")).decode() + "\n")
        else:
            write(orjson.dumps(r.model_dump(mode="json")) + b"\n")
    return bad
