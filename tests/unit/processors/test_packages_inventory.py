"""The inventory decision: the package database's word against the log history's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from processors.packages import decide, decide_inventory
from processors.tables import MemoryTable
from producers.packages.envelopes import inventory_envelope, raw_envelope
from schemas.envelope import Envelope
from schemas.events import (
    PackageChangeObserved,
    PackageInventoried,
    PackageObservedInstalled,
    PackageObservedRemoved,
    decode_payload,
)

T0 = datetime(2026, 11, 1, 10, tzinfo=UTC)
SNAP = datetime(2026, 12, 4, 12, tzinfo=UTC)


def logged(action: str, version: str, ts: datetime = T0, **kw: Any) -> PackageChangeObserved:
    base: dict[str, Any] = {"package": "bash", "arch": "amd64", "native_arch": "amd64"}
    base["old_version" if action in ("remove", "purge") else "new_version"] = version
    base.update(kw)
    return PackageChangeObserved(ts=ts, action=action, source="dpkg", **base)


def listed(state: str, version: str | None, ts: datetime = SNAP, **kw: Any) -> PackageInventoried:
    base: dict[str, Any] = {"package": "bash", "arch": "amd64", "native_arch": "amd64"}
    base.update(kw)
    return PackageInventoried(ts=ts, source="dpkg-status", state=state, new_version=version, **base)


def run(table: MemoryTable, *items: PackageChangeObserved | PackageInventoried) -> list[Envelope]:
    out: list[Envelope] = []
    for item in items:
        if isinstance(item, PackageInventoried):
            out.extend(decide_inventory(inventory_envelope("h1", item, SNAP), item, table))
        else:
            out.extend(decide(raw_envelope("h1", item, SNAP), item, table))
    return out


def test_a_package_without_history_is_observed_installed_never_a_fresh_install() -> None:
    (event,) = run(MemoryTable(), listed("installed", "5.2.15-2+b7"))
    p = decode_payload(event.type, event.schema_version, event.payload)
    assert isinstance(p, PackageObservedInstalled)
    assert (p.new_version, p.known_version, p.known_state, p.state) == (
        "5.2.15-2+b7",
        None,
        None,
        "installed",
    )
    assert event.ts == SNAP and p.action == "observed-installed"


def test_a_package_the_history_explains_gives_nothing() -> None:
    events = run(MemoryTable(), logged("install", "5.2-1"), listed("installed", "5.2-1"))
    assert [e.type for e in events] == ["PackageInstalled"]


def test_an_architecture_all_package_is_the_same_package_in_the_log_and_the_database() -> None:
    events = run(
        MemoryTable(),
        logged("install", "2025b", arch="all"),
        listed("installed", "2025b", arch="all"),
    )
    assert [e.type for e in events] == ["PackageInstalled"]


def test_a_version_the_history_does_not_know_is_observed_with_the_known_one() -> None:
    events = run(MemoryTable(), logged("install", "5.2-1"), listed("installed", "5.2-3"))
    p = decode_payload(events[-1].type, events[-1].schema_version, events[-1].payload)
    assert isinstance(p, PackageObservedInstalled)
    assert (p.new_version, p.old_version, p.known_version, p.known_state) == (
        "5.2-3",
        "5.2-1",
        "5.2-1",
        "installed",
    )


def test_a_package_the_history_calls_installed_is_removed_only_when_the_database_says_so() -> None:
    table = MemoryTable()
    assert [e.type for e in run(table, logged("install", "5.2-1"), listed("installed", "5.2-1"))] == [
        "PackageInstalled"
    ]
    (gone,) = run(table, listed("purged", None, ts=SNAP + timedelta(hours=1), old_version="5.2-1"))
    p = decode_payload(gone.type, gone.schema_version, gone.payload)
    assert isinstance(p, PackageObservedRemoved)
    assert (p.state, p.old_version, p.known_state) == ("purged", "5.2-1", "installed")


def test_config_files_left_behind_is_removed_and_agrees_with_a_logged_remove() -> None:
    table = MemoryTable()
    events = run(table, logged("install", "5.2-1"), logged("remove", "5.2-1", ts=T0 + timedelta(days=1)))
    assert run(table, listed("removed", "5.2-1")) == []
    assert len(events) == 2
    (never_logged,) = run(MemoryTable(), listed("removed", "1.22.1-9", package="nginx"))
    p = decode_payload(never_logged.type, never_logged.schema_version, never_logged.payload)
    assert isinstance(p, PackageObservedRemoved) and p.old_version == "1.22.1-9"


def test_a_purge_of_an_unknown_package_says_nothing() -> None:
    assert run(MemoryTable(), listed("purged", None, old_version="1")) == []


def test_a_change_logged_after_the_snapshot_wins_over_it() -> None:
    later = SNAP + timedelta(minutes=5)
    events = run(MemoryTable(), logged("upgrade", "5.2-4", ts=later), listed("installed", "5.2-3"))
    assert [e.type for e in events] == ["PackageUpgraded"]


def test_a_log_line_older_than_the_snapshot_does_not_undo_what_the_database_said() -> None:
    """A change read from the log after the snapshot that already showed it (a race in live following):
    the event is kept, and a later snapshot that agrees with the database stays quiet."""
    table = MemoryTable()
    first = run(table, listed("installed", "5.2-3"))
    late = run(table, logged("upgrade", "5.2-3", ts=SNAP - timedelta(seconds=1), old_version="5.2-1"))
    again = run(table, listed("installed", "5.2-3", ts=SNAP + timedelta(hours=1)))
    assert [e.type for e in first + late] == ["PackageObservedInstalled", "PackageUpgraded"]
    assert again == []


def test_a_record_delivered_again_re_emits_its_event_under_the_same_id() -> None:
    table = MemoryTable()
    item = listed("installed", "5.2-3")
    (first,) = run(table, item)
    (again,) = run(table, item)
    assert again == first


def test_ids_are_deterministic() -> None:
    a = run(MemoryTable(), logged("install", "5.2-1"), listed("installed", "5.2-3"))
    b = run(MemoryTable(), logged("install", "5.2-1"), listed("installed", "5.2-3"))
    assert [e.id for e in a] == [e.id for e in b]


def test_a_removed_package_dpkg_dropped_from_its_database_agrees_with_the_history() -> None:
    """dpkg forgets a package without conffiles on `remove` and logs no purge: not a discrepancy."""
    table = MemoryTable()
    run(table, logged("install", "5.2-1"), logged("remove", "5.2-1", ts=T0 + timedelta(days=1)))
    assert run(table, listed("purged", None)) == []
