"""Software-install events: the raw observation a log parser makes and the domain events decided from it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import field_validator

from schemas.envelope import utc
from schemas.events.base import EventPayload, register, upcaster
from schemas.model import UPDATED_AT, MiB, NodeLabel, Prop, RelType, Topic

PackageAction = Literal["install", "upgrade", "downgrade", "remove", "purge", "reinstall"]
PackageSource = Literal["apt", "dpkg", "dnf-rpm", "dnf", "dnf5", "brew"]
Ecosystem = Literal["deb", "rpm", "brew"]
# Package databases read whole (the inventory), as opposed to the logs that tell changes one by one.
InventorySource = Literal["dpkg-status", "rpmdb"]
# What a package database says of a package: installed; removed with its configuration kept (dpkg's
# config-files); purged (no longer listed at all).
InventoryState = Literal["installed", "removed", "purged"]

_ECOSYSTEM: dict[str, Ecosystem] = {
    "apt": "deb",
    "dpkg": "deb",
    "dnf-rpm": "rpm",
    "dnf": "rpm",
    "dnf5": "rpm",
    "brew": "brew",
    "dpkg-status": "deb",
    "rpmdb": "rpm",
}


def ecosystem_of(source: str) -> Ecosystem:
    return _ECOSYSTEM[source]


class _PackageFields(EventPayload):
    """Fields shared by the raw observation and the domain events.

    Versions are written as the package manager prints them. For deb, the whole
    `[epoch:]upstream[-revision]` string (epoch also split out); for rpm, `version-release`
    with the epoch in `epoch` and the release also in `release`; for brew, the formula version.
    `epoch`/`release` describe new_version when there is one, else old_version.
    """

    package: str
    arch: str | None = None
    old_version: str | None = None
    new_version: str | None = None
    epoch: str | None = None
    release: str | None = None
    automatic: bool | None = None
    requested_by: str | None = None
    commandline: str | None = None
    repo: str | None = None
    error: str | None = None
    # The host's own architecture as its package manager names it (amd64, x86_64), when the producer
    # knows it: a package of that arch or of none (all, noarch) is the same software however a log
    # writes it (apt's history says needrestart:amd64 where dpkg.log says needrestart:all).
    native_arch: str | None = None


@register
class PackageChangeObserved(_PackageFields):
    """One package change as one log line (or one snapshot difference) tells it. Raw, not yet decided."""

    TYPE: ClassVar[str] = "PackageChangeObserved"
    VERSION: ClassVar[int] = 1

    ts: datetime
    action: PackageAction
    source: PackageSource
    # The package-manager session this change belongs to (apt Start-Date/End-Date, dnf transaction).
    session_start: datetime | None = None
    session_end: datetime | None = None

    @field_validator("ts", "session_start", "session_end")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return None if v is None else utc(v)

    @property
    def version(self) -> str | None:
        """The version the change is about: the new one, or the removed one."""
        return self.new_version if self.new_version is not None else self.old_version


class PackageChanged(_PackageFields):
    """Base of the domain events: a decided change of one package on one host."""

    VERSION: ClassVar[int] = 3

    action: PackageAction
    ecosystem: Ecosystem
    # Every source that told of this change, e.g. ["dpkg", "apt"]: one change, one event.
    sources: tuple[PackageSource, ...]
    # The earliest and latest time its sources gave (apt's session start, dpkg's per-package time).
    # The event's ts is the most precise one and can change when the second telling comes; the graph
    # takes first/last seen from these, which only ever widen, so they do not depend on which telling
    # came first. None in events from before version 3: ts stands in.
    first_told: datetime | None = None
    last_told: datetime | None = None

    @field_validator("first_told", "last_told")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return None if v is None else utc(v)


@register
class PackageInstalled(PackageChanged):
    TYPE: ClassVar[str] = "PackageInstalled"


@register
class PackageUpgraded(PackageChanged):
    TYPE: ClassVar[str] = "PackageUpgraded"


@register
class PackageDowngraded(PackageChanged):
    TYPE: ClassVar[str] = "PackageDowngraded"


@register
class PackageRemoved(PackageChanged):
    TYPE: ClassVar[str] = "PackageRemoved"


@register
class PackagePurged(PackageChanged):
    TYPE: ClassVar[str] = "PackagePurged"


@register
class PackageReinstalled(PackageChanged):
    TYPE: ClassVar[str] = "PackageReinstalled"


PACKAGE_EVENT_BY_ACTION: dict[str, type[PackageChanged]] = {
    "install": PackageInstalled,
    "upgrade": PackageUpgraded,
    "downgrade": PackageDowngraded,
    "remove": PackageRemoved,
    "purge": PackagePurged,
    "reinstall": PackageReinstalled,
}


def _v1_to_v2(action: str) -> Any:
    """Version 1 (the first prototype's shape) named the package `name`, carried one `version`
    and a single `source`; version 2 split old/new versions and lists every source."""

    def up(p: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in p.items() if k not in ("name", "version", "source")}
        out["package"] = p["name"]
        key = "old_version" if action in ("remove", "purge") else "new_version"
        out.setdefault(key, p.get("version"))
        out.setdefault("action", action)
        src = p.get("source", "dpkg")
        out.setdefault("ecosystem", _ECOSYSTEM.get(src, "deb"))
        out.setdefault("sources", [src])
        return out

    return up


def _v2_to_v3(p: dict[str, Any]) -> dict[str, Any]:
    """Version 3 added first_told/last_told, optional: a version 2 payload is a valid version 3 one."""
    return p


for _action, _cls in PACKAGE_EVENT_BY_ACTION.items():
    upcaster(_cls.TYPE, 1)(_v1_to_v2(_action))
    upcaster(_cls.TYPE, 2)(_v2_to_v3)


@register
class PackageInventoried(_PackageFields):
    """One package as the package database lists it (raw, not yet decided): the first snapshot of the
    database lists every package; a rescan lists only what changed since the previous snapshot
    (`purged`: no longer listed). `new_version` is the database's version (None when purged),
    `old_version` the previous snapshot's, `ts` when the snapshot was taken."""

    TYPE: ClassVar[str] = "PackageInventoried"
    VERSION: ClassVar[int] = 1

    ts: datetime
    source: InventorySource
    state: InventoryState

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return utc(v)


class PackageObserved(_PackageFields):
    """Base of the inventory's domain events: the package database says something the log history does
    not (a package installed before observation began, or a change the logs never told). Never a
    PackageInstalled: nobody saw it being installed. `known_version`/`known_state` are what the
    history said (None: no history at all); the event's ts is the snapshot's time."""

    VERSION: ClassVar[int] = 1

    ecosystem: Ecosystem
    source: InventorySource
    state: InventoryState
    known_version: str | None = None
    known_state: InventoryState | None = None

    @property
    def action(self) -> str:
        """The Event node's action: observed-installed, observed-removed, observed-purged."""
        return f"observed-{self.state}"


@register
class PackageObservedInstalled(PackageObserved):
    """Installed at new_version per the package database, which the history does not explain."""

    TYPE: ClassVar[str] = "PackageObservedInstalled"


@register
class PackageObservedRemoved(PackageObserved):
    """Removed (configuration kept) or purged per the package database, while the history says otherwise."""

    TYPE: ClassVar[str] = "PackageObservedRemoved"


OBSERVED_EVENT_BY_STATE: dict[str, type[PackageObserved]] = {
    "installed": PackageObservedInstalled,
    "removed": PackageObservedRemoved,
    "purged": PackageObservedRemoved,
}


# --- topics and graph: what this domain declares (schemas/topics.py and schemas/graph.py collect it) ---

RAW_PACKAGES = Topic(
    "watchman.raw.packages",
    partitions=4,
    retention_days=30,
    retention_bytes=64 * MiB,
    description="PackageChangeObserved records parsed from apt/dpkg/dnf/dnf5 logs and brew snapshots, "
    "PackageInventoried records from the dpkg status file and the RPM database; "
    "key host/package.",
)
EVENTS_PACKAGES = Topic(
    "watchman.events.packages",
    partitions=4,
    retention_days=None,
    description="Package* domain events (one per real change, PackageObserved* where only the package "
    "database tells it); key host/package. Kept forever.",
)
SOFTWARE = NodeLabel(
    "Software",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("ecosystem", "STRING"),
        Prop("name", "STRING"),
        Prop("arch", "STRING"),
        Prop("version", "STRING", "latest"),
        Prop("state", "STRING", "latest"),
        Prop("automatic", "BOOLEAN", "latest", clock="automatic_at"),
        Prop("automatic_at", "TIMESTAMP", "max"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description=(
        "One package of one package manager on one host; key host/ecosystem/name, plus :arch for a"
        " foreign architecture only (libc6:i386 on an amd64 host)."
    ),
)
INSTALLED_ON = RelType("INSTALLED_ON", (("Software", "Host"),), description="Software known on a host.")
# This domain's entities that events act on, and nodes that happen on a host (the core types).
ACTED_ON = RelType("ACTED_ON", (("Event", "Software"),))
TOPICS: tuple[Topic, ...] = (
    RAW_PACKAGES,
    EVENTS_PACKAGES,
)
NODES: tuple[NodeLabel, ...] = (SOFTWARE,)
RELS: tuple[RelType, ...] = (
    INSTALLED_ON,
    ACTED_ON,
)
