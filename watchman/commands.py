"""The command stage: read commands for this host from the command topic, execute, record the outcome.

Embedded, the daemon runs it on its SQLite log: execute, then append the outcome and commit the
position in one transaction. Distributed, `watchman produce` runs it on each host against Kafka and
appends outcomes to its spool. Either way a command is executed at least once and recorded exactly
once (the outcome id is derived from the command id).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from pydantic import ValidationError

from producers.source import Source
from schemas.envelope import Envelope
from schemas.events import (
    CommandFailed,
    CommandPayload,
    CommandRejected,
    UnknownEventType,
    decode_payload,
    outcome_envelope,
)
from schemas.events.commands import COMMANDS
from watchman.bus.base import Bus
from watchman.executors import EXECUTORS, ExecContext

log = logging.getLogger(__name__)

GROUP_PREFIX = "watchman-executor"


def group_for(host: str) -> str:
    """Each host reads the whole command topic with its own group and acts on its own commands."""
    return f"{GROUP_PREFIX}-{host}"


class CommandRunner:
    def __init__(
        self,
        commands: Bus,
        host: str,
        sources: Sequence[Source],
        *,
        options: dict[str, dict[str, object]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        source_name: str = "watchman.executor",
    ) -> None:
        self.bus = commands
        self.host = host
        self.ctx = ExecContext(host=host, sources=sources, now=clock, options=options or {})
        self.clock = clock
        self.source_name = source_name
        self.group = group_for(host)

    def poll(self, max_records: int = 100) -> list[tuple[int, int, list[Envelope]]]:
        """Run the pending commands; returns (partition, next offset, outcomes) per partition read.

        The caller appends the outcomes and then commits (see `commit`), in one transaction where the
        bus allows it."""
        out: list[tuple[int, int, list[Envelope]]] = []
        committed = self.bus.committed(self.group, COMMANDS.name)
        starts = self.bus.start_offsets(COMMANDS.name)
        for p in range(self.bus.partitions(COMMANDS.name)):
            offset = max(committed.get(p, 0), starts.get(p, 0))
            records = self.bus.read(COMMANDS.name, p, offset, max_records)
            if not records:
                continue
            outcomes: list[Envelope] = []
            for r in records:
                result = self.execute(r.value)
                if result is not None:
                    outcomes.append(result)
            out.append((p, records[-1].offset + 1, outcomes))
        return out

    def take_emitted(self) -> dict[str, list[Envelope]]:
        """What executors emitted since the last call, by topic (to append with the outcomes)."""
        out: dict[str, list[Envelope]] = {}
        for topic, env in self.ctx.emitted:
            out.setdefault(topic, []).append(env)
        self.ctx.emitted.clear()
        return out

    def commit(self, partition: int, next_offset: int) -> None:
        self.bus.commit(self.group, COMMANDS.name, {partition: next_offset})

    def execute(self, value: bytes) -> Envelope | None:
        """Execute one command record if it is for this host; its outcome envelope, else None."""
        try:
            command = Envelope.from_json(value)
        except (ValidationError, ValueError) as exc:
            log.warning("unreadable record on %s: %s", COMMANDS.name, exc)
            return None
        if command.host != self.host:
            return None
        try:
            payload = decode_payload(command.type, command.schema_version, command.payload)
        except (ValidationError, UnknownEventType, ValueError, TypeError) as exc:
            return self._outcome(command, CommandRejected, f"invalid command: {exc}")
        fn = EXECUTORS.get(command.type)
        if fn is None or not isinstance(payload, CommandPayload):
            return self._outcome(command, CommandRejected, f"no executor for {command.type} on {self.host}")
        try:
            status, detail = fn(command, payload, self.ctx)
        except Exception as exc:  # an executor's failure is the command's outcome, not the daemon's
            log.exception("command %s (%s) failed", command.id, command.type)
            status, detail = CommandFailed, f"{type(exc).__name__}: {exc}"
        log.info("command %s %s: %s (%s)", command.type, command.id, status.STATUS, detail)
        return self._outcome(command, status, detail)

    def _outcome(self, command: Envelope, status: type, detail: str) -> Envelope:
        return outcome_envelope(command, status, detail, finished_at=self.clock(), source=self.source_name)
