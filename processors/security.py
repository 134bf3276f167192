"""Decide security events from journal entries: logins, sudo and su (pure: no I/O, no clock).

sshd tells one failed attempt in several lines (a PAM "authentication failure", "Invalid user",
"Failed password ... from IP port P"), all from the connection's process. They are folded into ONE
LoginFailed: the first line opens an attempt for that pid (state in the table), later lines re-emit
the event under the same id with the fields they add, and sshd's "Failed <method>" line closes it,
so the next attempt on the same connection is a new event. Failed logins per source IP therefore
count attempts, not lines.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from processors.memo import recall, remember
from processors.routing import Route, typed
from processors.tables import Table
from schemas.envelope import Envelope, event_id
from schemas.events.security import (
    EVENTS_SECURITY,
    LoginFailed,
    LoginSucceeded,
    SecurityEvent,
    SudoCommandRun,
    SuUsed,
)
from schemas.events.services import RAW_JOURNAL, JournalEntryObserved

SOURCE = "processors.security"
# Lines of one attempt arrive within moments; an older open attempt of a (reused) pid is another one.
ATTEMPT_SLACK = timedelta(seconds=30)

_IP = r"(?P<ip>[0-9A-Fa-f:.]+)"
_SSH_FAILED = re.compile(
    rf"^Failed (?P<method>\S+) for (?P<invalid>invalid user )?(?P<user>.*?) from {_IP} port (?P<port>\d+)"
)
_SSH_INVALID = re.compile(rf"^Invalid user (?P<user>.*?) from {_IP}(?: port (?P<port>\d+))?")
_SSH_ACCEPTED = re.compile(rf"^Accepted (?P<method>\S+) for (?P<user>\S+) from {_IP} port (?P<port>\d+)")
_PAM_FAILURE = re.compile(r"^pam_unix\((?P<service>[^:]+):auth\): authentication failure;(?P<rest>.*)$")
_PAM_KV = re.compile(r"(\w+)=(\S*)")
_LOGIN_FAILED = re.compile(
    r"^FAILED LOGIN \(?\d+\)? (?:ON|FROM) '?(?P<tty>[^' ]+)'? FOR '?(?P<user>[^',]+)'?, (?P<why>.*)$"
)
_SU = re.compile(r"^(?P<failed>FAILED SU )?\(to (?P<target>[^)]+)\) (?P<user>\S+) on (?P<tty>\S+)")
_SUDO = re.compile(r"^\s*(?P<user>\S+) : (?P<rest>.*)$")

_SSH = frozenset({"sshd", "sshd-session"})


def _envelope(raw: Envelope, payload: SecurityEvent, eid: str, subject: str) -> Envelope:
    return Envelope(
        id=eid,
        type=payload.TYPE,
        schema_version=payload.VERSION,
        host=raw.host,
        source=SOURCE,
        ts=raw.ts,
        observed_at=raw.observed_at,
        subject=subject,
        causation_id=raw.id,
        correlation_id=raw.correlation_id,
        payload=payload.model_dump(mode="json"),
    )


def program(obs: JournalEntryObserved) -> str | None:
    return obs.identifier or obs.comm


def parse_sudo(message: str) -> dict[str, Any] | None:
    """`alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/apt update`; refusals put a
    reason first (`3 incorrect password attempts ; ...`, `user NOT in sudoers ; ...`)."""
    m = _SUDO.match(message)
    if m is None or ("COMMAND=" not in m["rest"] and "USER=" not in m["rest"]):
        return None
    rest = m["rest"]
    command = None
    if "COMMAND=" in rest:
        # the command is last and may itself contain " ; "
        rest, command = rest.split("COMMAND=", 1)
    fields: dict[str, str] = {}
    reasons: list[str] = []
    for part in (p.strip() for p in rest.split(" ; ")):
        if not part:
            continue
        k, sep, v = part.partition("=")
        if sep and k.isupper():
            fields[k] = v
        else:
            reasons.append(part)
    return {
        "user": m["user"],
        "target_user": fields.get("USER"),
        "command": command.strip() if command else None,
        "cwd": fields.get("PWD"),
        "tty": fields.get("TTY"),
        "allowed": not reasons,
        "reason": "; ".join(reasons),
    }


def _attempt(
    raw: Envelope, obs: JournalEntryObserved, table: Table, fields: dict[str, Any], *, close: bool
) -> list[Envelope]:
    """Fold one sshd/PAM line into the open failed attempt of its process (or open a new one)."""
    # One key per host holding the open attempts by pid, pruned as they age: pids are many and reused.
    key = f"attempts/{raw.host}/{raw.subject}"
    attempts: dict[str, dict[str, Any]] = table.get(key) or {}
    attempts = {
        pid: a for pid, a in attempts.items() if raw.ts - datetime.fromisoformat(a["ts"]) <= ATTEMPT_SLACK
    }
    open_: dict[str, Any] | None = attempts.get(str(obs.pid))
    if open_ is not None and raw.ts - datetime.fromisoformat(open_["ts"]) > ATTEMPT_SLACK:
        open_ = None
    if open_ is None:
        open_ = {"id": event_id("security", raw.id), "ts": raw.ts.isoformat(), "fields": {}}
    merged = dict(open_["fields"])
    for k, v in fields.items():
        if v is not None and (k not in merged or merged[k] in (None, "", False)):
            merged[k] = v
    open_["fields"] = merged
    if close:
        attempts.pop(str(obs.pid), None)
    else:
        attempts[str(obs.pid)] = open_
    table.set(key, attempts)
    payload = LoginFailed(service=program(obs) or "sshd", unit=obs.unit, **merged)
    env = _envelope(raw, payload, open_["id"], payload.user or "unknown")
    # The attempt's time is its first line's.
    return [env.model_copy(update={"ts": datetime.fromisoformat(open_["ts"])})]


def _decide(raw: Envelope, obs: JournalEntryObserved, table: Table) -> list[Envelope]:
    prog = program(obs)
    msg = obs.message
    eid = event_id("security", raw.id)
    if prog in _SSH:
        if m := _SSH_FAILED.match(msg):
            fields = {
                "user": m["user"],
                "source_ip": m["ip"],
                "port": int(m["port"]),
                "method": m["method"],
                "invalid_user": bool(m["invalid"]),
                "reason": f"failed {m['method']}",
            }
            return _attempt(raw, obs, table, fields, close=True)
        if m := _SSH_INVALID.match(msg):
            fields = {
                "user": m["user"],
                "source_ip": m["ip"],
                "port": int(m["port"]) if m["port"] else None,
                "invalid_user": True,
                "reason": "invalid user",
            }
            return _attempt(raw, obs, table, fields, close=False)
        if m := _SSH_ACCEPTED.match(msg):
            ok = LoginSucceeded(
                service=prog,
                unit=obs.unit,
                user=m["user"],
                source_ip=m["ip"],
                port=int(m["port"]),
                method=m["method"],
            )
            return [_envelope(raw, ok, eid, ok.user)]
    if m := _PAM_FAILURE.match(msg):
        kv = dict(_PAM_KV.findall(m["rest"]))
        fields = {
            "user": kv.get("user") or None,
            "source_ip": kv.get("rhost") or None,
            "reason": "authentication failure (pam)",
        }
        if m["service"] in _SSH:
            return _attempt(raw, obs, table, fields, close=False)
        if m["service"] in ("sudo", "su"):
            return []  # sudo and su report their own refusals below
        failed = LoginFailed(service=m["service"], unit=obs.unit, **fields)
        return [_envelope(raw, failed, eid, failed.user or "unknown")]
    if prog == "login" and (m := _LOGIN_FAILED.match(msg)):
        failed = LoginFailed(service="login", unit=obs.unit, user=m["user"], reason=m["why"])
        return [_envelope(raw, failed, eid, m["user"])]
    if prog == "sudo" and (sudo_fields := parse_sudo(msg)) is not None:
        sudo = SudoCommandRun(service="sudo", unit=obs.unit, **sudo_fields)
        return [_envelope(raw, sudo, eid, sudo.user)]
    if prog == "su" and (m := _SU.match(msg)):
        su = SuUsed(
            service="su",
            unit=obs.unit,
            user=m["user"],
            target_user=m["target"],
            tty=m["tty"],
            success=not m["failed"],
        )
        return [_envelope(raw, su, eid, su.target_user)]
    return []


def decide(raw: Envelope, obs: JournalEntryObserved, table: Table) -> list[Envelope]:
    """Zero or one security event from one journal entry."""
    if obs.object_unit is not None or obs.transport == "kernel":
        return []  # the service manager's and the kernel's messages are not about logins
    if program(obs) not in _SSH:
        return _decide(raw, obs, table)  # a function of the entry alone: deciding again gives the same
    # sshd's attempts are state: remember the decisions, keyed like the partition (host/unit), so a
    # re-delivered line repeats its decision instead of opening a new attempt.
    key = f"{raw.host}/{raw.subject}"
    again = recall(table, key, raw.id)
    if again is not None:
        return again
    out = _decide(raw, obs, table)
    return remember(table, key, raw.id, out) if out else out


# Which raw event types this domain decides, and where the decisions go (processors/registry.py collects it).
ROUTES: tuple[Route, ...] = (
    Route(
        name=SOURCE,
        source=RAW_JOURNAL,
        sink=EVENTS_SECURITY,
        table="security",
        decide={JournalEntryObserved.TYPE: typed(JournalEntryObserved, decide)},
    ),
)
