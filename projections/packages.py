"""Project package domain events into graph operations (pure)."""

from __future__ import annotations

from projections.graph_ops import GraphOp, UpsertNode, UpsertRel
from projections.projecting import Project, typed
from schemas.envelope import Envelope
from schemas.events import OBSERVED_EVENT_BY_STATE, PACKAGE_EVENT_BY_ACTION, PackageChanged, PackageObserved

STATE_AFTER = {
    "install": "installed",
    "upgrade": "installed",
    "downgrade": "installed",
    "reinstall": "installed",
    "remove": "removed",
    "purge": "purged",
}


# Architecture-independent packages: the same software on every arch of the host.
NEUTRAL_ARCHES = frozenset({"all", "noarch", "any"})


def software_key(
    host: str, ecosystem: str, name: str, arch: str | None, native_arch: str | None = None
) -> str:
    """host/ecosystem/name, with `:arch` only for a foreign architecture (libc6:i386 beside libc6 on an
    amd64 host), as apt and dnf name packages. So the key does not depend on which log told a change
    first: apt's history writes an Architecture: all package as needrestart:amd64, dpkg.log as
    needrestart:all, the old apt format writes no arch. Without the host's native arch (brew, events
    from before it was recorded) the arch written is all there is to go by."""
    if arch and native_arch is None:
        return f"{host}/{ecosystem}/{name}:{arch}"
    if arch and arch != native_arch and arch not in NEUTRAL_ARCHES:
        return f"{host}/{ecosystem}/{name}:{arch}"
    return f"{host}/{ecosystem}/{name}"


def summary(payload: PackageChanged) -> str:
    """One line for cross-domain change lists, e.g. "upgrade nginx:amd64 1.22 -> 1.24 (apt)"."""
    name = payload.package + (f":{payload.arch}" if payload.arch else "")
    if payload.old_version and payload.new_version and payload.old_version != payload.new_version:
        versions = f"{payload.old_version} -> {payload.new_version}"
    else:
        versions = payload.new_version or payload.old_version or ""
    return f"{payload.action} {name} {versions} ({payload.ecosystem})".replace("  ", " ")


def project(event: Envelope, payload: PackageChanged) -> list[GraphOp]:
    """Event node + Software current state + Host, and the relationships between them.

    The Event node shows the event's own (most precise) time. Software and Host take their times from
    the span of the change's tellings (first_told/last_told): the event is emitted again when its
    second telling comes, possibly with another ts, and a first/last seen folded from a ts that moves
    would depend on which telling came first; a span only widens, so the result is the same either way.
    """
    ts = event.ts
    first = payload.first_told or ts
    last = payload.last_told or ts
    version = payload.new_version if payload.new_version is not None else payload.old_version
    skey = software_key(event.host, payload.ecosystem, payload.package, payload.arch, payload.native_arch)
    return [
        UpsertNode("Host", event.host, {"name": event.host, "first_seen": first, "last_seen": last}),
        UpsertNode(
            "Software",
            skey,
            {
                "host": event.host,
                "ecosystem": payload.ecosystem,
                "name": payload.package,
                "arch": payload.arch,
                "version": version,
                "state": STATE_AFTER[payload.action],
                "automatic": payload.automatic,
                "first_seen": first,
                "last_seen": last,
                "updated_at": last,
            },
            ts=last,
        ),
        UpsertNode(
            "Event",
            event.id,
            {
                "type": event.type,
                "ts": ts,
                "host": event.host,
                "action": payload.action,
                "subject": skey,
                "summary": summary(payload),
                "package_name": payload.package,
                "arch": payload.arch,
                "ecosystem": payload.ecosystem,
                "version": version,
                "old_version": payload.old_version,
                "source": ",".join(payload.sources),
                "automatic": payload.automatic,
                "requested_by": payload.requested_by,
                "commandline": payload.commandline,
                "repo": payload.repo,
            },
        ),
        UpsertRel("INSTALLED_ON", "Software", skey, "Host", event.host),
        UpsertRel("ACTED_ON", "Event", event.id, "Software", skey),
        UpsertRel("HAPPENED_ON", "Event", event.id, "Host", event.host),
    ]


def project_observed(event: Envelope, payload: PackageObserved) -> list[GraphOp]:
    """What the package database says, where the history does not: the Software node takes the
    database's version and state as of the snapshot (a later change still wins: `latest`), and an
    Event with action observed-installed/-removed/-purged records that it was observed, not seen done."""
    ts = event.ts
    version = payload.new_version if payload.new_version is not None else payload.old_version
    skey = software_key(event.host, payload.ecosystem, payload.package, payload.arch, payload.native_arch)
    name = payload.package + (f":{payload.arch}" if payload.arch else "")
    return [
        UpsertNode("Host", event.host, {"name": event.host, "first_seen": ts, "last_seen": ts}),
        UpsertNode(
            "Software",
            skey,
            {
                "host": event.host,
                "ecosystem": payload.ecosystem,
                "name": payload.package,
                "arch": payload.arch,
                "version": version,
                "state": payload.state,
                "automatic": None,
                "first_seen": ts,
                "last_seen": ts,
                "updated_at": ts,
            },
            ts=ts,
        ),
        UpsertNode(
            "Event",
            event.id,
            {
                "type": event.type,
                "ts": ts,
                "host": event.host,
                "action": payload.action,
                "subject": skey,
                "summary": f"{payload.action} {name} {version or ''} ({payload.ecosystem})".strip(),
                "package_name": payload.package,
                "arch": payload.arch,
                "ecosystem": payload.ecosystem,
                "version": version,
                "old_version": payload.known_version,
                "source": payload.source,
                "automatic": None,
                "requested_by": None,
                "commandline": None,
                "repo": None,
            },
        ),
        UpsertRel("INSTALLED_ON", "Software", skey, "Host", event.host),
        UpsertRel("ACTED_ON", "Event", event.id, "Software", skey),
        UpsertRel("HAPPENED_ON", "Event", event.id, "Host", event.host),
    ]


# Which domain event types this projection handles (projections/registry.py collects it).
PROJECTORS: dict[str, Project] = {
    **{cls.TYPE: typed(PackageChanged, project) for cls in PACKAGE_EVENT_BY_ACTION.values()},
    **{cls.TYPE: typed(PackageObserved, project_observed) for cls in OBSERVED_EVENT_BY_STATE.values()},
}
