"""Permissions: owner, mode and content of sensitive files, setuid/setgid binaries and world-writable
files under system directories, scanned periodically; the changes decided from two scans."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from schemas.envelope import utc
from schemas.events.base import EventPayload, register
from schemas.model import UPDATED_AT, AlertKind, MiB, NodeLabel, Prop, RelType, Topic

# Why a file is in the scan: a named sensitive file (passwd, sudoers, ...), a setuid/setgid file, or a
# world-writable file found under a system directory.
FileRole = Literal["sensitive", "setuid", "world-writable"]


class FileState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str  # as on the host (the scan root left out)
    role: FileRole
    uid: int
    gid: int
    owner: str | None = None
    group: str | None = None
    mode: int  # st_mode & 0o7777
    size: int
    # SHA-256 of the content, for sensitive files only (setuid binaries are the packages' business).
    sha256: str | None = None


@register
class PermissionScanObserved(EventPayload):
    """One scan of the sensitive files and system directories (sent when anything differs)."""

    TYPE: ClassVar[str] = "PermissionScanObserved"
    VERSION: ClassVar[int] = 1

    ts: datetime
    files: tuple[FileState, ...]
    digest: str

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return utc(v)


Change = Literal["created", "removed", "owner", "group", "mode", "content"]


class FileEvent(EventPayload):
    VERSION: ClassVar[int] = 1

    path: str
    role: FileRole
    mode: int | None = None  # None: removed
    old_mode: int | None = None
    owner: str | None = None
    old_owner: str | None = None
    group: str | None = None
    old_group: str | None = None
    sha256: str | None = None
    changes: tuple[Change, ...] = ()


@register
class PermissionChanged(FileEvent):
    """A sensitive file's owner, group, mode or content changed, or it appeared or went away."""

    TYPE: ClassVar[str] = "PermissionChanged"


@register
class SetuidAdded(FileEvent):
    """A setuid or setgid file appeared under a system directory (or a file became one)."""

    TYPE: ClassVar[str] = "SetuidAdded"


@register
class WorldWritableAdded(FileEvent):
    """A file anyone may write appeared under a system directory (or a file became one)."""

    TYPE: ClassVar[str] = "WorldWritableAdded"


FILE_EVENTS: tuple[type[FileEvent], ...] = (PermissionChanged, SetuidAdded, WorldWritableAdded)

RAW_PERMISSIONS = Topic(
    "watchman.raw.permissions",
    partitions=1,
    retention_days=30,
    retention_bytes=64 * MiB,
    description="PermissionScanObserved: one scan of sensitive files and system directories; key host.",
)
EVENTS_PERMISSIONS = Topic(
    "watchman.events.permissions",
    partitions=1,
    retention_days=None,
    description="PermissionChanged, SetuidAdded, WorldWritableAdded; key host/path. Kept forever.",
)
WATCHED_FILE = NodeLabel(
    "WatchedFile",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("path", "STRING"),
        Prop("role", "STRING", "latest"),
        Prop("state", "STRING", "latest"),  # present | removed
        Prop("mode", "STRING", "latest"),  # octal, e.g. 0640
        Prop("owner", "STRING", "latest"),
        Prop("group_name", "STRING", "latest"),
        Prop("sha256", "STRING", "latest"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="A watched file (sensitive, setuid/setgid or world-writable); key host/path.",
)
FILE_ON = RelType("FILE_ON", (("WatchedFile", "Host"),), description="The file is on this host.")
ACTED_ON = RelType("ACTED_ON", (("Event", "WatchedFile"),))

TOPICS: tuple[Topic, ...] = (RAW_PERMISSIONS, EVENTS_PERMISSIONS)
NODES: tuple[NodeLabel, ...] = (WATCHED_FILE,)
RELS: tuple[RelType, ...] = (FILE_ON, ACTED_ON)

ALERTS: tuple[AlertKind, ...] = (
    AlertKind(
        name="SetuidAdded",
        fires_on="SetuidAdded",
        severity="critical",
        subject="path",
        summary="new setuid/setgid file {path} (mode {mode:o})",
        ends_after_minutes=24 * 60,
    ),
    AlertKind(
        name="SensitiveFileChanged",
        fires_on="PermissionChanged",
        severity="warning",
        subject="path",
        summary="{path} changed: {changes}",
    ),
    AlertKind(
        name="WorldWritableAdded",
        fires_on="WorldWritableAdded",
        severity="warning",
        subject="path",
        summary="{path} is world-writable (mode {mode:o})",
        ends_after_minutes=24 * 60,
    ),
)
