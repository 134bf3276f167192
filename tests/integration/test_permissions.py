"""Permission changes on real files: a temporary root with passwd, shadow, sudoers.d, an authorized_keys
and a system bin directory, whose modes, owners and contents the test changes between scans; the scanner,
the processor, a real LadybugDB and "Permission changes this week"."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from processors.registry import ROUTES
from processors.tables import MemoryTable
from producers.permissions.source import PermissionScanner
from projections.catalog import resolve
from projections.registry import PROJECTORS
from projections.stores.ladybug import LadybugStore
from schemas.envelope import Envelope
from schemas.events import decode_payload

ROUTE = next(r for r in ROUTES if r.name == "permissions")


def _root(tmp: Path) -> Path:
    root = tmp / "root"
    for d in ("etc/sudoers.d", "etc/ssh", "home/alice/.ssh", "usr/bin", "usr/lib/x"):
        (root / d).mkdir(parents=True)
    files = {
        "etc/passwd": ("root:x:0:0:root:/root:/bin/bash\n", 0o644),
        "etc/shadow": ("root:*:19000:0:99999:7:::\n", 0o640),
        "etc/sudoers.d/ops": ("%ops ALL=(ALL) ALL\n", 0o440),
        "etc/ssh/sshd_config": ("PermitRootLogin no\n", 0o644),
        "home/alice/.ssh/authorized_keys": ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA alice\n", 0o600),
        "usr/bin/su": ("\x7fELF", 0o4755),
        "usr/bin/ls": ("\x7fELF", 0o755),
        "usr/lib/x/helper": ("\x7fELF", 0o755),
    }
    for rel, (text, mode) in files.items():
        (root / rel).write_text(text)
        os.chmod(root / rel, mode)
    return root


def _scan(src: PermissionScanner, table: MemoryTable) -> list[Envelope]:
    src.scan_now()
    poll = src.poll(10)
    return [e for raw in poll.observations for e in ROUTE.handle(raw.to_json(), table)]


def test_changes_between_scans_become_events_and_the_weekly_question(tmp_path: Path) -> None:
    root = _root(tmp_path)
    src = PermissionScanner("h", root=root, system_dirs=("usr/bin", "usr/lib", "etc"))
    table = MemoryTable()
    baseline = src.scan()
    roles = {f.path: f.role for f in baseline}
    assert roles["/usr/bin/su"] == "setuid" and roles["/etc/shadow"] == "sensitive"
    assert "/usr/bin/ls" not in roles
    assert next(f for f in baseline if f.path == "/etc/passwd").sha256 is not None
    assert _scan(src, table) == []  # the first scan is the baseline
    assert _scan(src, table) == []  # nothing changed: not even sent

    os.chmod(root / "etc/shadow", 0o644)  # shadow readable by everyone
    os.chown(root / "etc/sudoers.d/ops", 1000, 1000)
    (root / "etc/ssh/sshd_config").write_text("PermitRootLogin yes\n")
    (root / "home/alice/.ssh/authorized_keys").unlink()
    (root / "etc/sudoers.d/late").write_text("mallory ALL=(ALL) NOPASSWD: ALL\n")
    os.chmod(root / "usr/lib/x/helper", 0o2755)  # a new setgid helper
    os.chmod(root / "usr/bin/ls", 0o757)  # world-writable
    events = _scan(src, table)
    got = {(e.type, e.payload["path"]): e.payload for e in events}
    assert set(got) == {
        ("PermissionChanged", "/etc/shadow"),
        ("PermissionChanged", "/etc/sudoers.d/ops"),
        ("PermissionChanged", "/etc/ssh/sshd_config"),
        ("PermissionChanged", "/home/alice/.ssh/authorized_keys"),
        ("PermissionChanged", "/etc/sudoers.d/late"),
        ("SetuidAdded", "/usr/lib/x/helper"),
        ("WorldWritableAdded", "/usr/bin/ls"),
    }
    shadow = got[("PermissionChanged", "/etc/shadow")]
    assert (shadow["old_mode"], shadow["mode"], shadow["changes"]) == (0o640, 0o644, ["mode"])
    assert got[("PermissionChanged", "/etc/sudoers.d/ops")]["changes"] == ["owner", "group"]
    assert got[("PermissionChanged", "/etc/ssh/sshd_config")]["changes"] == ["content"]
    assert got[("PermissionChanged", "/home/alice/.ssh/authorized_keys")]["changes"] == ["removed"]
    assert got[("PermissionChanged", "/etc/sudoers.d/late")]["changes"] == ["created"]
    assert got[("SetuidAdded", "/usr/lib/x/helper")]["mode"] == 0o2755

    # The same raw scan delivered again decides nothing new (its digest is the table's).
    again = src.poll(10)
    assert again.observations == []

    with LadybugStore(tmp_path / "graph") as store:
        store.ensure_schema()
        ops = [
            op
            for e in events
            for op in PROJECTORS[e.type](e, decode_payload(e.type, e.schema_version, e.payload))
        ]
        store.apply(ops, {})
        cypher, params = resolve("permission-changes-this-week", {}, datetime.now(UTC))
        rows: list[dict[str, Any]] = store.query(cypher, params).dicts()
        assert {(r["change"], r["path"]) for r in rows} == set(got)
        shadow_row = next(r for r in rows if r["path"] == "/etc/shadow")
        assert shadow_row["mode"] == "0644" and "0640 -> 0644" in shadow_row["summary"]
        gone = store.query(
            "MATCH (f:WatchedFile) WHERE f.path = $p RETURN f.state",
            {"p": "/home/alice/.ssh/authorized_keys"},
        ).rows
        assert gone == [["removed"]]


def test_a_change_to_a_sensitive_file_is_seen_at_the_next_poll_not_the_next_interval(tmp_path: Path) -> None:
    root = _root(tmp_path)
    src = PermissionScanner("h", root=root, interval=3600, system_dirs=("usr/bin",))
    table = MemoryTable()
    try:
        first = src.poll(10)  # the first poll scans everything: the baseline
        assert [e for raw in first.observations for e in ROUTE.handle(raw.to_json(), table)] == []
        assert src.poll(10).observations == []  # nothing changed, an hour to the next scan
        os.chmod(root / "etc/sudoers.d/ops", 0o666)
        live = src.poll(10)  # inotify told of it
        events = [e for raw in live.observations for e in ROUTE.handle(raw.to_json(), table)]
        assert {(e.type, e.payload["path"]) for e in events} == {
            ("PermissionChanged", "/etc/sudoers.d/ops"),
            ("WorldWritableAdded", "/etc/sudoers.d/ops"),
        }
        # The setuid binary walked an hour ago is still in the snapshot: not reported as gone.
        assert "/usr/bin/su" in {f["path"] for f in live.observations[0].payload["files"]}
    finally:
        src.close()
