"""Wrap a parsed package change into the raw-topic envelope, with an id that re-reading reproduces."""

from __future__ import annotations

from datetime import datetime

from schemas.envelope import Envelope, event_id
from schemas.events import PackageChangeObserved, PackageInventoried


def raw_envelope(
    host: str, obs: PackageChangeObserved, observed_at: datetime, *, native_arch: str | None = None
) -> Envelope:
    """The id hashes the change's content, not the file offset, so a line read again from a rotated
    (renamed or compressed) copy of the log still gets the same id. `native_arch` (the host's, not
    part of the id) lets the graph tell a foreign-arch package from the host's own."""
    if native_arch is not None and obs.native_arch is None:
        obs = obs.model_copy(update={"native_arch": native_arch})
    content = (obs.ts.isoformat(), obs.action, obs.package, obs.arch, obs.old_version, obs.new_version)
    session = obs.session_start.isoformat() if obs.session_start else None
    return Envelope(
        id=event_id("raw", host, obs.source, *content),
        type=obs.TYPE,
        schema_version=obs.VERSION,
        host=host,
        source=obs.source,
        ts=obs.ts,
        observed_at=observed_at,
        subject=obs.package,
        correlation_id=event_id("session", host, obs.source, session) if session else None,
        payload=obs.model_dump(mode="json"),
    )


def inventory_envelope(host: str, obs: PackageInventoried, observed_at: datetime) -> Envelope:
    """A package database's word on one package, keyed by the package like the logs' changes (so both
    land in one partition, in the order they were read)."""
    content = (obs.ts.isoformat(), obs.state, obs.package, obs.arch, obs.old_version, obs.new_version)
    return Envelope(
        id=event_id("raw", host, obs.source, *content),
        type=obs.TYPE,
        schema_version=obs.VERSION,
        host=host,
        source=obs.source,
        ts=obs.ts,
        observed_at=observed_at,
        subject=obs.package,
        payload=obs.model_dump(mode="json"),
    )
