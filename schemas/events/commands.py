"""Commands (imperative: what the product is asked to do) and their outcome events (past tense).

A side effect the product performs travels as a command: the admin API, the CLI or a policy in a
processor issues it onto `watchman.commands`; the executor for its type on the target host acts and
records the outcome as CommandSucceeded/CommandFailed/CommandRejected on `watchman.events.commands`,
which the graph keeps as the audit trail (and which the API polls by command id). Commands are
envelopes like events: same id rules, same JSON, readable without our code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from schemas.envelope import Envelope, event_id, utc
from schemas.events.base import EventPayload, register
from schemas.model import UPDATED_AT, MiB, NodeLabel, Prop, RelType, Topic

_COMMAND_TYPES: set[str] = set()


class CommandPayload(EventPayload):
    """Base of every command: who asked for it (an API token, a CLI user, a policy) and why."""

    IS_COMMAND: ClassVar[bool] = True
    issued_by: str
    reason: str = ""


def register_command(cls: type[CommandPayload]) -> type[CommandPayload]:
    register(cls)
    _COMMAND_TYPES.add(cls.TYPE)
    return cls


def is_command(type_name: str) -> bool:
    return type_name in _COMMAND_TYPES


def command_types() -> frozenset[str]:
    return frozenset(_COMMAND_TYPES)


@register_command
class TriggerScan(CommandPayload):
    """Run the periodic scanners now (all of them, or those named) instead of at their next interval."""

    TYPE: ClassVar[str] = "TriggerScan"
    scanners: tuple[str, ...] = ()


@register_command
class RestartService(CommandPayload):
    """Restart a systemd unit (issued by the auto-restart policy or an operator)."""

    TYPE: ClassVar[str] = "RestartService"
    unit: str = Field(min_length=1, max_length=256)


@register_command
class RebuildGraph(CommandPayload):
    """Drop the graph and rebuild it from the domain topics (destructive: the API demands confirm=true)."""

    TYPE: ClassVar[str] = "RebuildGraph"


CommandStatus = Literal["succeeded", "failed", "rejected"]


class CommandOutcome(EventPayload):
    """What became of one command; `command_id` is the id of the command's envelope."""

    command_id: str
    command_type: str
    issued_by: str
    detail: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    STATUS: ClassVar[CommandStatus]


@register
class CommandSucceeded(CommandOutcome):
    TYPE: ClassVar[str] = "CommandSucceeded"
    STATUS: ClassVar[CommandStatus] = "succeeded"


@register
class CommandFailed(CommandOutcome):
    TYPE: ClassVar[str] = "CommandFailed"
    STATUS: ClassVar[CommandStatus] = "failed"


@register
class CommandRejected(CommandOutcome):
    """Refused without acting: no executor for the type here, rate-limited, or not allowed by settings."""

    TYPE: ClassVar[str] = "CommandRejected"
    STATUS: ClassVar[CommandStatus] = "rejected"


OUTCOME_TYPES: tuple[type[CommandOutcome], ...] = (CommandSucceeded, CommandFailed, CommandRejected)


def command_envelope(
    command: CommandPayload,
    *,
    host: str,
    source: str,
    issued_at: datetime,
    dedup_key: str,
    causation_id: str | None = None,
) -> Envelope:
    """The envelope of a command. `dedup_key` makes the id: the same request (an API idempotency key,
    the observation that made a policy fire) gives the same command id, so a retry is one command."""
    subject = getattr(command, "unit", None) or command.TYPE
    return Envelope(
        id=event_id("command", host, command.TYPE, dedup_key),
        type=command.TYPE,
        schema_version=command.VERSION,
        host=host,
        source=source,
        ts=utc(issued_at),
        observed_at=utc(issued_at),
        subject=str(subject),
        causation_id=causation_id,
        correlation_id=None,
        payload=command.model_dump(mode="json"),
    )


def outcome_envelope(
    command: Envelope, outcome: type[CommandOutcome], detail: str, *, finished_at: datetime, source: str
) -> Envelope:
    """The outcome event of `command`; one outcome per command and status (a re-run after a crash
    records the same id)."""
    params = {k: v for k, v in command.payload.items() if k not in ("issued_by",)}
    payload = outcome(
        command_id=command.id,
        command_type=command.type,
        issued_by=str(command.payload.get("issued_by", "")),
        detail=detail,
        params=params,
    )
    return Envelope(
        id=event_id("outcome", command.id, outcome.STATUS),
        type=outcome.TYPE,
        schema_version=outcome.VERSION,
        host=command.host,
        source=source,
        ts=utc(finished_at),
        observed_at=utc(finished_at),
        subject=command.id,
        causation_id=command.id,
        correlation_id=command.correlation_id or command.id,
        payload=payload.model_dump(mode="json"),
    )


# --- topics and graph: what this domain declares (schemas/topics.py and schemas/graph.py collect it) ---

COMMANDS = Topic(
    "watchman.commands",
    partitions=1,
    retention_days=30,
    retention_bytes=64 * MiB,
    description="Commands (TriggerScan, RestartService, ...) for the executors on each host.",
)
EVENTS_COMMANDS = Topic(
    "watchman.events.commands",
    partitions=1,
    retention_days=None,
    description="Command outcomes (CommandSucceeded/Failed/Rejected): the audit trail. Kept forever.",
)
COMMAND = NodeLabel(
    "Command",
    key="id",
    props=(
        Prop("id", "STRING"),
        Prop("type", "STRING"),
        Prop("host", "STRING"),
        Prop("issued_by", "STRING"),
        Prop("params", "STRING"),  # JSON
        Prop("status", "STRING", "latest"),
        Prop("detail", "STRING", "latest"),
        Prop("finished_at", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="A command the product was asked to perform (audit trail), with its latest outcome.",
)
HAPPENED_ON = RelType("HAPPENED_ON", (("Command", "Host"),))
TOPICS: tuple[Topic, ...] = (
    COMMANDS,
    EVENTS_COMMANDS,
)
NODES: tuple[NodeLabel, ...] = (COMMAND,)
RELS: tuple[RelType, ...] = (HAPPENED_ON,)
