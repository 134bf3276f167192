"""Envelope, event registry and upcasting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from pydantic import ValidationError

from schemas.envelope import Envelope, event_id
from schemas.events import (
    PACKAGE_EVENT_BY_ACTION,
    PackageInstalled,
    PackagePurged,
    UnknownEventType,
    decode_payload,
    event_types,
)
from schemas.topics import DOMAIN_TOPICS, TOPICS, topic


def test_event_id_is_deterministic_and_sensitive() -> None:
    assert event_id("apt", "h", 1) == event_id("apt", "h", 1)
    assert event_id("apt", "h", 1) != event_id("apt", "h", 2)
    assert event_id("ab", "c") != event_id("a", "bc"), "parts must be delimited"


def test_envelope_round_trips_through_json_and_normalises_to_utc() -> None:
    cet = timezone(timedelta(hours=1))
    env = Envelope(
        id="x",
        type="PackageInstalled",
        schema_version=2,
        host="h",
        source="s",
        ts=datetime(2024, 1, 1, 11, 0, tzinfo=cet),
        observed_at=datetime(2024, 1, 1, 10, 0),
        subject="bash",
        payload={"a": 1},
    )
    assert env.ts == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
    assert env.observed_at.tzinfo is not None
    again = Envelope.from_json(env.to_json())
    assert again == env
    assert env.key == "h/bash"
    # readable without our code: plain JSON with ISO times
    raw = orjson.loads(env.to_json())
    assert raw["ts"] == "2024-01-01T10:00:00Z"


def test_v1_event_is_read_through_the_upcaster() -> None:
    v1 = {"name": "curl", "version": "8.5.0-2", "source": "apt", "arch": "amd64"}
    p = decode_payload("PackageInstalled", 1, v1)
    assert isinstance(p, PackageInstalled)
    assert (p.package, p.new_version, p.old_version) == ("curl", "8.5.0-2", None)
    assert p.sources == ("apt",)
    assert p.ecosystem == "deb"
    removed = decode_payload("PackagePurged", 1, {"name": "curl", "version": "8.5.0-2", "source": "dnf"})
    assert isinstance(removed, PackagePurged)
    assert removed.old_version == "8.5.0-2"
    assert removed.ecosystem == "rpm"


def test_current_version_validates_without_upcasting() -> None:
    p = decode_payload(
        "PackageInstalled", 2, {"package": "x", "action": "install", "ecosystem": "deb", "sources": ["dpkg"]}
    )
    assert p.package == "x"


def test_unknown_types_and_future_versions_are_clear_errors() -> None:
    with pytest.raises(UnknownEventType, match="unknown event type"):
        decode_payload("NoSuchEvent", 1, {})
    with pytest.raises(UnknownEventType, match="newer than this build"):
        decode_payload("PackageInstalled", 99, {})


def test_payloads_are_frozen_and_strict() -> None:
    p = decode_payload("PackageInstalled", 1, {"name": "a", "version": "1"})
    with pytest.raises(ValidationError):
        p.package = "b"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        decode_payload(
            "PackageInstalled",
            2,
            {"package": "x", "action": "install", "ecosystem": "deb", "sources": [], "surprise": 1},
        )


def test_every_action_has_a_registered_past_tense_event() -> None:
    types = event_types()
    for action, cls in PACKAGE_EVENT_BY_ACTION.items():
        assert types[cls.TYPE] is cls
        assert cls.TYPE.startswith("Package") and cls.TYPE.endswith("ed"), action


def test_topic_registry() -> None:
    assert all(t.retention_days is None for t in DOMAIN_TOPICS), "domain topics are kept forever"
    assert topic("watchman.dlq") is TOPICS["watchman.dlq"]
    with pytest.raises(KeyError, match="known:"):
        topic("nope")
