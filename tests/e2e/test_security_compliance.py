"""Issue 21 through the real embedded daemon (`watchman run --once`, twice): CVE data imported with
`watchman cve import`, a package database that gets the security update between the runs, a scan root
whose passwd becomes world-writable, and the questions and the report asked with the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parents[1] / "data" / "vulnerabilities"
STANZA = "Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: {v}\n\n"


OURS = {f"WATCHMAN_{d}__ENABLED" for d in ("VULNERABILITIES", "PERMISSIONS", "EXPOSURE")}


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "watchman", "-c", str(config), *args],
        # The config's sections decide these domains, not the test session's defaults (tests/conftest.py).
        env={k: v for k, v in os.environ.items() if k not in OURS},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def _rows(proc: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def test_import_update_and_permission_change_through_the_daemon(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text(
        STANZA.format(name="libc6", v="2.36-9+deb12u2") + STANZA.format(name="libc-bin", v="2.36-9+deb12u2")
    )
    osrel = tmp_path / "os-release"
    osrel.write_text('ID=debian\nVERSION_ID="12"\n')
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    os.chmod(root / "etc" / "passwd", 0o644)
    config = tmp_path / "watchman.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\nhost = "e2e"\napi_listen = ""\n'
        "[packages]\napt = []\ndpkg = []\ndnf_rpm = []\ndnf = []\ndnf5 = []\nbrew = []\n"
        f'dpkg_status = ["{status}"]\nrpmdb = []\n'
        f'[journald]\nfiles = ["{tmp_path / "none.journal"}"]\n'
        "[network]\nenabled = false\n[docker]\nenabled = false\n[services]\nmetrics_enabled = false\n"
        f'[vulnerabilities]\ndpkg_status = "{status}"\nos_release = "{osrel}"\n'
        f'rpm_dbpath = "{tmp_path / "no-rpm"}"\n'
        f'[permissions]\nroot = "{root}"\n[exposure]\nenabled = false\n'
    )
    _cli(config, "cve", "import", str(DATA / "osv" / "DSA-5514-1.json"))
    _cli(config, "cve", "import", str(DATA / "debian-tracker-glibc.json"))
    _cli(config, "run", "--once")

    pending = _rows(_cli(config, "query", "pending-security-updates"))
    assert {(r["package"], r["fixed_version"], r["vulnerabilities"]) for r in pending} == {
        ("libc6", "2.36-9+deb12u3", 2),
        ("libc-bin", "2.36-9+deb12u3", 2),
    }
    assert list((tmp_path / "data" / "cve" / "inbox").iterdir()) == []

    # Between the runs: the security update lands, and passwd becomes world-writable.
    status.write_text(
        STANZA.format(name="libc6", v="2.36-9+deb12u3") + STANZA.format(name="libc-bin", v="2.36-9+deb12u3")
    )
    os.chmod(root / "etc" / "passwd", 0o666)
    _cli(config, "run", "--once")

    assert _rows(_cli(config, "query", "pending-security-updates")) == []
    done = _rows(_cli(config, "query", "security-updates-installed"))
    assert {(r["package"], r["vulnerability"]) for r in done} == {
        (p, v) for p in ("libc6", "libc-bin") for v in ("DSA-5514-1", "CVE-2023-4911")
    }
    changes = _rows(_cli(config, "query", "permission-changes-this-week"))
    assert {(r["path"], r["change"]) for r in changes} == {
        ("/etc/passwd", "PermissionChanged"),
        ("/etc/passwd", "WorldWritableAdded"),
    }
    report = json.loads(_cli(config, "report", "security", "--format", "json").stdout)
    titles = {s["query"]: s for s in report["sections"]}
    assert len(titles["security-updates-installed"]["rows"]) == 4
    assert titles["pending-security-updates"]["rows"] == []
