"""Vulnerabilities: advisories read from offline data (OSV exports, the Debian Security Tracker's JSON),
the installed packages with their source packages, and the findings decided from both."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.envelope import utc
from schemas.events.base import EventPayload, register
from schemas.model import UPDATED_AT, AlertKind, MiB, NodeLabel, Prop, RelType, Topic

# OSV range event kinds (https://ossf.github.io/osv-schema/#affectedrangesevents-fields).
RangeEventKind = Literal["introduced", "fixed", "last_affected", "limit"]
# One scale for every source: OSV's database_specific/ecosystem_specific severity, a CVSS base score's
# qualitative band, or the Debian tracker's urgency (see producers/vulnerabilities/advisories.py).
Severity = Literal["critical", "high", "medium", "low"]
AdvisoryFeed = Literal["osv", "debian-tracker"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RangeEvent(_Frozen):
    kind: RangeEventKind
    version: str


class AffectedRange(_Frozen):
    """One OSV range: ECOSYSTEM (the ecosystem's own version order), SEMVER or GIT (not matched)."""

    type: str
    events: tuple[RangeEvent, ...]


class AffectedPackage(_Frozen):
    """A package of one ecosystem an advisory affects, as OSV spells it: `Debian:12`/`glibc` (a
    source package), `Rocky Linux:9`/`openssl`, `PyPI`/`jinja2`."""

    ecosystem: str
    name: str
    ranges: tuple[AffectedRange, ...] = ()
    versions: tuple[str, ...] = ()


@register
class AdvisoryObserved(EventPayload):
    """One advisory record of an imported file (one OSV record, or one CVE of the Debian tracker)."""

    TYPE: ClassVar[str] = "AdvisoryObserved"
    VERSION: ClassVar[int] = 1

    id: str
    feed: AdvisoryFeed
    aliases: tuple[str, ...] = ()
    summary: str | None = None
    severity: Severity | None = None
    cvss: float | None = None
    cvss_vector: str | None = None
    published: datetime | None = None
    modified: datetime | None = None
    withdrawn: datetime | None = None
    affected: tuple[AffectedPackage, ...] = ()
    # Digest of the fields above: a re-import of an unchanged record decides nothing.
    digest: str

    @field_validator("published", "modified", "withdrawn")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return None if v is None else utc(v)


class InstalledPackage(_Frozen):
    """One installed binary package with the source package it was built from."""

    key: str  # the Software node key, as the packages domain writes it (host/ecosystem/name[:arch])
    name: str
    ecosystem: str  # deb | rpm
    version: str
    source: str
    source_version: str
    arch: str | None = None


@register
class InstalledSourcesObserved(EventPayload):
    """The package database read for matching: every installed binary with its source package, and the
    host's release as an OSV ecosystem (`Debian:12`, `Rocky Linux:9`). Sent when it changed."""

    TYPE: ClassVar[str] = "InstalledSourcesObserved"
    VERSION: ClassVar[int] = 1

    ts: datetime
    release: str | None
    packages: tuple[InstalledPackage, ...]
    digest: str  # of the whole snapshot, in every part
    # A large database comes in parts (a record stays well under Kafka's 1 MiB): this is part `part` of
    # `parts`, the packages in key order; the processor decides once it holds them all.
    part: int = Field(default=0, ge=0)
    parts: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _part_in_range(self) -> InstalledSourcesObserved:
        if self.part >= self.parts:
            raise ValueError(f"part {self.part} of {self.parts}")
        return self

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return utc(v)


@register
class VulnerabilityPublished(EventPayload):
    """An advisory arrived or changed (a re-import with other content)."""

    TYPE: ClassVar[str] = "VulnerabilityPublished"
    VERSION: ClassVar[int] = 1

    id: str
    feed: AdvisoryFeed
    aliases: tuple[str, ...] = ()
    summary: str | None = None
    severity: Severity | None = None
    cvss: float | None = None
    published: datetime | None = None
    modified: datetime | None = None
    withdrawn: bool = False
    # "ecosystem/name" of each affected package.
    packages: tuple[str, ...] = ()


FindingReason = Literal["installed", "upgraded", "downgraded", "advisory", "removed"]


class FindingEvent(EventPayload):
    """A vulnerability and one installed package on one host."""

    VERSION: ClassVar[int] = 1

    vulnerability: str
    software: str  # Software node key
    # "vulnerability|software": the finding's identity on its host (alerts de-duplicate on it).
    finding: str
    package: str
    source: str
    version: str  # the installed version now (the removed one for reason "removed")
    release: str | None = None
    fixed_version: str | None = None
    severity: Severity | None = None
    cvss: float | None = None
    # What made the difference: a package change (installed/upgraded/downgraded/removed) or new data.
    reason: FindingReason


@register
class VulnerabilityFound(FindingEvent):
    TYPE: ClassVar[str] = "VulnerabilityFound"


@register
class VulnerabilityFixed(FindingEvent):
    """The package no longer matches: upgraded to the fixed version (a security update installed),
    removed, or the advisory changed so that it no longer applies."""

    TYPE: ClassVar[str] = "VulnerabilityFixed"


FINDING_EVENTS: tuple[type[FindingEvent], ...] = (VulnerabilityFound, VulnerabilityFixed)


# --- topics and graph ----------------------------------------------------------------------------------

RAW_VULNERABILITIES = Topic(
    "watchman.raw.vulnerabilities",
    # One partition: matching needs every advisory beside every host's packages in one table partition
    # (advisories are not per host). Advisories arrive by import, not as a stream: one is plenty.
    partitions=1,
    retention_days=30,
    retention_bytes=512 * MiB,
    description="AdvisoryObserved (one record of an imported OSV or Debian tracker file; key its id) and "
    "InstalledSourcesObserved (the package database with source packages; key host).",
)
EVENTS_VULNERABILITIES = Topic(
    "watchman.events.vulnerabilities",
    partitions=1,
    retention_days=None,
    description="VulnerabilityPublished/Found/Fixed; key the vulnerability id or finding. Kept forever.",
)
VULNERABILITY = NodeLabel(
    "Vulnerability",
    key="id",
    props=(
        Prop("id", "STRING"),
        Prop("feed", "STRING", "latest"),
        Prop("aliases", "STRING", "latest"),  # comma-separated
        Prop("severity", "STRING", "latest"),
        Prop("cvss", "DOUBLE", "latest"),
        Prop("summary", "STRING", "latest"),
        Prop("published", "TIMESTAMP", "latest"),
        Prop("modified", "TIMESTAMP", "latest"),
        Prop("withdrawn", "BOOLEAN", "latest"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="One advisory (OSV id such as DSA-5514-1, or a CVE id from the Debian tracker); key its id.",
)
FINDING = NodeLabel(
    "Finding",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("vulnerability", "STRING"),
        Prop("software", "STRING"),
        Prop("package", "STRING"),
        Prop("source", "STRING"),
        Prop("state", "STRING", "latest"),  # open | fixed
        Prop("version", "STRING", "latest"),
        Prop("fixed_version", "STRING", "latest"),
        Prop("severity", "STRING", "latest"),
        Prop("cvss", "DOUBLE", "latest"),
        Prop("reason", "STRING", "latest"),
        Prop("found_at", "TIMESTAMP", "min"),
        Prop("fixed_at", "TIMESTAMP", "latest"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="A vulnerability matched to one installed package on one host, open or fixed (since "
    "when); key host/vulnerability/software key.",
)
AFFECTS = RelType(
    "AFFECTS",
    (("Vulnerability", "Software"),),
    # Kept once made (the store has no relationship deletion): the Finding's state says whether it
    # still applies.
    description="The vulnerability matched this installed package (see the Finding for its state).",
)
FINDING_OF = RelType(
    "FINDING_OF", (("Finding", "Vulnerability"),), description="The finding is of this vulnerability."
)
FINDING_ON = RelType("FINDING_ON", (("Finding", "Software"),), description="The finding is on this package.")
ACTED_ON = RelType("ACTED_ON", (("Event", "Vulnerability"), ("Event", "Finding")))

TOPICS: tuple[Topic, ...] = (RAW_VULNERABILITIES, EVENTS_VULNERABILITIES)
NODES: tuple[NodeLabel, ...] = (VULNERABILITY, FINDING)
RELS: tuple[RelType, ...] = (AFFECTS, FINDING_OF, FINDING_ON, ACTED_ON)

ALERTS: tuple[AlertKind, ...] = (
    AlertKind(
        name="CriticalVulnerability",
        fires_on="VulnerabilityFound",
        when=(("severity", "critical"),),
        resolves_on=("VulnerabilityFixed",),
        severity="critical",
        subject="finding",
        summary="{vulnerability} (critical) affects {package} {version}; fixed in {fixed_version}",
        ends_after_minutes=None,
    ),
)
