"""Project security events: Login and SudoCommand nodes with their User and Host; su as an Event (pure).

A storm aggregate (AuthFailuresAggregated) is one Login (or refused SudoCommand) node whose `count` is
the failures it stands for; single failures have count 1, so `sum(count)` is the exact number of
failures. A BruteForceDetected alert is an Event like the other domains' alerts.
"""

from __future__ import annotations

from projections.graph_ops import GraphOp, UpsertNode, UpsertRel
from projections.projecting import Project
from schemas.envelope import Envelope
from schemas.events import EventPayload
from schemas.events.security import (
    SECURITY_EVENTS,
    AuthFailuresAggregated,
    BruteForceDetected,
    LoginFailed,
    LoginSucceeded,
    SudoCommandRun,
    SuUsed,
)


def user_key(host: str, name: str) -> str:
    return f"{host}/{name}"


def _user(event: Envelope, name: str | None) -> tuple[str | None, list[GraphOp]]:
    if not name:
        return None, []
    ts = event.ts
    key = user_key(event.host, name)
    return key, [
        UpsertNode("User", key, {"host": event.host, "name": name, "first_seen": ts, "last_seen": ts}),
        UpsertRel("ACCOUNT_ON", "User", key, "Host", event.host),
    ]


def project(event: Envelope, payload: EventPayload) -> list[GraphOp]:
    ts = event.ts
    host = event.host
    ops: list[GraphOp] = [UpsertNode("Host", host, {"name": host, "first_seen": ts, "last_seen": ts})]
    if isinstance(payload, LoginFailed | LoginSucceeded):
        failed = isinstance(payload, LoginFailed)
        ukey, user_ops = _user(event, payload.user)
        ops += user_ops
        ops.append(
            UpsertNode(
                "Login",
                event.id,
                {
                    "ts": ts,
                    "host": host,
                    "user": payload.user,
                    "source_ip": payload.source_ip,
                    "port": payload.port,
                    "success": not failed,
                    "service": payload.service,
                    "method": payload.method,
                    "invalid_user": payload.invalid_user if isinstance(payload, LoginFailed) else False,
                    "reason": payload.reason if isinstance(payload, LoginFailed) else "",
                    "count": 1,
                    "users": None,
                },
            )
        )
        ops.append(UpsertRel("HAPPENED_ON", "Login", event.id, "Host", host))
        if ukey:
            ops.append(UpsertRel("BY_USER", "Login", event.id, "User", ukey))
        return ops
    if isinstance(payload, SudoCommandRun):
        ukey, user_ops = _user(event, payload.user)
        ops += user_ops
        ops.append(
            UpsertNode(
                "SudoCommand",
                event.id,
                {
                    "ts": ts,
                    "host": host,
                    "user": payload.user,
                    "target_user": payload.target_user,
                    "command": payload.command,
                    "cwd": payload.cwd,
                    "tty": payload.tty,
                    "allowed": payload.allowed,
                    "reason": payload.reason,
                    "count": 1,
                },
            )
        )
        ops.append(UpsertRel("HAPPENED_ON", "SudoCommand", event.id, "Host", host))
        if ukey:
            ops.append(UpsertRel("BY_USER", "SudoCommand", event.id, "User", ukey))
        return ops
    if isinstance(payload, SuUsed):
        ukey, user_ops = _user(event, payload.target_user)
        ops += user_ops
        outcome = "" if payload.success else "FAILED "
        who, tty = payload.user or "?", payload.tty or "?"
        ops.append(
            UpsertNode(
                "Event",
                event.id,
                {
                    "type": event.type,
                    "ts": ts,
                    "host": host,
                    "action": payload.ACTION,
                    "subject": ukey,
                    "summary": f"{outcome}su {who} -> {payload.target_user} on {tty}",
                    "source": event.source,
                    "requested_by": payload.user,
                },
            )
        )
        ops.append(UpsertRel("HAPPENED_ON", "Event", event.id, "Host", host))
        if ukey:
            ops.append(UpsertRel("ACTED_ON", "Event", event.id, "User", ukey))
        return ops
    if isinstance(payload, AuthFailuresAggregated):
        return ops + _aggregate(event, payload)
    if isinstance(payload, BruteForceDetected):
        ops.append(
            UpsertNode(
                "Event",
                event.id,
                {
                    "type": event.type,
                    "ts": ts,
                    "host": host,
                    "action": payload.ACTION,
                    "subject": payload.source_ip,
                    "summary": payload.message,
                    "source": event.source,
                },
            )
        )
        ops.append(UpsertRel("HAPPENED_ON", "Event", event.id, "Host", host))
        return ops
    raise TypeError(f"security projection got {type(payload).__name__}")


def _aggregate(event: Envelope, payload: AuthFailuresAggregated) -> list[GraphOp]:
    ts, host = event.ts, event.host
    more = (
        f"{payload.count} more failure(s) in the minute from {payload.minute:%H:%M} "
        f"(the first {payload.limit} apart)"
    )
    if payload.kind == "sudo":
        ukey, ops = _user(event, payload.user)
        props = {
            "ts": ts,
            "host": host,
            "user": payload.user,
            "target_user": None,
            "command": None,
            "cwd": None,
            "tty": None,
            "allowed": False,
            "reason": f"sudo refused: {more}",
            "count": payload.count,
        }
        ops += [
            UpsertNode("SudoCommand", event.id, props),
            UpsertRel("HAPPENED_ON", "SudoCommand", event.id, "Host", host),
        ]
        if ukey:
            ops.append(UpsertRel("BY_USER", "SudoCommand", event.id, "User", ukey))
        return ops
    # The user names are the attacker's choice: listed on the node, never made User nodes.
    props = {
        "ts": ts,
        "host": host,
        "user": None,
        "source_ip": payload.source_ip,
        "port": None,
        "success": False,
        "service": payload.service,
        "method": None,
        "invalid_user": False,
        "reason": f"failed logins: {more}",
        "count": payload.count,
        "users": ",".join(payload.users) or None,
    }
    return [UpsertNode("Login", event.id, props), UpsertRel("HAPPENED_ON", "Login", event.id, "Host", host)]


# Which domain event types this projection handles (projections/registry.py collects it).
PROJECTORS: dict[str, Project] = {cls.TYPE: project for cls in SECURITY_EVENTS}
