"""The unit inventory (I/O): every loaded unit's state from systemd's D-Bus API, at start and each rescan.

The journal tells what happens to units from now on (and a backfill window before); it cannot tell that
a unit failed last week and stayed failed, or went down without a line. The service manager can: its
`org.freedesktop.systemd1.Manager.ListUnits` method answers what `systemctl list-units` prints. The
source asks it at start and every `interval` (and on TriggerScan), diffs the answer against the last one
(its cursor, producers/snapshot.py) and reports what changed as UnitStateObserved records.

D-Bus through jeepney: pure Python, maintained, no C build (dbus-python needs libdbus headers and a
GLib main loop; dbus-fast brings Cython for an API we call once an hour).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from producers import snapshot
from producers.source import Poll
from schemas.envelope import Envelope, event_id
from schemas.events.services import RAW_SERVICES, UnitStateObserved

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
SOURCE = "services.units"
SYSTEMD = "org.freedesktop.systemd1"
MANAGER_PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
# ListUnits answers a(ssssssouso): name, description, load state, active state, sub state, following,
# unit object path, job id, job type, job object path.
LIST_UNITS_SIGNATURE = "a(ssssssouso)"
MAX_TEXT = 512


def _now() -> datetime:
    return datetime.now(UTC)


def parse_units(body: Any) -> tuple[dict[str, dict[str, str]], list[str]]:
    """ListUnits' reply body -> ({unit: {load, active, sub, description}}, errors). Pure; never raises:
    an entry of the wrong shape is an error string, the rest are kept."""
    items: dict[str, dict[str, str]] = {}
    errors: list[str] = []
    units = body[0] if isinstance(body, tuple | list) and body else None
    if not isinstance(units, list | tuple):
        return items, [f"ListUnits answered {type(units).__name__}, not an array of units"]
    for i, entry in enumerate(units):
        if (
            not isinstance(entry, tuple | list)
            or len(entry) < 5
            or not all(isinstance(x, str) for x in entry[:5])
            or not entry[0]
        ):
            errors.append(f"unit entry {i} is not (name, description, load, active, sub...): {entry!r:.200}")
            continue
        name, description, load, active, sub = (str(x)[:MAX_TEXT] for x in entry[:5])
        items[name] = {"load": load, "active": active, "sub": sub, "description": description}
    return items, errors


def observations(changes: Sequence[snapshot.Change], ts: datetime) -> list[UnitStateObserved]:
    out: list[UnitStateObserved] = []
    for change in changes:
        if change.kind == "removed":
            before = change.before or {}
            out.append(
                UnitStateObserved(
                    ts=ts, unit=change.key, description=str(before.get("description", "")), gone=True
                )
            )
            continue
        after = change.after
        out.append(
            UnitStateObserved(
                ts=ts,
                unit=change.key,
                load_state=after["load"],
                active_state=after["active"],
                sub_state=after["sub"],
                description=after["description"],
            )
        )
    return out


def list_units(bus: str, timeout: float) -> Any:
    """Call ListUnits on `bus`: "SYSTEM", or an address such as unix:path=/run/dbus/system_bus_socket."""
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection
    from jeepney.wrappers import unwrap_msg

    manager = DBusAddress(MANAGER_PATH, bus_name=SYSTEMD, interface=MANAGER)
    with open_dbus_connection(bus=bus) as conn:
        reply = conn.send_and_get_reply(new_method_call(manager, "ListUnits"), timeout=timeout)
    # An error reply (no such name, access denied) raises DBusErrorResponse with D-Bus's own message.
    return unwrap_msg(reply)


class UnitInventory:
    """Snapshot the service manager's units every `interval` seconds (and on TriggerScan)."""

    def __init__(
        self,
        host: str,
        cursor: dict[str, Any] | None = None,
        *,
        bus: str = "SYSTEM",
        interval: float = 3600.0,
        timeout: float = 10.0,
        clock: Clock = _now,
    ) -> None:
        self.host = host
        self.topic = RAW_SERVICES
        self.name = "services:units"
        self.bus = bus
        self.interval = interval
        self.timeout = timeout
        self._clock = clock
        self._last = snapshot.from_cursor(cursor)
        self._next_at: datetime | None = None
        self._failed = False

    def scan_now(self) -> None:
        self._next_at = None

    def poll(self, max_lines: int) -> Poll:
        now = self._clock()
        if self._next_at is not None and now < self._next_at:
            return Poll()
        self._next_at = now + timedelta(seconds=self.interval)
        try:
            body = list_units(self.bus, self.timeout)
        except Exception as exc:  # no bus, no systemd, access denied, timeout: say so once, retry later
            if not self._failed:
                log.warning("cannot list systemd units over D-Bus (%s): %s", self.bus, exc)
            self._failed = True
            return Poll()
        self._failed = False
        items, errors = parse_units(body)
        for e in errors:
            log.warning("systemd ListUnits: %s", e)
        if errors and not items:
            return Poll()
        if self._last is not None and snapshot.digest(items) == snapshot.digest(self._last):
            return Poll()
        found = observations(snapshot.diff(self._last, items), now)
        self._last = items
        return Poll(
            observations=[raw_envelope(self.host, obs, now) for obs in found],
            cursor=snapshot.to_cursor(items),
            lines=len(found),
        )

    def close(self) -> None:
        pass


def raw_envelope(host: str, obs: UnitStateObserved, observed_at: datetime) -> Envelope:
    return Envelope(
        id=event_id("raw", host, SOURCE, obs.unit, obs.ts.isoformat()),
        type=obs.TYPE,
        schema_version=obs.VERSION,
        host=host,
        source=SOURCE,
        ts=obs.ts,
        observed_at=observed_at,
        subject=obs.unit,
        payload=obs.model_dump(mode="json"),
    )
