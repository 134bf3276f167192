"""The unit inventory over real D-Bus: systemd's ListUnits (a stand-in on a private dbus-daemon, see
tests/support/systemd_dbus.py) → UnitStateObserved → ServiceStateObserved → Service.state in the graph."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from producers.services.units import UnitInventory
from schemas.events.services import UnitStateObserved
from tests.support.instance import Instance
from tests.support.systemd_dbus import Manager, running_manager

UNITS = [
    ("nginx.service", "A high performance web server", "loaded", "active", "running"),
    ("backup.service", "Nightly backup", "loaded", "failed", "failed"),
    ("cron.service", "Regular background program processing daemon", "loaded", "active", "running"),
    ("apt-daily.timer", "Daily apt download activities", "loaded", "active", "waiting"),
]


@pytest.fixture(scope="module")
def manager() -> Iterator[Manager]:
    with running_manager(UNITS) as m:
        yield m


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _states(poll_observations: list) -> dict[str, tuple[str, bool]]:  # type: ignore[type-arg]
    out = {}
    for env in poll_observations:
        obs = UnitStateObserved.model_validate(env.payload)
        out[obs.unit] = (obs.active_state, obs.gone)
    return out


def test_inventory_reports_every_unit_then_only_changes(manager: Manager) -> None:
    manager.units = list(UNITS)
    clock = Clock()
    src = UnitInventory("h1", bus=manager.address, interval=60, clock=clock)
    first = src.poll(1000)
    assert _states(first.observations) == {
        "nginx.service": ("active", False),
        "backup.service": ("failed", False),
        "cron.service": ("active", False),
        "apt-daily.timer": ("active", False),
    }
    assert first.cursor is not None
    # Before the interval: the manager is not asked again.
    calls = manager.calls
    assert src.poll(1000).observations == [] and manager.calls == calls
    # Nothing changed: asked, nothing reported.
    clock.now += timedelta(seconds=61)
    assert src.poll(1000).observations == [] and manager.calls == calls + 1
    # nginx went down without a journal line, cron was unloaded.
    manager.units = [
        ("nginx.service", "A high performance web server", "loaded", "inactive", "dead"),
        UNITS[1],
        UNITS[3],
    ]
    src.scan_now()
    changed = src.poll(1000)
    assert _states(changed.observations) == {"nginx.service": ("inactive", False), "cron.service": ("", True)}
    # A restarted producer starts from its cursor: only what changed while it was down.
    again = UnitInventory("h1", changed.cursor, bus=manager.address, clock=clock)
    manager.units = [UNITS[0], UNITS[1], UNITS[3]]
    assert _states(again.poll(1000).observations) == {"nginx.service": ("active", False)}


def test_no_bus_is_a_warning_not_a_crash(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = UnitInventory("h1", bus=f"unix:path={tmp_path / 'no-bus'}", interval=60)
    assert src.poll(1000).observations == []
    assert "cannot list systemd units over D-Bus" in caplog.text
    caplog.clear()
    src.scan_now()
    assert src.poll(1000).observations == []
    assert caplog.text == ""  # said once, not at every rescan


def test_a_bus_without_systemd_is_a_warning(
    manager: Manager, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bus answers, but nobody owns the name asked for: D-Bus's own error, said, no crash.
    from producers.services import units

    monkeypatch.setattr(units, "SYSTEMD", "org.example.nobody")
    src = UnitInventory("h1", bus=manager.address)
    assert src.poll(1000).observations == []
    assert "org.freedesktop.DBus.Error.ServiceUnknown" in caplog.text


def test_a_unit_failed_before_the_daemon_started_is_in_the_graph(manager: Manager, tmp_path: Path) -> None:
    manager.units = list(UNITS)
    inst = Instance(tmp_path / "w")
    inst.write_config()
    with inst.config.open("a") as f:
        f.write("[services]\nmetrics_enabled = false\nunits_enabled = true\n")
        f.write(f'units_bus = "{manager.address}"\n')
    inst.cli("run", "--once")
    rows = inst.query(
        "MATCH (s:Service)-[:RUNS_ON]->(:Host {name: 'testhost'}) RETURN s.name AS name, s.state AS state "
        "ORDER BY name"
    )
    assert rows == [
        {"name": "apt-daily.timer", "state": "active"},
        {"name": "backup.service", "state": "failed"},
        {"name": "cron.service", "state": "active"},
        {"name": "nginx.service", "state": "active"},
    ]
    # Then nginx goes down quietly; the next start's inventory tells it, once.
    manager.units = [("nginx.service", "web", "loaded", "inactive", "dead"), *UNITS[1:]]
    inst.cli("run", "--once")
    inst.cli("run", "--once")
    events = inst.query(
        "MATCH (e:Event {type: 'ServiceStateObserved'})-[:ACTED_ON]->(s:Service {name: 'nginx.service'}) "
        "RETURN e.summary AS summary ORDER BY e.ts"
    )
    assert [e["summary"] for e in events] == [
        "state nginx.service: active (running)",
        "state nginx.service: inactive (dead)",
    ]
    state = inst.query("MATCH (s:Service {name: 'nginx.service'}) RETURN s.state AS state")
    assert state == [{"state": "inactive"}]
