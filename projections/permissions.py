"""Project permission events into graph operations (pure): the WatchedFile's current state, and an Event."""

from __future__ import annotations

from typing import Any

from projections.graph_ops import GraphOp, UpsertNode, UpsertRel
from projections.projecting import Project, typed
from schemas.envelope import Envelope
from schemas.events.permissions import FILE_EVENTS, FileEvent

ACTION = {
    "PermissionChanged": "permission-changed",
    "SetuidAdded": "setuid-added",
    "WorldWritableAdded": "world-writable",
}


def file_key(host: str, path: str) -> str:
    return f"{host}/{path}"


def _mode(mode: int | None) -> str | None:
    return None if mode is None else f"{mode:04o}"


def summary(event_type: str, p: FileEvent) -> str:
    line = f"{ACTION.get(event_type, event_type)} {p.path}"
    if "mode" in p.changes or p.old_mode is None:
        line += f" mode {_mode(p.old_mode) or '-'} -> {_mode(p.mode) or '-'}"
    if "owner" in p.changes or "group" in p.changes:
        line += f" owner {p.old_owner}:{p.old_group} -> {p.owner}:{p.group}"
    if "content" in p.changes:
        line += " content changed"
    if "removed" in p.changes:
        line += " removed"
    return line


def project_file(event: Envelope, p: FileEvent) -> list[GraphOp]:
    ts, host = event.ts, event.host
    key = file_key(host, p.path)
    node: dict[str, Any] = {
        "host": host,
        "path": p.path,
        "role": p.role,
        "state": "removed" if p.mode is None else "present",
        "first_seen": ts,
        "last_seen": ts,
        "updated_at": ts,
    }
    if p.mode is not None:
        node.update(mode=_mode(p.mode), owner=p.owner, group_name=p.group, sha256=p.sha256)
    return [
        UpsertNode("Host", host, {"name": host, "first_seen": ts, "last_seen": ts}),
        UpsertNode("WatchedFile", key, node, ts=ts),
        UpsertRel("FILE_ON", "WatchedFile", key, "Host", host),
        UpsertNode(
            "Event",
            event.id,
            {
                "type": event.type,
                "ts": ts,
                "host": host,
                "action": ACTION.get(event.type, event.type),
                "subject": p.path,
                "summary": summary(event.type, p),
            },
        ),
        UpsertRel("HAPPENED_ON", "Event", event.id, "Host", host),
        UpsertRel("ACTED_ON", "Event", event.id, "WatchedFile", key),
    ]


PROJECTORS: dict[str, Project] = {cls.TYPE: typed(cls, project_file) for cls in FILE_EVENTS}
