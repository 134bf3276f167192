"""Advisory and inventory parsers of the vulnerabilities domain, on records transcribed from OSV and the
Debian Security Tracker (tests/data/README.md), and on bad input."""

from __future__ import annotations

import contextlib
import json
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.vulnerabilities.advisories import AdvisoryError, band, osv_advisory, tracker_advisories
from producers.vulnerabilities.feed import Bad, FeedError, read_feed
from producers.vulnerabilities.installed import dpkg_status, os_release, rpm_query
from schemas.events.vulnerabilities import AdvisoryObserved

DATA = Path(__file__).parents[2] / "data" / "vulnerabilities"


def osv(name: str) -> dict[str, object]:
    return json.loads((DATA / "osv" / f"{name}.json").read_text())  # type: ignore[no-any-return]


def test_dsa_5514_1_reads_both_releases_and_its_cves() -> None:
    adv = osv_advisory(osv("DSA-5514-1"))
    assert adv.id == "DSA-5514-1" and adv.feed == "osv"
    assert adv.aliases == ("CVE-2023-4911", "DEBIAN-CVE-2023-4911")
    assert [(a.ecosystem, a.name) for a in adv.affected] == [("Debian:11", "glibc"), ("Debian:12", "glibc")]
    fixed = [e.version for a in adv.affected for r in a.ranges for e in r.events if e.kind == "fixed"]
    assert fixed == ["2.31-13+deb11u7", "2.36-9+deb12u3"]
    assert adv.severity is None  # a DSA carries none of its own
    assert adv.published is not None and adv.published.year == 2023


def test_a_cvss_vector_gives_score_and_band() -> None:
    adv = osv_advisory(osv("DEBIAN-CVE-2023-4911"))
    assert adv.cvss == 7.8 and adv.severity == "high"
    assert adv.cvss_vector == "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"
    assert adv.summary is not None and "GLIBC_TUNABLES" in adv.summary
    assert (band(9.8), band(7.0), band(4.0), band(0.1), band(0.0)) == (
        "critical",
        "high",
        "medium",
        "low",
        None,
    )


def test_database_severity_words_map_to_one_scale() -> None:
    adv = osv_advisory(osv("GHSA-h5c8-rqwp-cp95"))
    assert adv.severity == "medium" and adv.aliases[0] == "CVE-2024-22195"
    assert adv.affected[0].ecosystem == "PyPI"


def test_same_record_same_digest_changed_record_other_digest() -> None:
    rec = osv("DSA-5514-1")
    assert osv_advisory(rec).digest == osv_advisory(json.loads(json.dumps(rec))).digest
    rec["affected"][1]["ranges"][0]["events"][1]["fixed"] = "2.36-9+deb12u4"  # type: ignore[index]
    assert osv_advisory(rec).digest != osv_advisory(osv("DSA-5514-1")).digest


def test_the_tracker_is_regrouped_by_cve_and_release() -> None:
    data = json.loads((DATA / "debian-tracker-glibc.json").read_text())
    (adv,) = list(tracker_advisories(data))
    assert isinstance(adv, AdvisoryObserved)
    assert adv.id == "CVE-2023-4911" and adv.feed == "debian-tracker"
    got = {a.ecosystem: [e.version for r in a.ranges for e in r.events] for a in adv.affected}
    # sid has no release number: no host can be matched against it.
    assert got == {"Debian:11": ["0", "2.31-13+deb11u7"], "Debian:12": ["0", "2.36-9+deb12u3"]}


def test_tracker_statuses() -> None:
    data = {
        "zlib": {
            "CVE-X": {"releases": {"bookworm": {"status": "open", "urgency": "unimportant"}}},
            "CVE-Y": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "0"}}},
            "CVE-Z": {"releases": {"bookworm": {"status": "undetermined"}}},
        },
        "broken": ["not", "an", "object"],
    }
    out = list(tracker_advisories(data))
    errors = [o for o in out if isinstance(o, AdvisoryError)]
    advs = {o.id: o for o in out if isinstance(o, AdvisoryObserved)}
    assert len(errors) == 1 and "broken" in str(errors[0])
    assert [e.kind for e in advs["CVE-X"].affected[0].ranges[0].events] == ["introduced"]
    assert advs["CVE-X"].severity == "low"
    assert advs["CVE-Y"].affected == () and advs["CVE-Z"].affected == ()


def test_an_osv_zip_is_read_member_by_member(tmp_path: Path) -> None:
    z = tmp_path / "all.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for name in ("DSA-5514-1", "DEBIAN-CVE-2023-4911", "GHSA-h5c8-rqwp-cp95"):
            zf.writestr(f"{name}.json", (DATA / "osv" / f"{name}.json").read_text())
        zf.writestr("broken.json", "{not json")
        zf.writestr("noid.json", '{"id": ""}')
    items = list(read_feed(z))
    good = [r.id for _, r in items if not isinstance(r, Bad)]
    bad = [r for _, r in items if isinstance(r, Bad)]
    assert good == ["DEBIAN-CVE-2023-4911", "DSA-5514-1", "GHSA-h5c8-rqwp-cp95"]
    assert {b.position for b in bad} == {"broken.json", "noid.json"}
    assert all(b.error for b in bad)


def test_not_a_feed(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="directory"):
        list(read_feed(tmp_path))
    with pytest.raises(FeedError, match="cannot read"):
        list(read_feed(tmp_path / "missing.zip"))


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
    )
)
def test_any_json_is_an_advisory_or_a_clear_error(doc: object) -> None:
    with contextlib.suppress(AdvisoryError):
        osv_advisory(doc)
    with contextlib.suppress(AdvisoryError):
        list(tracker_advisories(doc))


STATUS = """\
Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u2
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.

Package: libc6
Status: install ok installed
Architecture: i386
Source: glibc
Version: 2.36-9+deb12u2

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
Source: bash (5.2.15-2)

Package: gone
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1
"""


def test_dpkg_status_names_each_binary_source() -> None:
    rows = {p.key: p for p in dpkg_status(STATUS, "h", "amd64")}
    assert set(rows) == {"h/deb/libc6", "h/deb/libc6:i386", "h/deb/bash"}
    libc = rows["h/deb/libc6"]
    assert (libc.source, libc.source_version, libc.version) == ("glibc", "2.36-9+deb12u2", "2.36-9+deb12u2")
    bash = rows["h/deb/bash"]
    assert (bash.source, bash.source_version, bash.version) == ("bash", "5.2.15-2", "5.2.15-2+b2")


def test_rpm_query_names_the_source_rpm() -> None:
    text = (
        "openssl-libs\t1\t3.0.7\t27.el9\tx86_64\topenssl-3.0.7-27.el9.src.rpm\n"
        "gpg-pubkey\t(none)\t1\t2\t(none)\t(none)\n"
    )
    (row,) = rpm_query(text, "h", "x86_64")
    assert (row.key, row.version, row.source, row.source_version) == (
        "h/rpm/openssl-libs",
        "1:3.0.7-27.el9",
        "openssl",
        "1:3.0.7-27.el9",
    )


@pytest.mark.parametrize(
    ("text", "release"),
    [
        ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n', "Debian:12"),
        ('ID=ubuntu\nVERSION_ID="22.04"\n', "Ubuntu:22.04"),
        ('ID="rocky"\nVERSION_ID="9.3"\n', "Rocky Linux:9"),
        ('ID="almalinux"\nVERSION_ID="9.4"\n', "AlmaLinux:9"),
        ('ID="rhel"\nVERSION_ID="9.2"\n', "Red Hat:9"),
        ("ID=alpine\nVERSION_ID=3.18.4\n", "Alpine:v3.18"),
        ("ID=arch\n", None),
    ],
)
def test_os_release(text: str, release: str | None) -> None:
    assert os_release(text) == release


@settings(max_examples=200, deadline=None)
@given(st.text(), st.text())
def test_any_database_text_never_crashes_the_inventory_parsers(status: str, rpm: str) -> None:
    for row in dpkg_status(status, "h", "amd64") + rpm_query(rpm, "h", "x86_64"):
        assert row.key.startswith("h/") and row.source
    os_release(status)
