"""`watchman parse KIND FILE`: every kind the registry holds is tested on a sample, bad input is
reported one JSON line per record with exit code 3, and the new parsers never crash."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.journald.kinds import export_entries, parse_json_lines, parse_json_pretty
from producers.kinds import KINDS
from producers.network import dns, ipjson
from producers.parse_kind import ParseOptions
from schemas.envelope import Envelope
from watchman.parsing import run

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "fixtures" / "packages"
NET = ROOT / "data" / "network"
NOW = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
OPTS = ParseOptions(host="h", tz=UTC, now=NOW)

# kind -> (sample, a decision it must lead to)
SAMPLES: dict[str, tuple[Path, str]] = {
    "apt": (PKG / "apt_history_debian12.log", "PackageInstalled"),
    "dpkg": (PKG / "dpkg_debian12.log", "PackageUpgraded"),
    "dnf-rpm": (PKG / "dnf_rpm.log", "PackageInstalled"),
    "dnf": (PKG / "dnf.log", "PackageInstalled"),
    "dnf5": (PKG / "dnf5.log", "PackageUpgraded"),
    "dnf-history": (PKG / "dnf_history_info.txt", "PackageUpgraded"),
    "auth": (ROOT / "data" / "auth" / "auth-traditional.log", "SudoCommandRun"),
    "nft": (NET / "nft-ruleset.json", "FirewallRuleAdded"),
    "iptables": (NET / "iptables-save.txt", "FirewallRuleAdded"),
    "ip6tables": (NET / "ip6tables-save.txt", "FirewallRuleAdded"),
    "ufw": (NET / "ufw-status-verbose.txt", "FirewallRuleAdded"),
    "firewalld": (NET / "firewalld-list-all-zones.txt", "FirewallRuleAdded"),
    "ip-link": (NET / "ip-link-tun.json", "InterfaceDown"),
    "resolv.conf": (NET / "resolv.conf", "DnsServersChanged"),
    "resolvectl": (NET / "resolvectl-status.txt", "DnsServersChanged"),
    "wg": (NET / "wg-show-all-dump.txt", "VpnDisconnected"),  # its handshakes are old by NOW
    "tailscale": (NET / "tailscale-status.json", "VpnConnected"),
    "github-runner-diag": (
        ROOT / "data" / "runners" / "github" / "_diag" / "Runner_20261204-101500-utc.log",
        "JobCompleted",
    ),
    "gitlab-runner-log": (ROOT / "data" / "runners" / "gitlab" / "gitlab-runner.log", "JobFailed"),
    "osv": (ROOT / "data" / "vulnerabilities" / "osv" / "DSA-5514-1.json", "VulnerabilityPublished"),
    "debian-tracker": (
        ROOT / "data" / "vulnerabilities" / "debian-tracker-glibc.json",
        "VulnerabilityPublished",
    ),
}
# Tested on real tool output made by the test (tests/integration/test_parse_kinds_real.py), or on a
# Homebrew prefix (tests/unit/producers/test_brew.py tests brew.parse_dir, which the kind calls).
ELSEWHERE = {
    "journal-json",
    "journal-json-pretty",
    "journal-export",
    "ip-addr",
    "ip-route",
    "docker-events",
    "brew",
}


def parse(kind: str, path: Path) -> tuple[list[Envelope], list[dict[str, Any]]]:
    out, err = io.BytesIO(), io.StringIO()
    run(KINDS[kind], path, host="h", tz=UTC, out=out, err=err, now=NOW)
    return [Envelope.from_json(x) for x in out.getvalue().splitlines()], [
        orjson.loads(x) for x in err.getvalue().splitlines()
    ]


def test_every_kind_is_tested_somewhere() -> None:
    assert set(KINDS) == set(SAMPLES) | ELSEWHERE
    assert not set(SAMPLES) & ELSEWHERE


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_kind_on_its_sample(kind: str) -> None:
    sample, decision = SAMPLES[kind]
    envelopes, errors = parse(kind, sample)
    assert errors == []
    observed = [e for e in envelopes if not e.source.startswith("processors.")]
    assert observed and all(e.type.endswith("Observed") for e in observed)
    assert decision in {e.type for e in envelopes if e.source.startswith("processors.")}


def test_resolvectl_status_tells_what_resolvectl_dns_and_domain_tell() -> None:
    status = dns.parse_resolvectl_status((NET / "resolvectl-status.txt").read_text())
    split = dns.parse_resolvectl(
        (NET / "resolvectl-dns.txt").read_text(), (NET / "resolvectl-domain.txt").read_text()
    )
    assert status == split


def test_bad_records_exit_3_with_one_json_line_each(tmp_path: Path) -> None:
    bad = tmp_path / "dpkg.log"
    good = "2024-01-15 10:00:02 install liba:amd64 <none> 1.0\n"
    bad.write_bytes(
        b"garbage one\n" + good.encode() + b"2024-01-15 10:00:03 install lib\xffb:amd64 <none> 2.0\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "watchman", "parse", "dpkg", str(bad), "--tz", "UTC"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 3
    records = [orjson.loads(x) for x in proc.stderr.splitlines() if x.startswith(b"{")]
    assert [r["position"] for r in records] == ["offset 0", "offset 62"]
    assert all(r["kind"] == "dpkg" and r["error"] for r in records)
    out = [orjson.loads(x) for x in proc.stdout.splitlines()]
    assert [(x["type"], x["subject"]) for x in out] == [
        ("PackageChangeObserved", "liba"),
        ("PackageInstalled", "liba"),
    ]


def test_unknown_kind_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("x")
    proc = subprocess.run(
        [sys.executable, "-m", "watchman", "parse", "nosuchkind", str(tmp_path / "x")],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2


def test_a_document_that_is_not_the_kind_is_one_bad_record(tmp_path: Path) -> None:
    f = tmp_path / "x.json"
    f.write_text("{not json")
    envelopes, errors = parse("nft", f)
    assert envelopes == [] and len(errors) == 1 and errors[0]["position"] == "whole file"


# -- the new parsers never crash -------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150)
@given(st.lists(json_values, max_size=5))
def test_journal_json_never_crashes(objs: list[Any]) -> None:
    data = b"\n".join(orjson.dumps(o) for o in objs)
    list(parse_json_lines(io.BytesIO(data), OPTS))
    list(parse_json_pretty(data.decode(), OPTS))


@settings(max_examples=150)
@given(st.binary(max_size=400))
def test_journal_export_never_crashes(data: bytes) -> None:
    for _n, got in export_entries(io.BytesIO(data)):
        assert isinstance(got, dict | str)


@settings(max_examples=150)
@given(st.lists(st.dictionaries(st.sampled_from(["ifindex", "ifname", "flags", "mtu", "operstate", "address",
       "addr_info", "dst", "gateway", "dev", "protocol", "scope", "metric", "table", "type", "master",
       "linkinfo", "family", "local", "prefixlen"]), json_values, max_size=8), max_size=4))  # fmt: skip
def test_ip_json_never_crashes(objs: list[dict[str, Any]]) -> None:
    text = orjson.dumps(objs).decode()
    for fn in (ipjson.links, ipjson.addresses, ipjson.routes):
        # What may be raised is what the kind reports as a bad record; nothing else.
        with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError, IndexError):
            fn(text)


@given(st.text(max_size=400))
def test_resolvectl_status_never_crashes(text: str) -> None:
    for item in dns.parse_resolvectl_status(text).values():
        assert item["servers"]
