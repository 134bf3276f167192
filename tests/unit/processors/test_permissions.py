"""The permissions processor: a baseline, then one event per difference, in every role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from processors.registry import ROUTES
from processors.tables import MemoryTable
from schemas.envelope import Envelope
from schemas.events.permissions import FileState, PermissionScanObserved

ROUTE = next(r for r in ROUTES if r.name == "permissions")
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def scan(n: int, *files: FileState) -> Envelope:
    ts = T0 + timedelta(minutes=15 * n)
    obs = PermissionScanObserved(ts=ts, files=files, digest=str(n))
    return Envelope(
        id=f"r{n}",
        type=obs.TYPE,
        schema_version=1,
        host="h",
        source="t",
        ts=ts,
        observed_at=ts,
        subject="scan",
        payload=obs.model_dump(mode="json"),
    )


def f(path: str, mode: int, role: str = "sensitive", uid: int = 0, sha: str | None = "a") -> FileState:
    return FileState(path=path, role=role, uid=uid, gid=0, mode=mode, size=1, sha256=sha)  # type: ignore[arg-type]


def test_baseline_then_differences() -> None:
    t = MemoryTable()
    assert (
        ROUTE.handle(
            scan(0, f("/etc/sudoers", 0o440), f("/usr/bin/su", 0o4755, "setuid", sha=None)).to_json(), t
        )
        == []
    )
    out = ROUTE.handle(
        scan(
            1,
            f("/etc/sudoers", 0o440, uid=1000, sha="b"),
            f("/usr/bin/su", 0o4755, "setuid", sha=None),
            f("/usr/bin/newsu", 0o4755, "setuid", sha=None),
        ).to_json(),
        t,
    )
    assert [(e.type, e.payload["path"], e.payload["changes"]) for e in out] == [
        ("PermissionChanged", "/etc/sudoers", ["owner", "content"]),
        ("SetuidAdded", "/usr/bin/newsu", ["created"]),
    ]
    # Redelivery of the same scan decides nothing; the same ids for the same input.
    assert ROUTE.handle(scan(1, f("/etc/sudoers", 0o440)).to_json(), t) == []
    t2 = MemoryTable()
    ROUTE.handle(
        scan(0, f("/etc/sudoers", 0o440), f("/usr/bin/su", 0o4755, "setuid", sha=None)).to_json(), t2
    )
    again = ROUTE.handle(
        scan(
            1,
            f("/etc/sudoers", 0o440, uid=1000, sha="b"),
            f("/usr/bin/su", 0o4755, "setuid", sha=None),
            f("/usr/bin/newsu", 0o4755, "setuid", sha=None),
        ).to_json(),
        t2,
    )
    assert [e.id for e in again] == [e.id for e in out]


def test_a_setuid_bit_dropped_is_not_an_alert_and_a_removed_sensitive_file_is() -> None:
    t = MemoryTable()
    ROUTE.handle(scan(0, f("/etc/shadow", 0o640), f("/usr/bin/su", 0o4755, "setuid", sha=None)).to_json(), t)
    out = ROUTE.handle(scan(1).to_json(), t)
    assert [(e.type, e.payload["path"], e.payload["changes"], e.payload["mode"]) for e in out] == [
        ("PermissionChanged", "/etc/shadow", ["removed"], None)
    ]
