"""Security events decided from the journal: logins (failed and accepted), sudo commands, su."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from schemas.events.base import EventPayload, register
from schemas.model import AlertKind, NodeLabel, Prop, RelType, Topic


class SecurityEvent(EventPayload):
    VERSION: ClassVar[int] = 1
    ACTION: ClassVar[str] = ""

    # The program that told it (sshd, sudo, su, login) and the unit it ran in, if any.
    service: str
    unit: str | None = None


@register
class LoginFailed(SecurityEvent):
    TYPE: ClassVar[str] = "LoginFailed"
    ACTION: ClassVar[str] = "login-failed"
    user: str | None = None
    source_ip: str | None = None
    port: int | None = None
    method: str | None = None
    # the user name does not exist on the host ("Invalid user", "user unknown")
    invalid_user: bool = False
    reason: str = ""


@register
class LoginSucceeded(SecurityEvent):
    TYPE: ClassVar[str] = "LoginSucceeded"
    ACTION: ClassVar[str] = "login"
    user: str
    source_ip: str | None = None
    port: int | None = None
    method: str | None = None


@register
class SudoCommandRun(SecurityEvent):
    """A sudo invocation; `allowed` is False when sudo refused it (`reason` says why)."""

    TYPE: ClassVar[str] = "SudoCommandRun"
    ACTION: ClassVar[str] = "sudo"
    user: str
    target_user: str | None = None
    command: str | None = None
    cwd: str | None = None
    tty: str | None = None
    allowed: bool = True
    reason: str = ""


@register
class SuUsed(SecurityEvent):
    TYPE: ClassVar[str] = "SuUsed"
    ACTION: ClassVar[str] = "su"
    user: str | None = None
    target_user: str
    tty: str | None = None
    success: bool = True


@register
class AuthFailuresAggregated(SecurityEvent):
    """The failures of one source in one minute beyond the first few (which have their own events).

    Re-emitted under the same id as `count` grows; the last one of the minute carries the exact count.
    `kind` "login": failed logins from `source_ip` (sshd attempts, PAM and login failures);
    "sudo": sudo refusals of `user`. `users` is a bounded sample of the user names tried.
    """

    TYPE: ClassVar[str] = "AuthFailuresAggregated"
    ACTION: ClassVar[str] = "auth-failures"
    kind: Literal["login", "sudo"]
    source_ip: str | None = None
    user: str | None = None
    users: tuple[str, ...] = ()
    minute: datetime
    count: int = Field(ge=1)
    # the number of failures of this source and minute that have their own event
    limit: int


@register
class BruteForceDetected(SecurityEvent):
    """An alert: at least `failures` failed logins from `source_ip` within `window_minutes`."""

    TYPE: ClassVar[str] = "BruteForceDetected"
    ACTION: ClassVar[str] = "brute-force"
    source_ip: str
    failures: int
    window_minutes: int
    users: tuple[str, ...] = ()
    message: str


SECURITY_EVENTS: tuple[type[SecurityEvent], ...] = (
    LoginFailed,
    LoginSucceeded,
    SudoCommandRun,
    SuUsed,
    AuthFailuresAggregated,
    BruteForceDetected,
)


# --- topics and graph: what this domain declares (schemas/topics.py and schemas/graph.py collect it) ---

EVENTS_SECURITY = Topic(
    "watchman.events.security",
    partitions=4,
    retention_days=None,
    description="LoginFailed/LoginSucceeded/SudoCommandRun/SuUsed, AuthFailuresAggregated (storms) and "
    "BruteForceDetected events; key host/unit. Kept forever.",
)
LOGIN = NodeLabel(
    "Login",
    key="id",
    props=(
        Prop("id", "STRING"),
        Prop("ts", "TIMESTAMP"),
        Prop("host", "STRING"),
        Prop("user", "STRING"),
        Prop("source_ip", "STRING"),
        Prop("port", "INT64"),
        Prop("success", "BOOLEAN"),
        Prop("service", "STRING"),  # sshd, login, ...
        Prop("method", "STRING"),  # password, publickey, ...
        Prop("invalid_user", "BOOLEAN"),
        Prop("reason", "STRING"),
        # failures this node stands for: 1, or a storm minute's aggregate (AuthFailuresAggregated)
        Prop("count", "INT64"),
        Prop("users", "STRING"),  # an aggregate's sample of the user names tried, comma-separated
    ),
    description="A login attempt (failed or accepted), or one source's failures in one storm minute.",
)
SUDO_COMMAND = NodeLabel(
    "SudoCommand",
    key="id",
    props=(
        Prop("id", "STRING"),
        Prop("ts", "TIMESTAMP"),
        Prop("host", "STRING"),
        Prop("user", "STRING"),
        Prop("target_user", "STRING"),
        Prop("command", "STRING"),
        Prop("cwd", "STRING"),
        Prop("tty", "STRING"),
        Prop("allowed", "BOOLEAN"),
        Prop("reason", "STRING"),
        Prop("count", "INT64"),  # 1, or the refusals of a storm minute's aggregate
    ),
    description="A sudo invocation (allowed or refused), or one user's refusals in one storm minute.",
)
USER = NodeLabel(
    "User",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("name", "STRING"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
    ),
    description="A user name seen on a host (in logins, sudo, su); key host/name.",
)
BY_USER = RelType(
    "BY_USER", (("Login", "User"), ("SudoCommand", "User")), description="The user who logged in or ran sudo."
)
ACCOUNT_ON = RelType("ACCOUNT_ON", (("User", "Host"),), description="The user name is on this host.")
# This domain's entities that events act on, and nodes that happen on a host (the core types).
ACTED_ON = RelType("ACTED_ON", (("Event", "User"),))
HAPPENED_ON = RelType(
    "HAPPENED_ON",
    (
        ("Login", "Host"),
        ("SudoCommand", "Host"),
    ),
)
TOPICS: tuple[Topic, ...] = (EVENTS_SECURITY,)
NODES: tuple[NodeLabel, ...] = (
    LOGIN,
    SUDO_COMMAND,
    USER,
)
RELS: tuple[RelType, ...] = (
    BY_USER,
    ACCOUNT_ON,
    ACTED_ON,
    HAPPENED_ON,
)
ALERTS: tuple[AlertKind, ...] = (
    AlertKind(
        name="BruteForceDetected",
        fires_on="BruteForceDetected",
        severity="critical",
        subject="source_ip",
        summary="{failures} failed logins from {source_ip} within {window_minutes} minutes",
    ),
)
