"""The client side of the daemon's socket (watchman/daemon.py serves it): the CLI's status, query and
replay ask a running daemon through it. Its own module so that modules the daemon itself imports
(watchman/check.py) can use it without an import cycle."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from watchman.settings import Settings


class DaemonClient:
    """Talks to a running daemon over its socket; `connect` returns None when none is listening."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def connect(cls, settings: Settings) -> DaemonClient | None:
        client = cls(settings.socket_path)
        if not client.path.exists():
            return None
        try:
            next(client.request({"op": "ping"}))
        except (OSError, StopIteration):
            return None
        return client

    def request(self, obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Send one request; yield each JSON line of the answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(self.path))
            s.sendall(orjson.dumps(obj) + b"\n")
            with s.makefile("rb") as fh:
                for line in fh:
                    yield orjson.loads(line)
