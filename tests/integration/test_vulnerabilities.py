"""CVE data offline, end to end: `watchman cve import` of a real OSV zip and the Debian tracker's JSON into
the inbox, the daemon's sources on real files (the inbox, a dpkg status file, this machine's own
/var/lib/dpkg/status and /etc/os-release), the processor, a real LadybugDB and the named queries."""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from processors.registry import ROUTES
from processors.tables import MemoryTable
from producers.source import Source
from producers.vulnerabilities.source import AdvisoryInbox, InstalledSourcesScanner
from projections.catalog import resolve
from projections.registry import PROJECTORS
from projections.stores.ladybug import LadybugStore
from schemas.envelope import Envelope
from schemas.events import decode_payload
from watchman.cli import app

DATA = Path(__file__).parents[1] / "data" / "vulnerabilities"
ROUTE = next(r for r in ROUTES if r.name == "vulnerabilities")
STANZA = (
    "Package: {name}\nStatus: install ok installed\nArchitecture: {arch}\n"
    "Source: glibc\nVersion: {version}\n\n"
)
BOOKWORM = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'


def _zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for rec in sorted((DATA / "osv").glob("*.json")):
            zf.writestr(rec.name, rec.read_text())
    return path


def _drain(src: Source) -> tuple[list[Envelope], list[Any]]:
    envs: list[Envelope] = []
    dead: list[Any] = []
    for _ in range(100):
        p = src.poll(2)
        envs += p.observations
        dead += p.dead
        if not p.observations and not p.dead and p.lines == 0:
            break
    return envs, dead


def _apply(store: LadybugStore, table: MemoryTable, raws: list[Envelope]) -> list[Envelope]:
    events = [e for raw in raws for e in ROUTE.handle(raw.to_json(), table)]
    ops = [
        op
        for e in events
        for op in PROJECTORS[e.type](e, decode_payload(e.type, e.schema_version, e.payload))
    ]
    store.apply(ops, {})
    return events


def _ask(store: LadybugStore, name: str, **params: Any) -> list[dict[str, Any]]:
    cypher, p = resolve(name, params, datetime.now(UTC))
    return store.query(cypher, p).dicts()


def test_import_match_upgrade_and_the_questions(tmp_path: Path) -> None:
    config = tmp_path / "watchman.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\nhost = "h"\n')
    runner = CliRunner()
    zipped = _zip(tmp_path / "Debian-all.zip")
    got = runner.invoke(app, ["-c", str(config), "cve", "import", str(zipped)])
    assert got.exit_code == 0, got.output
    assert "3 advisories, 0 bad records" in got.output
    got = runner.invoke(app, ["-c", str(config), "cve", "import", str(DATA / "debian-tracker-glibc.json")])
    assert got.exit_code == 0, got.output
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "X-1", "affected": [{"package": {}}]}]')
    got = runner.invoke(app, ["-c", str(config), "cve", "import", str(bad)])
    assert got.exit_code == 3 and "nothing to import" in got.output
    inbox = tmp_path / "data" / "cve" / "inbox"
    assert len(list(inbox.iterdir())) == 2

    status, osrel = tmp_path / "status", tmp_path / "os-release"
    status.write_text(
        STANZA.format(name="libc6", arch="amd64", version="2.36-9+deb12u2")
        + STANZA.format(name="libc-bin", arch="amd64", version="2.36-9+deb12u2")
    )
    osrel.write_text(BOOKWORM)
    scanner = InstalledSourcesScanner(
        "h",
        dpkg_status=status,
        os_release=osrel,
        rpm_dbpath=tmp_path / "no-rpm",
        native_arch={"deb": "amd64", "rpm": None},
    )
    box = AdvisoryInbox(inbox, "h")
    table = MemoryTable()
    with LadybugStore(tmp_path / "graph") as store:
        store.ensure_schema()
        raws, _ = _drain(scanner)
        advs, dead = _drain(box)
        assert dead == [] and len(advs) == 4  # 3 OSV records + 1 tracker CVE
        events = _apply(store, table, raws + advs)
        found = sorted(
            (e.payload["vulnerability"], e.payload["package"])
            for e in events
            if e.type == "VulnerabilityFound"
        )
        assert found == [
            ("CVE-2023-4911", "libc-bin"),
            ("CVE-2023-4911", "libc6"),
            ("DEBIAN-CVE-2023-4911", "libc-bin"),
            ("DEBIAN-CVE-2023-4911", "libc6"),
            ("DSA-5514-1", "libc-bin"),
            ("DSA-5514-1", "libc6"),
        ]
        # The imported copies are deleted once read (at the poll after the cursor moved past them).
        box.poll(10)
        assert list(inbox.iterdir()) == []

        high = _ask(store, "critical-cves", severity="high")
        assert {(r["package"], r["vulnerability"], r["fixed_version"]) for r in high} == {
            ("libc6", "DEBIAN-CVE-2023-4911", "2.36-9+deb12u3"),
            ("libc-bin", "DEBIAN-CVE-2023-4911", "2.36-9+deb12u3"),
        }
        assert high[0]["cvss"] == 7.8
        assert _ask(store, "critical-cves") == []  # nothing critical
        pending = _ask(store, "pending-security-updates")
        assert [
            (r["package"], r["installed"], r["fixed_version"], r["vulnerabilities"]) for r in pending
        ] == [
            ("libc-bin", "2.36-9+deb12u2", "2.36-9+deb12u3", 3),
            ("libc6", "2.36-9+deb12u2", "2.36-9+deb12u3", 3),
        ]
        affects = store.query(
            "MATCH (v:Vulnerability)-[:AFFECTS]->(s:Software) WHERE v.id = $id RETURN s.key ORDER BY s.key",
            {"id": "DSA-5514-1"},
        ).rows
        assert affects == [["h/deb/libc-bin"], ["h/deb/libc6"]]

        # The security update: glibc 2.36-9+deb12u3 installed.
        status.write_text(
            STANZA.format(name="libc6", arch="amd64", version="2.36-9+deb12u3")
            + STANZA.format(name="libc-bin", arch="amd64", version="2.36-9+deb12u3")
        )
        scanner.scan_now()
        raws, _ = _drain(scanner)
        events = _apply(store, table, raws)
        assert {e.type for e in events} == {"VulnerabilityFixed"} and len(events) == 6
        assert _ask(store, "pending-security-updates") == []
        done = _ask(store, "security-updates-installed")
        assert {(r["package"], r["version"], r["vulnerability"]) for r in done} == {
            (p, "2.36-9+deb12u3", v)
            for p in ("libc6", "libc-bin")
            for v in ("CVE-2023-4911", "DEBIAN-CVE-2023-4911", "DSA-5514-1")
        }

        # This machine's own package database and release: the same data matches what it finds.
        real = InstalledSourcesScanner("real", rpm_dbpath=tmp_path / "no-rpm")
        raws, _ = _drain(real)
        assert raws and raws[0].payload["release"] == json.loads(json.dumps(raws[0].payload["release"]))
        libc = [p for p in raws[0].payload["packages"] if p["name"] == "libc6"]
        assert libc and libc[0]["source"] == "glibc"
        _apply(store, table, raws)
        rows = _ask(store, "pending-security-updates")
        assert all(r["host"] == "real" for r in rows)
    shutil.rmtree(tmp_path / "graph", ignore_errors=True)


class _SizedTable(MemoryTable):
    """A MemoryTable that remembers the largest value written, as JSON (a Faust table's changelog record)."""

    largest = 0

    def set(self, key: str, value: Any) -> None:
        self.largest = max(self.largest, len(json.dumps(value)))
        super().set(key, value)


def test_a_large_package_database_comes_in_parts(tmp_path: Path) -> None:
    """9,000 installed packages: one record for the whole database was ~1.5 MB, over Kafka's 1 MiB record
    limit (and so was the processor's table value). Now every record and every table value stays under
    512 KiB, and the findings are those of the small database."""
    status, osrel = tmp_path / "status", tmp_path / "os-release"
    filler = "".join(
        f"Package: lib-filler-{i:05d}\nStatus: install ok installed\nArchitecture: amd64\n"
        f"Source: filler-src-{i // 3:05d} (1.{i}-1)\nVersion: 1.{i}-1+b1\n\n"
        for i in range(9000)
    )
    status.write_text(STANZA.format(name="libc6", arch="amd64", version="2.36-9+deb12u2") + filler)
    osrel.write_text(BOOKWORM)
    scanner = InstalledSourcesScanner(
        "h",
        dpkg_status=status,
        os_release=osrel,
        rpm_dbpath=tmp_path / "no-rpm",
        native_arch={"deb": "amd64"},
    )
    raws, _ = _drain(scanner)
    assert len(raws) >= 5
    assert max(len(r.to_json()) for r in raws) < 512 * 1024
    assert sum(len(r.payload["packages"]) for r in raws) == 9001
    box = tmp_path / "data" / "cve" / "inbox"
    box.mkdir(parents=True)
    shutil.copy(DATA / "osv" / "DSA-5514-1.json", box / "0001-dsa.json")
    advs, _ = _drain(AdvisoryInbox(box, "h"))
    table = _SizedTable()
    # Parts arrive before the advisory, and the advisory before the last part: both orders decide once.
    events = [e for raw in [*raws[:-1], *advs, raws[-1]] for e in ROUTE.handle(raw.to_json(), table)]
    found = [
        (e.payload["vulnerability"], e.payload["package"]) for e in events if e.type == "VulnerabilityFound"
    ]
    assert found == [("DSA-5514-1", "libc6")]
    assert table.largest < 512 * 1024
    assert not [k for k in table.data if k.startswith("installed-parts/")]  # nothing left waiting
    # An upgrade of libc6 (a new snapshot, in parts again) fixes it.
    status.write_text(STANZA.format(name="libc6", arch="amd64", version="2.36-9+deb12u3") + filler)
    scanner.scan_now()
    again, _ = _drain(scanner)
    fixed = [e for raw in again for e in ROUTE.handle(raw.to_json(), table) if e.type == "VulnerabilityFixed"]
    assert [(e.payload["package"], e.payload["reason"]) for e in fixed] == [("libc6", "upgraded")]
    assert table.largest < 512 * 1024
