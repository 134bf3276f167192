"""Decide permission events from two scans of sensitive files and system directories (pure).

The first scan of a host is its baseline: nothing is decided from it (every setuid binary of a fresh
install is not news). From then on, each file's difference is one event: PermissionChanged for a
sensitive file (owner, group, mode, content; created, removed), SetuidAdded for a file that is newly
setuid/setgid, WorldWritableAdded for one newly writable by anyone. Ids derive from the raw scan's id.
"""

from __future__ import annotations

from typing import Any

from processors.routing import Route, typed
from processors.tables import Table
from schemas.envelope import Envelope, event_id
from schemas.events.permissions import (
    EVENTS_PERMISSIONS,
    RAW_PERMISSIONS,
    Change,
    FileEvent,
    PermissionChanged,
    PermissionScanObserved,
    SetuidAdded,
    WorldWritableAdded,
)

SOURCE = "processors.permissions"
SPECIAL = 0o6000
OTHER_WRITE = 0o002


def _changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> tuple[Change, ...]:
    if old is None:
        return ("created",)
    if new is None:
        return ("removed",)
    out: list[Change] = []
    if old["uid"] != new["uid"]:
        out.append("owner")
    if old["gid"] != new["gid"]:
        out.append("group")
    if old["mode"] != new["mode"]:
        out.append("mode")
    if old.get("sha256") != new.get("sha256"):
        out.append("content")
    return tuple(out)


def _event(
    cls: type[FileEvent], path: str, old: dict[str, Any] | None, new: dict[str, Any] | None
) -> FileEvent:
    cur = new or old or {}
    return cls(
        path=path,
        role=cur.get("role", "sensitive"),
        mode=None if new is None else new["mode"],
        old_mode=None if old is None else old["mode"],
        owner=None if new is None else new.get("owner") or str(new["uid"]),
        old_owner=None if old is None else old.get("owner") or str(old["uid"]),
        group=None if new is None else new.get("group") or str(new["gid"]),
        old_group=None if old is None else old.get("group") or str(old["gid"]),
        sha256=None if new is None else new.get("sha256"),
        changes=_changes(old, new),
    )


def decide_scan(raw: Envelope, p: PermissionScanObserved, table: Table) -> list[Envelope]:
    key = f"host/{raw.host}"
    state = table.get(key)
    now = {f.path: f.model_dump(mode="json") for f in p.files}
    table.set(key, {"files": now, "digest": p.digest})
    if state is None or state.get("digest") == p.digest:
        return []  # the baseline, or a redelivered scan
    before: dict[str, dict[str, Any]] = state["files"]
    out: list[Envelope] = []
    for path in sorted(before.keys() | now.keys()):
        old, new = before.get(path), now.get(path)
        if old == new:
            continue
        events: list[FileEvent] = []
        was_special = old is not None and old["mode"] & SPECIAL
        was_open = old is not None and old["mode"] & OTHER_WRITE
        if new is not None and new["mode"] & SPECIAL and not was_special:
            events.append(_event(SetuidAdded, path, old, new))
        if new is not None and new["mode"] & OTHER_WRITE and not was_open:
            events.append(_event(WorldWritableAdded, path, old, new))
        sensitive = (new or old or {}).get("role") == "sensitive"
        if sensitive and _changes(old, new):
            events.append(_event(PermissionChanged, path, old, new))
        for ev in events:
            out.append(
                Envelope(
                    id=event_id("permissions", raw.id, ev.TYPE, path),
                    type=ev.TYPE,
                    schema_version=ev.VERSION,
                    host=raw.host,
                    source=SOURCE,
                    ts=p.ts,
                    observed_at=raw.observed_at,
                    subject=path,
                    causation_id=raw.id,
                    payload=ev.model_dump(mode="json"),
                )
            )
    return out


ROUTES: tuple[Route, ...] = (
    Route(
        name="permissions",
        source=RAW_PERMISSIONS,
        sink=EVENTS_PERMISSIONS,
        table="permissions",
        decide={PermissionScanObserved.TYPE: typed(PermissionScanObserved, decide_scan)},
    ),
)
