"""The contract every producer source meets: poll for observations, hand back a cursor to save."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from schemas.dlq import DeadLetter
from schemas.envelope import Envelope
from schemas.model import Topic


@dataclass
class Poll:
    """What one poll of a source produced, and the cursor to save once the bus has acknowledged it."""

    observations: list[Envelope] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    cursor: dict[str, Any] | None = None
    lines: int = 0


class Source(Protocol):
    """One producer input (a log file, the journal, a netlink socket, the Docker events stream...).

    `poll` never blocks for long (the runner polls every source in turn, in one transaction with the
    cursors); `topic` is the raw topic its observations go to; `name` keys its saved cursor.
    """

    name: str
    topic: Topic

    def poll(self, max_lines: int) -> Poll: ...

    def close(self) -> None: ...


def present(src: Source) -> bool:
    """Does what the source reads exist now? Sources that name a `path` (a log, a Homebrew prefix, a
    package database) are watched before it appears; the others (the journal, netlink) always are."""
    path = getattr(src, "path", None)
    return path is None or bool(path.exists())
