"""Security events decided from the journal: logins (failed and accepted), sudo commands, su."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from schemas.events.base import EventPayload, register


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
