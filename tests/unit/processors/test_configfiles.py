"""The configfiles processor: observations -> domain events, conffile states, deterministic ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from processors.configfiles import ROUTES
from processors.tables import MemoryTable
from schemas.envelope import Envelope, event_id
from schemas.events.base import EventPayload
from schemas.events.configfiles import (
    ConffileObserved,
    ConfigDriftObserved,
    ConfigFileObserved,
    ConfigValidationObserved,
)

TS = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
ROUTE = ROUTES[0]


def raw(payload: EventPayload, n: int) -> bytes:
    return Envelope(
        id=event_id("raw", n),
        type=payload.TYPE,
        schema_version=payload.VERSION,
        host="h",
        source="configfiles",
        ts=TS,
        observed_at=TS,
        subject=str(getattr(payload, "path", "")),
        payload=payload.model_dump(mode="json"),
    ).to_json()


def decide(payload: EventPayload, n: int, table: MemoryTable) -> list[tuple[str, dict[str, Any]]]:
    return [(e.type, e.payload) for e in ROUTE.handle(raw(payload, n), table)]


def test_file_changes() -> None:
    t = MemoryTable()
    base = {"ts": TS, "path": "/etc/hosts", "via": "scan"}
    assert (
        decide(ConfigFileObserved(**base, change="added", sha256="a"), 1, t)[0][0] == "ConfigFileDiscovered"
    )
    ((kind, p),) = decide(
        ConfigFileObserved(
            **base,
            change="changed",
            sha256="b",
            old_sha256="a",
            lines_added=1,
            lines_removed=0,
            caused_by="rollback:x",
        ),
        2,
        t,
    )
    assert kind == "ConfigFileChanged" and p["old_sha256"] == "a" and p["caused_by"] == "rollback:x"
    assert (
        decide(ConfigFileObserved(**base, change="removed", old_sha256="b"), 3, t)[0][0]
        == "ConfigFileRemoved"
    )


def test_validation_and_drift() -> None:
    t = MemoryTable()
    v = ConfigValidationObserved(
        ts=TS, path="/etc/nginx/nginx.conf", checker="nginx -t", ok=False, message="bad"
    )
    assert decide(v, 1, t) == [
        (
            "ConfigInvalid",
            {
                "ts": "2026-12-04T12:00:00Z",
                "path": "/etc/nginx/nginx.conf",
                "sha256": None,
                "checker": "nginx -t",
                "message": "bad",
            },
        )
    ]
    ok = v.model_copy(update={"ok": True, "message": ""})
    assert decide(ok, 2, t)[0][0] == "ConfigValidated"
    d = ConfigDriftObserved(ts=TS, path="/etc/x", desired_from="template", drifted=True, diff="-a\n+b")
    assert decide(d, 3, t)[0][0] == "ConfigDrifted"
    assert decide(d.model_copy(update={"drifted": False}), 4, t)[0][0] == "ConfigDriftResolved"


def test_conffiles_unchanged_first_sight_is_silent_and_restore_is_told() -> None:
    t = MemoryTable()
    base = {"ts": TS, "path": "/etc/adduser.conf", "package": "adduser", "default_digest": "x"}
    assert decide(ConffileObserved(**base, actual_digest="x", modified=False), 1, t) == []
    assert (
        decide(ConffileObserved(**base, actual_digest="y", modified=True), 2, t)[0][0] == "ConffileModified"
    )
    assert (
        decide(ConffileObserved(**base, actual_digest="x", modified=False), 3, t)[0][0] == "ConffileRestored"
    )
    # a redelivered record decides what it decided the first time, under the same id
    again = ROUTE.handle(raw(ConffileObserved(**base, actual_digest="x", modified=False), 3), t)
    assert [e.type for e in again] == ["ConffileRestored"]


def test_ids_are_deterministic() -> None:
    obs = ConfigFileObserved(ts=TS, path="/etc/hosts", change="added", via="initial", sha256="a")
    a = ROUTE.handle(raw(obs, 1), MemoryTable())
    b = ROUTE.handle(raw(obs, 1), MemoryTable())
    assert [e.id for e in a] == [e.id for e in b]
    assert a[0].id != ROUTE.handle(raw(obs, 2), MemoryTable())[0].id
