"""Security events decided from the journal: logins (failed and accepted), sudo commands, su."""

from __future__ import annotations

from typing import ClassVar

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


SECURITY_EVENTS: tuple[type[SecurityEvent], ...] = (LoginFailed, LoginSucceeded, SudoCommandRun, SuUsed)
