"""The vulnerabilities processor: advisories and installed packages met in one table, decided into
VulnerabilityFound/Fixed. The known check: DSA-5514-1 (glibc, Debian 12, fixed in 2.36-9+deb12u3)."""

from __future__ import annotations

import itertools
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from processors.registry import ROUTES
from processors.tables import MemoryTable
from processors.vulnerabilities import evaluate
from processors.vulnerabilities.match import compare_deb, compare_rpm, match, release_of
from producers.vulnerabilities.advisories import osv_advisory
from producers.vulnerabilities.installed import digest
from producers.vulnerabilities.source import advisory_envelope
from schemas.envelope import Envelope, event_id
from schemas.events.vulnerabilities import InstalledPackage, InstalledSourcesObserved

DATA = Path(__file__).parents[2] / "data" / "vulnerabilities"
ROUTE = next(r for r in ROUTES if r.name == "vulnerabilities")
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def dsa() -> dict[str, object]:
    return json.loads((DATA / "osv" / "DSA-5514-1.json").read_text())  # type: ignore[no-any-return]


def advisory(rec: dict[str, object], at: int = 0) -> Envelope:
    return advisory_envelope("h", osv_advisory(rec), T0 + timedelta(minutes=at))


def libc(version: str, arch: str = "amd64", host: str = "h") -> InstalledPackage:
    suffix = "" if arch == "amd64" else f":{arch}"
    return InstalledPackage(
        key=f"{host}/deb/libc6{suffix}",
        name="libc6",
        ecosystem="deb",
        version=version,
        source="glibc",
        source_version=version,
        arch=arch,
    )


def installed(release: str | None, *pkgs: InstalledPackage, at: int = 0, host: str = "h") -> Envelope:
    ts = T0 + timedelta(hours=1, minutes=at)
    obs = InstalledSourcesObserved(ts=ts, release=release, packages=pkgs, digest=digest(release, list(pkgs)))
    return Envelope(
        id=event_id("raw", host, obs.digest, ts),
        type=obs.TYPE,
        schema_version=1,
        host=host,
        source="t",
        ts=ts,
        observed_at=ts,
        subject="installed",
        payload=obs.model_dump(mode="json"),
    )


def run(raws: list[Envelope], table: MemoryTable | None = None) -> list[Envelope]:
    t = table or MemoryTable()
    return [out for raw in raws for out in ROUTE.handle(raw.to_json(), t)]


def findings(events: list[Envelope]) -> list[tuple[str, str, str, str | None]]:
    return [
        (e.type, e.payload["software"], e.payload["reason"], e.payload["fixed_version"])
        for e in events
        if e.type != "VulnerabilityPublished"
    ]


# --- the known check ---------------------------------------------------------------------------------


def test_dsa_5514_1_the_known_check() -> None:
    adv = osv_advisory(dsa()).model_dump(mode="json")
    assert evaluate(adv, "Debian:12", "glibc", "2.36-9+deb12u2") == (True, "2.36-9+deb12u3")
    assert evaluate(adv, "Debian:12", "glibc", "2.36-9") == (True, "2.36-9+deb12u3")
    for later in ("2.36-9+deb12u3", "2.36-9+deb12u4", "2.36-9+deb12u10", "2.37-1"):
        assert evaluate(adv, "Debian:12", "glibc", later) == (False, None), later
    # Debian 11's data does not apply to a Debian 12 host, and the other way round.
    assert evaluate(adv, "Debian:11", "glibc", "2.36-9+deb12u2") == (False, None)
    assert evaluate(adv, "Debian:11", "glibc", "2.31-13+deb11u6") == (True, "2.31-13+deb11u7")
    assert evaluate(adv, "Ubuntu:22.04", "glibc", "2.35-0ubuntu3") == (False, None)
    assert evaluate(adv, "Debian:12", "eglibc", "2.36-9+deb12u2") == (False, None)


def test_dsa_5514_1_through_the_processor_found_then_fixed_by_the_upgrade() -> None:
    table = MemoryTable()
    out = run(
        [installed("Debian:12", libc("2.36-9+deb12u2"), libc("2.36-9+deb12u2", "i386")), advisory(dsa())],
        table,
    )
    assert out[0].type == "VulnerabilityPublished"
    assert findings(out) == [
        ("VulnerabilityFound", "h/deb/libc6", "advisory", "2.36-9+deb12u3"),
        ("VulnerabilityFound", "h/deb/libc6:i386", "advisory", "2.36-9+deb12u3"),
    ]
    up = run([installed("Debian:12", libc("2.36-9+deb12u3"), libc("2.36-9+deb12u2", "i386"), at=5)], table)
    assert findings(up) == [("VulnerabilityFixed", "h/deb/libc6", "upgraded", "2.36-9+deb12u3")]
    assert up[0].payload["version"] == "2.36-9+deb12u3"
    gone = run([installed("Debian:12", libc("2.36-9+deb12u3"), at=9)], table)
    assert findings(gone) == [("VulnerabilityFixed", "h/deb/libc6:i386", "removed", "2.36-9+deb12u3")]
    back = run([installed("Debian:12", libc("2.36-9+deb12u2"), at=12)], table)
    assert findings(back) == [("VulnerabilityFound", "h/deb/libc6", "downgraded", "2.36-9+deb12u3")]


def test_a_debian_11_host_is_matched_on_its_own_release() -> None:
    out = run([advisory(dsa()), installed("Debian:11", libc("2.31-13+deb11u5"))])
    assert findings(out) == [("VulnerabilityFound", "h/deb/libc6", "installed", "2.31-13+deb11u7")]
    assert run([advisory(dsa()), installed("Debian:11", libc("2.36-9+deb12u2"))])[1:] == []


def test_arrival_order_does_not_change_the_findings() -> None:
    raws = [advisory(dsa()), installed("Debian:12", libc("2.36-9+deb12u2"))]
    results = set()
    for order in itertools.permutations(raws):
        results.add(tuple((t, s, f) for t, s, _, f in findings(run(list(order)))))
    assert len(results) == 1


def test_reimport_decides_nothing_and_an_update_decides_the_difference() -> None:
    table = MemoryTable()
    run([installed("Debian:12", libc("2.36-9+deb12u3")), advisory(dsa())], table)
    assert run([advisory(dsa(), at=10)], table) == []  # the same record again
    later = dsa()
    later["affected"][1]["ranges"][0]["events"][1]["fixed"] = "2.36-9+deb12u4"  # type: ignore[index]
    out = run([advisory(later, at=20)], table)
    assert [e.type for e in out] == ["VulnerabilityPublished", "VulnerabilityFound"]
    assert out[1].payload["reason"] == "advisory" and out[1].payload["fixed_version"] == "2.36-9+deb12u4"
    out = run([advisory(dsa(), at=30)], table)  # corrected back
    assert [(e.type, e.payload.get("reason")) for e in out] == [
        ("VulnerabilityPublished", None),
        ("VulnerabilityFixed", "advisory"),
    ]


def test_redelivery_decides_the_same_ids() -> None:
    raws = [installed("Debian:12", libc("2.36-9+deb12u2")), advisory(dsa())]
    assert [e.id for e in run(raws)] == [e.id for e in run(raws)]


def test_a_withdrawn_advisory_closes_its_findings() -> None:
    table = MemoryTable()
    run([installed("Debian:12", libc("2.36-9+deb12u2")), advisory(dsa())], table)
    gone = dsa()
    gone["withdrawn"] = "2026-11-02T00:00:00Z"
    out = run([advisory(gone, at=60)], table)
    assert [(e.type, e.payload.get("reason")) for e in out][1:] == [("VulnerabilityFixed", "advisory")]


# --- version orders --------------------------------------------------------------------------------


def test_debian_order() -> None:
    assert compare_deb("2.36-9+deb12u2", "2.36-9+deb12u3") < 0
    assert compare_deb("2.36-9+deb12u10", "2.36-9+deb12u3") > 0
    assert compare_deb("1:1.0", "2.0") > 0
    assert compare_deb("1.0~rc1", "1.0") < 0


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("3.0.7-27.el9", "3.0.7-28.el9"),
        ("1:3.0.7-1.el9", "3.0.8-1.el9"),
        ("1.0~rc1-1", "1.0-1"),
        ("2.34-83.el9_3.7", "2.34-83.el9_3.12"),
    ],
)
def test_rpm_order_agrees_with_rpm(a: str, b: str) -> None:
    """Cross-checked against the real rpm's own comparison (rpm.vercmp in its Lua)."""
    ours = compare_rpm(a, b)

    def evr(s: str) -> tuple[str, str, str]:
        e, _, vr = s.rpartition(":")
        v, _, r = vr.partition("-")
        return e or "0", v, r

    ea, eb = evr(a), evr(b)
    lua = f"%{{lua: print(rpm.vercmp('{ea[0]}:{ea[1]}-{ea[2]}', '{eb[0]}:{eb[1]}-{eb[2]}'))}}"
    real = int(
        subprocess.run(["rpm", "--eval", lua], capture_output=True, text=True, check=True).stdout.strip()
    )
    assert ours == real


def test_ranges_last_affected_and_versions() -> None:
    ranges = [
        {
            "type": "ECOSYSTEM",
            "events": [
                {"kind": "introduced", "version": "1.0-1"},
                {"kind": "last_affected", "version": "1.2-1"},
            ],
        }
    ]
    assert match("0.9-1", ranges, [], compare_deb) == (False, None)
    assert match("1.0-1", ranges, [], compare_deb) == (True, None)
    assert match("1.2-1", ranges, [], compare_deb) == (True, None)
    assert match("1.2-2", ranges, [], compare_deb) == (False, None)
    assert match("0.1-1", [], ["0.1-1"], compare_deb) == (True, None)
    git = [{"type": "GIT", "events": [{"kind": "introduced", "version": "abc"}]}]
    assert match("1.0", git, [], compare_deb) == (False, None)


def test_release_of() -> None:
    assert release_of("Ubuntu:22.04:LTS") == "Ubuntu:22.04"
    assert release_of("Red Hat:enterprise_linux:9::appstream") == "Red Hat:9"
    assert release_of("Rocky Linux:9") == "Rocky Linux:9"
    assert release_of("Debian:12") == "Debian:12"
    assert release_of("PyPI") == "PyPI"


def test_a_table_written_before_the_shards_still_decides_and_is_rewritten_in_shards() -> None:
    """Host state written by the release before 2026-12 held every package in the host's own value."""
    table = MemoryTable()
    run([installed("Debian:12", libc("2.36-9+deb12u2"))], table)
    state = table.data["host/h"]
    packages = table.data.pop("host/h/packages/0")
    table.data["host/h"] = {
        "release": state["release"],
        "digest": state["digest"],
        "packages": packages,
        "by_source": {"glibc": sorted(packages)},
        "findings": {},
        "by_vuln": {},
    }
    assert findings(run([advisory(dsa())], table)) == [
        ("VulnerabilityFound", "h/deb/libc6", "advisory", "2.36-9+deb12u3")
    ]
    assert "packages" not in table.data["host/h"] and table.data["host/h/packages/0"] == packages
