"""A private D-Bus bus (Debian's real dbus-daemon) with a stand-in for systemd's service manager on it.

systemd is not PID 1 in these test machines, so nothing answers org.freedesktop.systemd1 on a system bus.
`running_manager()` starts a real `dbus-daemon` on a socket in a temporary directory and connects a
stand-in that owns the name `org.freedesktop.systemd1` and answers
`org.freedesktop.systemd1.Manager.ListUnits` with the signature systemd documents
(org.freedesktop.systemd1(5): `a(ssssssouso)`: name, description, load, active and sub state,
following, unit path, job id, job type, job path), over the real D-Bus wire protocol (jeepney). Only
that one method is served; any other call gets the error systemd would give for an unknown method.
The units it lists are `manager.units`, which a test changes between inventories.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from jeepney import HeaderFields, MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection

NAME = "org.freedesktop.systemd1"
PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"

Unit = tuple[str, str, str, str, str]  # name, description, load, active, sub


def unit_path(name: str) -> str:
    """systemd's object path for a unit: bytes other than [A-Za-z0-9] escaped as _XX."""
    escaped = "".join(c if c.isalnum() and c.isascii() else f"_{ord(c):02x}" for c in name)
    return f"{PATH}/unit/{escaped}"


@dataclass
class Manager:
    address: str
    units: list[Unit] = field(default_factory=list)
    calls: int = 0


def _serve(conn: DBusConnection, manager: Manager, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            msg = conn.receive(timeout=0.2)
        except TimeoutError:
            continue
        except (OSError, ConnectionError):
            return
        h = msg.header
        if h.message_type != MessageType.method_call:
            continue
        member = h.fields.get(HeaderFields.member)
        interface = h.fields.get(HeaderFields.interface)
        if member == "ListUnits" and interface in (MANAGER, None):
            manager.calls += 1
            body = [(n, d, ld, a, s, "", unit_path(n), 0, "", "/") for n, d, ld, a, s in manager.units]
            conn.send(new_method_return(msg, "a(ssssssouso)", (body,)))
        else:
            conn.send(
                new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", "s", (f"Unknown method {member}",))
            )


@contextlib.contextmanager
def running_manager(units: list[Unit] | None = None) -> Iterator[Manager]:
    if shutil.which("dbus-daemon") is None:
        raise RuntimeError("dbus-daemon missing: scripts/dev-deps.sh install (dbus)")
    root = Path(tempfile.mkdtemp(prefix="wm-dbus-"))
    address = f"unix:path={root / 'bus'}"
    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--nopidfile", f"--address={address}", "--print-address"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stop = threading.Event()
    thread: threading.Thread | None = None
    conn: DBusConnection | None = None
    try:
        assert daemon.stdout is not None
        printed = daemon.stdout.readline().strip()
        if not printed:
            raise RuntimeError(f"dbus-daemon did not start: {daemon.stderr.read() if daemon.stderr else ''}")
        manager = Manager(address=printed, units=list(units or []))
        conn = open_dbus_connection(bus=printed)
        reply = conn.send_and_get_reply(message_bus.RequestName(NAME), timeout=10)
        if reply.body[0] != 1:  # DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER
            raise RuntimeError(f"could not own {NAME}: {reply.body}")
        thread = threading.Thread(target=_serve, args=(conn, manager, stop), daemon=True)
        thread.start()
        time.sleep(0.05)
        yield manager
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=5)
        if conn is not None:
            conn.close()
        daemon.terminate()
        try:
            daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        shutil.rmtree(root, ignore_errors=True)
