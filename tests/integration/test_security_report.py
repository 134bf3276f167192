"""`watchman report security` in its three formats, on a graph built from real decisions: the DSA-5514-1
finding on a Debian 12 host and a permission change, asked through the CLI with the graph opened
directly (no daemon)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

from typer.testing import CliRunner

from processors.registry import ROUTES
from processors.tables import MemoryTable
from producers.vulnerabilities.advisories import osv_advisory
from producers.vulnerabilities.installed import digest
from producers.vulnerabilities.source import advisory_envelope
from projections.registry import PROJECTORS
from projections.stores.ladybug import LadybugStore
from schemas.envelope import Envelope
from schemas.events import decode_payload
from schemas.events.permissions import FileState, PermissionScanObserved
from schemas.events.vulnerabilities import InstalledPackage, InstalledSourcesObserved
from watchman.cli import app

DATA = Path(__file__).parents[1] / "data" / "vulnerabilities"


def _raw(host: str, payload: InstalledSourcesObserved | PermissionScanObserved, rid: str) -> Envelope:
    return Envelope(
        id=rid,
        type=payload.TYPE,
        schema_version=1,
        host=host,
        source="t",
        ts=payload.ts,
        observed_at=payload.ts,
        subject="s",
        payload=payload.model_dump(mode="json"),
    )


def _graph(path: Path) -> None:
    now = datetime.now(UTC) - timedelta(hours=1)
    libc = InstalledPackage(
        key="h/deb/libc6",
        name="libc6",
        ecosystem="deb",
        version="2.36-9+deb12u2",
        source="glibc",
        source_version="2.36-9+deb12u2",
        arch="amd64",
    )
    inst = InstalledSourcesObserved(
        ts=now, release="Debian:12", packages=(libc,), digest=digest("Debian:12", [libc])
    )
    adv = osv_advisory(json.loads((DATA / "osv" / "DEBIAN-CVE-2023-4911.json").read_text()))
    shadow = FileState(
        path="/etc/shadow", role="sensitive", uid=0, gid=42, mode=0o640, size=10, sha256="a" * 64
    )
    scans = [
        PermissionScanObserved(ts=now, files=(shadow,), digest="1"),
        PermissionScanObserved(ts=now, files=(shadow.model_copy(update={"mode": 0o644}),), digest="2"),
    ]
    raws = [
        _raw("h", inst, "r1"),
        advisory_envelope("h", adv, now),
        _raw("h", scans[0], "r2"),
        _raw("h", scans[1], "r3"),
    ]
    routes = {r.source.name: r for r in ROUTES}
    tables: dict[str, MemoryTable] = {}
    events = []
    for raw in raws:
        route = routes[
            "watchman.raw.permissions"
            if raw.type == "PermissionScanObserved"
            else "watchman.raw.vulnerabilities"
        ]
        events += route.handle(raw.to_json(), tables.setdefault(route.name, MemoryTable()))
    with LadybugStore(path) as store:
        store.ensure_schema()
        ops = [
            op
            for e in events
            for op in PROJECTORS[e.type](e, decode_payload(e.type, e.schema_version, e.payload))
        ]
        store.apply(ops, {})


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.cells: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in ("meta", "br"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (self.stack, tag)
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] == "td":
            self.cells.append(data)


def test_the_report_in_three_formats(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _graph(data / "graph")
    config = tmp_path / "watchman.toml"
    config.write_text(f'data_dir = "{data}"\nhost = "h"\napi_listen = ""\n')
    runner = CliRunner()

    md = runner.invoke(app, ["-c", str(config), "report", "security"])
    assert md.exit_code == 0, md.output
    assert "# Security report: h" in md.output
    assert "Open vulnerabilities by severity: 0 critical, 1 high, 0 medium, 0 low." in md.output
    assert "| h | libc6 | 2.36-9+deb12u2 | glibc | DEBIAN-CVE-2023-4911 |" in md.output
    assert "/etc/shadow" in md.output and "0640 -> 0644" in md.output
    assert "## Backups\n\n_not observed on this installation yet_" in md.output

    out = tmp_path / "r.html"
    got = runner.invoke(app, ["-c", str(config), "report", "security", "--format", "html", "-o", str(out)])
    assert got.exit_code == 0, got.output
    checker = _Checker()
    checker.feed(out.read_text())
    assert (
        checker.stack == [] and "DEBIAN-CVE-2023-4911" in checker.cells and "2.36-9+deb12u3" in checker.cells
    )

    js = runner.invoke(app, ["-c", str(config), "report", "security", "--format", "json"])
    assert js.exit_code == 0, js.output
    doc = json.loads(js.output)
    assert doc["vulnerabilities_by_severity"] == {"critical": 0, "high": 1, "medium": 0, "low": 0}
    pending = next(s for s in doc["sections"] if s["query"] == "pending-security-updates")
    assert pending["rows"][0]["fixed_version"] == "2.36-9+deb12u3"

    bad = runner.invoke(app, ["-c", str(config), "report", "security", "--format", "pdf"])
    assert bad.exit_code == 2
