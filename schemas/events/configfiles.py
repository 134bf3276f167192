"""Config files: the observations of the config scanner, the configfiles domain's events and commands.

The domain is named `configfiles` (not `config`): `watchman/cli/config.py` already is
`watchman config show|check` (the product's own settings); its commands join that group.

Secrets never travel here: a file the scanner classes as secret (shadow, private keys, tokens) carries its
hash, size, owner and mode, never its content nor a diff; `secret` says so.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from schemas.envelope import utc
from schemas.events.base import EventPayload, register
from schemas.events.commands import CommandPayload, register_command
from schemas.model import UPDATED_AT, AlertKind, MiB, NodeLabel, Prop, RelType, Topic

FileChange = Literal["added", "changed", "removed"]
# How the change was seen: the live inotify watch, a periodic or on-demand rescan, or the first scan.
SeenVia = Literal["inotify", "scan", "initial"]


class _Timed(EventPayload):
    ts: datetime

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return utc(v)


@register
class ConfigFileObserved(_Timed):
    """One tracked file as the scanner found it after a change (or gone, for `removed`)."""

    TYPE: ClassVar[str] = "ConfigFileObserved"
    VERSION: ClassVar[int] = 1

    path: str  # the path on the host (absolute)
    change: FileChange
    via: SeenVia
    owner: str | None = None
    group: str | None = None
    mode: str | None = None  # octal permission bits, e.g. "0644"
    sha256: str | None = None
    old_sha256: str | None = None
    size: int | None = None
    app: str | None = None
    secret: bool = False
    lines_added: int | None = None  # None: not text, secret, or first sight
    lines_removed: int | None = None
    rev: str | None = None  # the versions repository's commit holding this version
    caused_by: str | None = None  # "rollback:<command id>", "apply:<command id>"
    package: str | None = None  # the package that ships the path (dpkg's file lists, the RPM database)
    package_ecosystem: str | None = None  # deb | rpm


@register
class ConfigValidationObserved(_Timed):
    """An application's own checker (or a syntax check) ran over one file."""

    TYPE: ClassVar[str] = "ConfigValidationObserved"
    VERSION: ClassVar[int] = 1

    path: str
    sha256: str | None = None
    checker: str  # "nginx -t", "sshd -t", "json", ...
    ok: bool
    message: str = Field("", max_length=4096)


@register
class ConfigDriftObserved(_Timed):
    """A comparison of one file with its desired state (a directory, a template, or the pinned baseline)."""

    TYPE: ClassVar[str] = "ConfigDriftObserved"
    VERSION: ClassVar[int] = 1

    path: str
    desired_from: str  # "dir", "template", "baseline"
    drifted: bool
    actual_sha256: str | None = None
    desired_sha256: str | None = None
    # A unified diff desired -> actual, cut to 8 KiB; empty for secret or binary files.
    diff: str = Field("", max_length=8192)


@register
class ConffileObserved(_Timed):
    """A package's conffile (dpkg's `Conffiles:` record) compared with the package's default checksum."""

    TYPE: ClassVar[str] = "ConffileObserved"
    VERSION: ClassVar[int] = 1

    path: str
    package: str
    ecosystem: str = "deb"
    default_digest: str | None = None
    actual_digest: str | None = None  # None: the file is missing
    modified: bool


# --- domain events ---------------------------------------------------------------------------------


class ConfigFileEvent(_Timed):
    """Base of the events about one config file on one host."""

    VERSION: ClassVar[int] = 1
    path: str


@register
class ConfigFileDiscovered(ConfigFileEvent):
    """A tracked file seen for the first time (the first scan, or a file created later)."""

    TYPE: ClassVar[str] = "ConfigFileDiscovered"
    owner: str | None = None
    group: str | None = None
    mode: str | None = None
    sha256: str | None = None
    size: int | None = None
    app: str | None = None
    secret: bool = False
    rev: str | None = None
    via: SeenVia = "scan"
    package: str | None = None
    package_ecosystem: str | None = None
    caused_by: str | None = None  # a rollback that brought back a removed file


@register
class ConfigFileChanged(ConfigFileEvent):
    """A tracked file's content, owner or mode changed."""

    TYPE: ClassVar[str] = "ConfigFileChanged"
    owner: str | None = None
    group: str | None = None
    mode: str | None = None
    sha256: str | None = None
    old_sha256: str | None = None
    size: int | None = None
    app: str | None = None
    secret: bool = False
    lines_added: int | None = None
    lines_removed: int | None = None
    rev: str | None = None
    caused_by: str | None = None
    via: SeenVia = "scan"
    package: str | None = None
    package_ecosystem: str | None = None


@register
class ConfigFileRemoved(ConfigFileEvent):
    TYPE: ClassVar[str] = "ConfigFileRemoved"
    old_sha256: str | None = None
    app: str | None = None
    rev: str | None = None
    caused_by: str | None = None
    via: SeenVia = "scan"


class ConfigValidationEvent(ConfigFileEvent):
    sha256: str | None = None
    checker: str
    message: str = ""


@register
class ConfigValidated(ConfigValidationEvent):
    TYPE: ClassVar[str] = "ConfigValidated"


@register
class ConfigInvalid(ConfigValidationEvent):
    """The application's checker refused the file: `message` is what it said."""

    TYPE: ClassVar[str] = "ConfigInvalid"


class ConfigDriftEvent(ConfigFileEvent):
    desired_from: str
    actual_sha256: str | None = None
    desired_sha256: str | None = None
    diff: str = ""


@register
class ConfigDrifted(ConfigDriftEvent):
    """The file differs from its desired state; `diff` goes from desired to actual."""

    TYPE: ClassVar[str] = "ConfigDrifted"


@register
class ConfigDriftResolved(ConfigDriftEvent):
    TYPE: ClassVar[str] = "ConfigDriftResolved"


class ConffileEvent(ConfigFileEvent):
    package: str
    ecosystem: str = "deb"
    default_digest: str | None = None
    actual_digest: str | None = None


@register
class ConffileModified(ConffileEvent):
    """A package's conffile no longer matches the checksum the package installed it with."""

    TYPE: ClassVar[str] = "ConffileModified"


@register
class ConffileRestored(ConffileEvent):
    """A conffile found modified before matches its package's default again."""

    TYPE: ClassVar[str] = "ConffileRestored"


FILE_EVENTS: tuple[type[ConfigFileEvent], ...] = (ConfigFileDiscovered, ConfigFileChanged, ConfigFileRemoved)
VALIDATION_EVENTS: tuple[type[ConfigValidationEvent], ...] = (ConfigValidated, ConfigInvalid)
DRIFT_EVENTS: tuple[type[ConfigDriftEvent], ...] = (ConfigDrifted, ConfigDriftResolved)
CONFFILE_EVENTS: tuple[type[ConffileEvent], ...] = (ConffileModified, ConffileRestored)


# --- commands --------------------------------------------------------------------------------------

_PATH = Field(min_length=2, max_length=4096, pattern=r"^/")


@register_command
class ValidateConfig(CommandPayload):
    """Run the checkers now over the files named (all tracked files with a checker when none)."""

    TYPE: ClassVar[str] = "ValidateConfig"
    paths: tuple[str, ...] = ()


@register_command
class RollbackConfig(CommandPayload):
    """Put back version `rev` of `path` from the versions repository (destructive: confirm must be true).

    Validated first, written atomically keeping owner and mode, the owning service reloaded and
    health-checked when declared; reverted to what was there when the service does not come back healthy.
    """

    TYPE: ClassVar[str] = "RollbackConfig"
    path: str = _PATH
    rev: str = Field(min_length=4, max_length=64, pattern=r"^[0-9a-fA-F]+$|^HEAD(~[0-9]{1,4})?$")
    confirm: bool = False


@register_command
class ApplyDesiredConfig(CommandPayload):
    """Resolve drift: write the desired state of `path` (same safety as a rollback; confirm must be true)."""

    TYPE: ClassVar[str] = "ApplyDesiredConfig"
    path: str = _PATH
    confirm: bool = False


@register_command
class PinConfigBaseline(CommandPayload):
    """Take the tracked files as they are now as the desired state ("pin today as the baseline")."""

    TYPE: ClassVar[str] = "PinConfigBaseline"


# --- topics and graph: what this domain declares (schemas/topics.py and schemas/graph.py collect it) ---

RAW_CONFIGFILES = Topic(
    "watchman.raw.configfiles",
    partitions=4,
    retention_days=30,
    retention_bytes=64 * MiB,
    description="ConfigFileObserved, ConfigValidationObserved, ConfigDriftObserved and ConffileObserved "
    "records of the config scanner; key host/path.",
)
EVENTS_CONFIGFILES = Topic(
    "watchman.events.configfiles",
    partitions=4,
    retention_days=None,
    description="ConfigFile*/ConfigValidated/ConfigInvalid/ConfigDrift*/Conffile* domain events; "
    "key host/path. Kept forever.",
)
CONFIG_FILE = NodeLabel(
    "ConfigFile",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("path", "STRING"),
        Prop("owner", "STRING", "latest"),
        Prop("group_name", "STRING", "latest"),
        Prop("mode", "STRING", "latest"),
        Prop("sha256", "STRING", "latest"),
        Prop("size", "INT64", "latest"),
        Prop("app", "STRING", "latest"),
        Prop("secret", "BOOLEAN", "latest"),
        Prop("state", "STRING", "latest"),  # present | removed
        Prop("rev", "STRING", "latest"),
        Prop("last_changed", "TIMESTAMP", "max"),
        # Validation: the checker's last word (clock: the time of that check).
        Prop("valid", "BOOLEAN", "latest", clock="checked_at"),
        Prop("checker", "STRING", "latest", clock="checked_at"),
        Prop("validation_message", "STRING", "latest", clock="checked_at"),
        Prop("checked_at", "TIMESTAMP", "max"),
        # Drift from the desired state.
        Prop("drifted", "BOOLEAN", "latest", clock="drift_at"),
        Prop("desired_from", "STRING", "latest", clock="drift_at"),
        Prop("drift_at", "TIMESTAMP", "max"),
        # Package awareness: the owning package and whether this conffile differs from its default.
        Prop("package", "STRING", "latest", clock="package_at"),
        Prop("package_modified", "BOOLEAN", "latest", clock="package_at"),
        Prop("package_at", "TIMESTAMP", "max"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="One tracked configuration file on one host; key host/path. Secret files carry only hashes.",
)
CONFIG_VERSION = NodeLabel(
    "ConfigVersion",
    key="id",
    props=(
        Prop("id", "STRING"),
        Prop("host", "STRING"),
        Prop("path", "STRING"),
        Prop("ts", "TIMESTAMP"),
        Prop("change", "STRING"),  # added | changed | removed
        Prop("sha256", "STRING"),
        Prop("old_sha256", "STRING"),
        Prop("size", "INT64"),
        Prop("lines_added", "INT64"),
        Prop("lines_removed", "INT64"),
        Prop("rev", "STRING"),
        Prop("caused_by", "STRING"),
        Prop("via", "STRING"),
    ),
    description="One version of a config file (the event id): its hash, diff stats and versions-repo commit.",
)
VERSION_OF = RelType("VERSION_OF", (("ConfigVersion", "ConfigFile"),), description="A version of this file.")
STORED_ON = RelType("STORED_ON", (("ConfigFile", "Host"),), description="The file is on this host.")
PROVIDED_BY = RelType(
    "PROVIDED_BY",
    (("ConfigFile", "Software"),),
    description="The package that ships this file (dpkg's file lists / conffiles).",
)
ACTED_ON = RelType("ACTED_ON", (("Event", "ConfigFile"),))
TOPICS: tuple[Topic, ...] = (RAW_CONFIGFILES, EVENTS_CONFIGFILES)
NODES: tuple[NodeLabel, ...] = (CONFIG_FILE, CONFIG_VERSION)
RELS: tuple[RelType, ...] = (VERSION_OF, STORED_ON, PROVIDED_BY, ACTED_ON)
# The alerts this domain's events fire (schemas/alerts.py collects; one delivery stage sends them).
ALERTS: tuple[AlertKind, ...] = (
    AlertKind(
        name="ConfigInvalid",
        fires_on="ConfigInvalid",
        severity="critical",
        subject="path",
        summary="{path} is refused by {checker}: {message}",
        resolves_on=("ConfigValidated",),
        ends_after_minutes=None,
    ),
    AlertKind(
        name="ConfigDrifted",
        fires_on="ConfigDrifted",
        severity="warning",
        subject="path",
        summary="{path} differs from its desired state ({desired_from})",
        resolves_on=("ConfigDriftResolved",),
        ends_after_minutes=None,
    ),
)
