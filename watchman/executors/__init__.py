"""Executors: the thin, idempotent code that performs a command's side effect on this host.

One executor per command type, registered with `executor(TYPE)`. An executor gets the command
envelope, its decoded payload and an ExecContext, and returns (outcome type, detail). It must be
safe to run twice: after a crash between acting and recording, the command runs again (its outcome
keeps one id, so the audit trail holds it once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from producers.source import Source
from schemas.envelope import Envelope
from schemas.events import CommandOutcome, CommandPayload

Outcome = tuple[type[CommandOutcome], str]


@dataclass
class ExecContext:
    """What executors may touch: this host's name, its sources (for TriggerScan), settings-derived
    policy, and the clock."""

    host: str
    sources: Sequence[Source]
    now: Callable[[], datetime]
    # Per-executor options from settings (e.g. {"RestartService": {"allowed": True}}).
    options: dict[str, dict[str, object]] = field(default_factory=dict)
    # What the hosting process lends executors, e.g. "rebuild_graph" (the embedded daemon: it owns
    # the graph). An executor whose service is missing here rejects the command.
    services: dict[str, Callable[[], str]] = field(default_factory=dict)
    # Observations of what an executor did (e.g. a backup's stages), as (raw topic, envelope): the runner
    # appends them with the command's outcome, in the same transaction, and the domain's processor
    # decides its events from them (executors that only need an outcome leave this alone).
    emitted: list[tuple[str, Envelope]] = field(default_factory=list)
    # Read-only Cypher on the graph (cypher, params) -> rows as dicts, where this process owns the graph
    # (the embedded daemon); None elsewhere. Retention plans and archives with it.
    graph: Callable[[str, Mapping[str, Any]], list[dict[str, Any]]] | None = None


Executor = Callable[[Envelope, CommandPayload, ExecContext], Outcome]

EXECUTORS: dict[str, Executor] = {}


def executor(type_name: str) -> Callable[[Executor], Executor]:
    def deco(fn: Executor) -> Executor:
        if type_name in EXECUTORS and EXECUTORS[type_name] is not fn:
            raise ValueError(f"two executors for {type_name}")
        EXECUTORS[type_name] = fn
        return fn

    return deco


# The executors shipped with the product register themselves on import.
from watchman.executors import graph, scan  # noqa: E402, F401

from watchman.executors import systemd  # noqa: E402, F401  # isort: skip
from watchman.executors import mcp  # noqa: E402, F401  # isort: skip
from watchman.executors import obsidian  # noqa: E402, F401  # isort: skip
from watchman.executors import configfiles  # noqa: E402, F401  # isort: skip
from watchman.executors import backups  # noqa: E402, F401  # isort: skip
from watchman.executors import runners  # noqa: E402, F401  # isort: skip
from watchman.executors import fido2  # noqa: E402, F401  # isort: skip
from watchman.executors import retention  # noqa: E402, F401  # isort: skip
