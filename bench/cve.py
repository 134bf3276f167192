"""CVE data: a 100k-record OSV import (parse, decide, project into LadybugDB) and the time to match the
installed packages against it, per 1,000 packages.

The records are the real DSA-5514-1 record's shape (tests/data/vulnerabilities/osv) with the package name,
id and fixed version varied: 100,000 advisories over 5,000 source packages (20 each), written as an OSV
all.zip (one JSON file per record). The installed set is 1,000 binaries whose sources are among those
names, half of them at a version every range still affects.
"""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

from bench.common import say
from bench.results import Figure, Section
from processors.registry import ROUTES
from processors.tables import MemoryTable
from producers.vulnerabilities.feed import Bad, read_feed
from producers.vulnerabilities.installed import digest
from producers.vulnerabilities.source import advisory_envelope
from projections.registry import PROJECTORS
from projections.stores.ladybug import LadybugStore
from schemas.envelope import Envelope, event_id
from schemas.events import decode_payload
from schemas.events.vulnerabilities import InstalledPackage, InstalledSourcesObserved

TEMPLATE = Path(__file__).parents[1] / "tests" / "data" / "vulnerabilities" / "osv" / "DSA-5514-1.json"
SOURCES = 5_000
BATCH = 2_000


def _write_zip(path: Path, records: int) -> None:
    base = json.loads(TEMPLATE.read_text())
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(records):
            rec = dict(base)
            rec["id"] = f"BENCH-{i:06d}"
            src = f"src{i % SOURCES:04d}"
            rec["affected"] = [
                {
                    "package": {"ecosystem": eco, "name": src},
                    "ranges": [
                        {
                            "type": "ECOSYSTEM",
                            "events": [{"introduced": "0"}, {"fixed": f"1.{i // SOURCES}-1"}],
                        }
                    ],
                }
                for eco in ("Debian:11", "Debian:12")
            ]
            zf.writestr(f"{rec['id']}.json", json.dumps(rec))


def _installed(host: str, n: int, version: str, at: float) -> Envelope:
    from datetime import UTC, datetime

    pkgs = tuple(
        InstalledPackage(
            key=f"{host}/deb/bin{i:04d}",
            name=f"bin{i:04d}",
            ecosystem="deb",
            version=version if i % 2 else "9.9-1",
            source=f"src{(i * 5) % SOURCES:04d}",
            source_version=version if i % 2 else "9.9-1",
            arch="amd64",
        )
        for i in range(n)
    )
    ts = datetime.fromtimestamp(at, UTC)
    obs = InstalledSourcesObserved(
        ts=ts, release="Debian:12", packages=pkgs, digest=digest("Debian:12", list(pkgs))
    )
    return Envelope(
        id=event_id("bench", host, obs.digest),
        type=obs.TYPE,
        schema_version=1,
        host=host,
        source="bench",
        ts=ts,
        observed_at=ts,
        subject="installed",
        payload=obs.model_dump(mode="json"),
    )


def run(work: Path, *, records: int = 100_000, packages: int = 1_000) -> Section:
    route = next(r for r in ROUTES if r.name == "vulnerabilities")
    feed = work / "BENCH-all.zip"
    say(f"cve: writing {records:,} OSV records to {feed.name}")
    _write_zip(feed, records)
    size = feed.stat().st_size

    t0, c0 = time.perf_counter(), time.process_time()
    advs = [rec for _, rec in read_feed(feed) if not isinstance(rec, Bad)]
    parse_s, parse_cpu = time.perf_counter() - t0, time.process_time() - c0
    assert len(advs) == records

    table = MemoryTable()
    # One host known before the import, so each advisory is also matched against it.
    route.handle(_installed("h", packages, "1.0-1", 0).to_json(), table)
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    raws = [advisory_envelope("h", a, now).to_json() for a in advs]
    t0, c0 = time.perf_counter(), time.process_time()
    decided: list[Envelope] = []
    for raw in raws:
        decided += route.handle(raw, table)
    decide_s, decide_cpu = time.perf_counter() - t0, time.process_time() - c0
    found = sum(1 for e in decided if e.type == "VulnerabilityFound")
    say(f"cve: parsed in {parse_s:.1f} s, decided in {decide_s:.1f} s ({found:,} findings)")

    t0 = time.perf_counter()
    with LadybugStore(work / "cve-graph") as store:
        store.ensure_schema()
        for i in range(0, len(decided), BATCH):
            ops = []
            for e in decided[i : i + BATCH]:
                ops += PROJECTORS[e.type](e, decode_payload(e.type, e.schema_version, e.payload))
            store.apply(ops, {})
    project_s = time.perf_counter() - t0
    say(f"cve: projected {len(decided):,} events in {project_s:.1f} s")

    # Matching: a new host's first snapshot (every package against its sources' advisories), then an
    # upgrade of every package (each re-matched).
    t0, c0 = time.perf_counter(), time.process_time()
    first = route.handle(_installed("m", packages, "1.0-1", 10).to_json(), table)
    first_s, first_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    upgrade = route.handle(_installed("m", packages, "1.9-1", 20).to_json(), table)
    upgrade_s = time.perf_counter() - t0
    per_k = 1000 / packages
    n_found = sum(e.type == "VulnerabilityFound" for e in first)
    n_fixed = sum(e.type == "VulnerabilityFixed" for e in upgrade)
    return Section(
        "cve",
        [
            Figure(
                "OSV zip parse",
                records / parse_s,
                "records/s",
                note=f"{records:,} records, {size / 2**20:.0f} MiB zip; "
                f"{records / parse_cpu:,.0f} per CPU-second",
            ),
            Figure(
                "OSV import: parse + decide + project",
                records / (parse_s + decide_s + project_s),
                "records/s",
                note=f"decide {records / decide_s:,.0f}/s ({records / decide_cpu:,.0f} per CPU-second; "
                f"one host of {packages:,} packages known), "
                f"LadybugDB {len(decided) / project_s:,.0f} events/s",
            ),
            Figure(
                "match 1,000 installed packages (first snapshot)",
                first_s * per_k * 1000,
                "ms",
                note=f"{packages:,} packages × 20 advisories of each source; {n_found:,} found; "
                f"{first_cpu * per_k * 1000:,.0f} ms of CPU",
            ),
            Figure(
                "re-match 1,000 upgraded packages",
                upgrade_s * per_k * 1000,
                "ms",
                note=f"{n_fixed:,} fixed",
            ),
        ],
    )
