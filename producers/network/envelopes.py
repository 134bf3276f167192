"""Wrap network state changes into raw-topic envelopes, with ids that a restart reproduces (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

import orjson

from producers.snapshot import Change
from schemas.envelope import Envelope, event_id
from schemas.events.network import NetworkKind, NetworkStateObserved, ObservedVia

SEP = "|"


def subject_for(kind: str, key: str, netns: str | None) -> str:
    """The partition subject. An interface and its addresses share one (the interface name), so the
    processor sees them in order and keeps an interface's address list in one table partition; all DNS
    scopes share one, so the processor can tell which scopes still use a server."""
    prefix = f"netns:{netns}/" if netns else ""
    if kind == "interface":
        return prefix + key
    if kind == "address":
        return prefix + key.split("/", 1)[0]
    if kind in ("dns", "firewall", "external_ip"):
        return prefix + kind
    return f"{prefix}{kind}/{key}"


def observation(
    host: str,
    source: str,
    seq: int,
    kind: str,
    key: str,
    present: bool,
    item: dict[str, Any],
    *,
    netns: str | None,
    via: ObservedVia,
    now: datetime,
) -> Envelope:
    """`seq` is the source's running count of observations, saved in its cursor in the same transaction
    as the records: the same state change after a restart gets the same id, and an interface going up
    a second time gets a new one."""
    obs = NetworkStateObserved(
        ts=now, kind=cast(NetworkKind, kind), key=key, present=present, item=item, netns=netns, via=via
    )
    content = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
    return Envelope(
        id=event_id("raw", host, source, seq, kind, key, present, content.decode()),
        type=obs.TYPE,
        schema_version=obs.VERSION,
        host=host,
        source=source,
        ts=now,
        observed_at=now,
        subject=subject_for(kind, key, netns),
        payload=obs.model_dump(mode="json"),
    )


def from_changes(
    host: str,
    source: str,
    seq: int,
    changes: Iterable[Change],
    *,
    netns: str | None,
    via: ObservedVia,
    now: datetime,
) -> list[Envelope]:
    """One envelope per snapshot change (keys "<kind>|<key>"), numbered from seq + 1."""
    out: list[Envelope] = []
    for change in changes:
        kind, _, key = change.key.partition(SEP)
        present = change.kind != "removed"
        item = change.after if present else change.before
        seq += 1
        out.append(observation(host, source, seq, kind, key, present, item, netns=netns, via=via, now=now))
    return out
