"""The unit inventory's pure parts: ListUnits' reply parsed, changes into observations, decisions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from processors.services import decide_unit_state
from processors.tables import MemoryTable
from producers import snapshot
from producers.services.units import observations, parse_units, raw_envelope
from schemas.events.services import ServiceStateObserved, UnitStateObserved

TS = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def entry(name: str, active: str = "active", sub: str = "running") -> tuple[Any, ...]:
    return (name, "desc", "loaded", active, sub, "", f"/org/freedesktop/systemd1/unit/{name}", 0, "", "/")


def test_parse_keeps_good_entries_and_names_bad_ones() -> None:
    items, errors = parse_units(([entry("a.service"), ("short",), entry(""), entry("b.timer", "failed")],))
    assert items == {
        "a.service": {"load": "loaded", "active": "active", "sub": "running", "description": "desc"},
        "b.timer": {"load": "loaded", "active": "failed", "sub": "running", "description": "desc"},
    }
    assert len(errors) == 2


@given(st.recursive(st.none() | st.text() | st.integers(), lambda c: st.lists(c) | st.tuples(c, c)))
def test_parse_never_raises(body: Any) -> None:
    items, errors = parse_units(body)
    assert isinstance(items, dict) and isinstance(errors, list)


def _decide(table: MemoryTable, obs: UnitStateObserved) -> list[ServiceStateObserved]:
    env = raw_envelope("h", obs, TS)
    return [ServiceStateObserved.model_validate(e.payload) for e in decide_unit_state(env, obs, table)]


def test_decisions_follow_state_changes_and_are_idempotent() -> None:
    table = MemoryTable()
    first = observations(snapshot.diff(None, parse_units(([entry("x.service", "failed", "failed")],))[0]), TS)
    out = _decide(table, first[0])
    assert [(e.state, e.previous) for e in out] == [("failed", None)]
    # The same record again (a replay, a redelivery): the same decision, nothing new.
    env = raw_envelope("h", first[0], TS)
    assert decide_unit_state(env, first[0], table) == decide_unit_state(env, first[0], table)
    gone = UnitStateObserved(ts=TS.replace(hour=11), unit="x.service", gone=True)
    decided = [(e.state, e.sub_state, e.previous) for e in _decide(table, gone)]
    assert decided == [("inactive", "dead", "failed")]
    again = UnitStateObserved(ts=TS.replace(hour=12), unit="x.service", gone=True)
    assert _decide(table, again) == []
