"""Project the configfiles domain's events into graph operations (pure).

Every event is an Event node ACTED_ON its ConfigFile (so "what changed on this host today" spans config
files too); a file change also becomes a ConfigVersion node (hash, diff stats, versions-repo commit,
caused_by). A file shipped by a package is linked PROVIDED_BY to its Software node (key host/deb/name, as
the packages domain keys it; the node is upserted with its name so the link holds whichever comes first).
"""

from __future__ import annotations

from typing import Any

from projections.graph_ops import GraphOp, UpsertNode, UpsertRel
from projections.projecting import Project
from schemas.envelope import Envelope
from schemas.events.base import EventPayload
from schemas.events.configfiles import (
    CONFFILE_EVENTS,
    DRIFT_EVENTS,
    FILE_EVENTS,
    VALIDATION_EVENTS,
    ConffileEvent,
    ConffileModified,
    ConfigDrifted,
    ConfigDriftEvent,
    ConfigFileChanged,
    ConfigFileDiscovered,
    ConfigFileEvent,
    ConfigFileRemoved,
    ConfigValidated,
    ConfigValidationEvent,
)

ACTION: dict[str, str] = {
    "ConfigFileDiscovered": "discover",
    "ConfigFileChanged": "change",
    "ConfigFileRemoved": "remove",
    "ConfigValidated": "valid",
    "ConfigInvalid": "invalid",
    "ConfigDrifted": "drift",
    "ConfigDriftResolved": "drift-resolved",
    "ConffileModified": "conffile-modified",
    "ConffileRestored": "conffile-restored",
}


def file_key(host: str, path: str) -> str:
    return f"{host}{path}"


def software_key(host: str, ecosystem: str, name: str) -> str:
    return f"{host}/{ecosystem}/{name}"


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "-"


def summary(event_type: str, p: EventPayload) -> str:
    action = ACTION.get(event_type, event_type)
    if isinstance(p, ConfigFileChanged):
        stats = f" +{p.lines_added} -{p.lines_removed}" if p.lines_added is not None else ""
        cause = f" by {p.caused_by}" if p.caused_by else ""
        return f"{action} {p.path} {_short(p.old_sha256)} -> {_short(p.sha256)}{stats}{cause}"
    if isinstance(p, ConfigValidationEvent):
        msg = f": {p.message[:200]}" if p.message and event_type == "ConfigInvalid" else ""
        return f"{action} {p.path} ({p.checker}){msg}"
    if isinstance(p, ConfigDriftEvent):
        return f"{action} {p.path} (desired from {p.desired_from})"
    if isinstance(p, ConffileEvent):
        return f"{action} {p.path} ({p.package})"
    if isinstance(p, ConfigFileEvent):
        return f"{action} {p.path}"
    return action


def project(event: Envelope, payload: EventPayload) -> list[GraphOp]:
    if not isinstance(payload, ConfigFileEvent):
        raise TypeError(f"configfiles projection got {type(payload).__name__}")
    ts, host = event.ts, event.host
    key = file_key(host, payload.path)
    node: dict[str, Any] = {
        "host": host,
        "path": payload.path,
        "first_seen": ts,
        "last_seen": ts,
        "updated_at": ts,
    }
    ops: list[GraphOp] = [UpsertNode("Host", host, {"name": host, "first_seen": ts, "last_seen": ts})]
    extra: list[GraphOp] = []
    if isinstance(payload, (ConfigFileDiscovered, ConfigFileChanged)):
        node.update(
            owner=payload.owner,
            group_name=payload.group,
            mode=payload.mode,
            sha256=payload.sha256,
            size=payload.size,
            app=payload.app,
            secret=payload.secret,
            state="present",
            rev=payload.rev,
            last_changed=ts,
        )
        if payload.package:
            node.update(package=payload.package, package_at=ts)
            eco = payload.package_ecosystem or "deb"
            skey = software_key(host, eco, payload.package)
            extra += [
                UpsertNode("Software", skey, {"host": host, "ecosystem": eco, "name": payload.package}),
                UpsertRel("PROVIDED_BY", "ConfigFile", key, "Software", skey),
            ]
    elif isinstance(payload, ConfigFileRemoved):
        node.update(state="removed", rev=payload.rev, last_changed=ts, sha256=None)
    elif isinstance(payload, ConfigValidationEvent):
        node.update(
            valid=isinstance(payload, ConfigValidated),
            checker=payload.checker,
            validation_message=payload.message,
            checked_at=ts,
        )
    elif isinstance(payload, ConfigDriftEvent):
        node.update(
            drifted=isinstance(payload, ConfigDrifted), desired_from=payload.desired_from, drift_at=ts
        )
    elif isinstance(payload, ConffileEvent):
        node.update(
            package=payload.package, package_modified=isinstance(payload, ConffileModified), package_at=ts
        )
        skey = software_key(host, payload.ecosystem, payload.package)
        extra += [
            UpsertNode(
                "Software", skey, {"host": host, "ecosystem": payload.ecosystem, "name": payload.package}
            ),
            UpsertRel("PROVIDED_BY", "ConfigFile", key, "Software", skey),
        ]
    node = {k: v for k, v in node.items() if v is not None}
    ops.append(UpsertNode("ConfigFile", key, node, ts=ts))
    ops.append(UpsertRel("STORED_ON", "ConfigFile", key, "Host", host))
    ops.append(
        UpsertNode(
            "Event",
            event.id,
            {
                "type": event.type,
                "ts": ts,
                "host": host,
                "action": ACTION.get(event.type, event.type),
                "subject": key,
                "summary": summary(event.type, payload),
                "source": event.source,
            },
        )
    )
    ops += [
        UpsertRel("HAPPENED_ON", "Event", event.id, "Host", host),
        UpsertRel("ACTED_ON", "Event", event.id, "ConfigFile", key),
    ]
    if isinstance(payload, (ConfigFileDiscovered, ConfigFileChanged, ConfigFileRemoved)):
        version: dict[str, Any] = {
            "host": host,
            "path": payload.path,
            "ts": ts,
            "change": {"ConfigFileDiscovered": "added", "ConfigFileChanged": "changed"}.get(
                event.type, "removed"
            ),
            "rev": payload.rev,
            "via": payload.via,
        }
        if isinstance(payload, ConfigFileRemoved):
            version.update(old_sha256=payload.old_sha256, caused_by=payload.caused_by)
        else:
            version.update(sha256=payload.sha256, size=payload.size)
        if isinstance(payload, ConfigFileDiscovered):
            version.update(caused_by=payload.caused_by)
        if isinstance(payload, ConfigFileChanged):
            version.update(
                old_sha256=payload.old_sha256,
                lines_added=payload.lines_added,
                lines_removed=payload.lines_removed,
                caused_by=payload.caused_by,
            )
        version = {k: v for k, v in version.items() if v is not None}
        ops += [
            UpsertNode("ConfigVersion", event.id, version),
            UpsertRel("VERSION_OF", "ConfigVersion", event.id, "ConfigFile", key),
        ]
    return ops + extra


# Which domain event types this projection handles (projections/registry.py collects it).
PROJECTORS: dict[str, Project] = {
    cls.TYPE: project for cls in (*FILE_EVENTS, *VALIDATION_EVENTS, *DRIFT_EVENTS, *CONFFILE_EVENTS)
}
