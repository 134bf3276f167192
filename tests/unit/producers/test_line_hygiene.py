"""Real-log damage every text parser meets: terminal escapes (bug 1) and bytes that are not UTF-8 (bug 3).

One rule for every parser: terminal escapes are removed before a line is split; every valid item of a
line is kept and the item holding undecodable bytes is reported, never accepted with U+FFFD in a name.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.packages import make_parser, parse_bytes
from producers.packages.dnf import DnfLogParser
from producers.text import clean
from schemas.envelope import Envelope
from tests.unit.producers.support import FIXTURES as FIXTURES_DIR
from tests.unit.producers.support import by_package, changes, errors, parse_fixture

ESC = "\x1b"


def test_clean_removes_csi_osc_and_charset_designations() -> None:
    row = f" {ESC}[1m{ESC}[32mkernel              {ESC}(B{ESC}[m x86_64 4.18.0-240.15.1.el8_3"
    assert clean(row) == " kernel               x86_64 4.18.0-240.15.1.el8_3"
    assert clean(f"{ESC}]0;title{ESC}\\ok{ESC}]8;;http://x\x07link{ESC}]8;;\x07") == "oklink"
    assert clean(f"a{ESC}[2Kb{ESC}7c{ESC}=d\x9b1me\r") == "abcde"
    assert clean("plain text") == "plain text"


@given(st.text(alphabet=st.sampled_from(["a", " ", ESC, "[", "(", "B", "m", "1", ";", "]", "\x07", "\\"])))
def test_clean_never_crashes_and_leaves_no_escape(text: str) -> None:
    out = clean(text)
    assert ESC not in out
    assert len(out) <= len(text)


def test_rhel8_dnf_log_with_colour_escapes_reads_every_row() -> None:
    """Transcribed RHEL 8 dnf.log (tests/fixtures/README.md): names in ESC[1m ESC[32m ... ESC(B ESC[m."""
    results = parse_fixture(DnfLogParser(), "dnf_rhel8_colour.log")
    assert errors(results) == []
    got = by_package(results)
    assert set(got) == {
        ("kernel", "install"),
        ("kernel-core", "install"),
        ("kernel-modules", "install"),
        ("openssl", "upgrade"),
        ("openssl-libs", "upgrade"),
    }
    kernel = got[("kernel", "install")]
    assert (kernel.arch, kernel.new_version, kernel.repo) == (
        "x86_64",
        "4.18.0-240.15.1.el8_3",
        "rhel-8-baseos-rhui-rpms",
    )
    assert got[("kernel-core", "install")].automatic is True
    openssl = got[("openssl", "upgrade")]
    assert (openssl.old_version, openssl.new_version, openssl.epoch) == (
        "1.1.1g-11.el8",
        "1.1.1g-12.el8_3",
        "1",
    )
    assert not any(ESC in c.package or "[" in c.package for c in changes(results))


@pytest.mark.parametrize(
    ("kind", "line"),
    [
        ("dpkg", f"2024-01-15 10:00:01 install {ESC}[1mhtop{ESC}[0m:amd64 <none> 3.2.2-2"),
        (
            "dnf-rpm",
            f"2024-01-15T10:00:01+0000 SUBDEBUG Installed: {ESC}[32mhtop-3.3.0-1.fc39.x86_64{ESC}(B{ESC}[m",
        ),
    ],
)
def test_escapes_are_removed_for_every_line_parser(kind: str, line: str) -> None:
    got = changes(parse_bytes(make_parser(kind, tz=UTC), line.encode() + b"\n"))
    assert [c.package for c in got] == ["htop"]


# -- bytes that are not UTF-8 inside a line ---------------------------------------------------------

APT_DAMAGED = b"""Start-Date: 2024-01-15  10:00:00
Commandline: apt install liba libb libc libd
Install: liba:amd64 (1.0), lib\xffb:amd64 (2.0), libc:amd64 (3.0, automatic), libd:amd64 (4.\xfe0)
End-Date: 2024-01-15  10:00:05
"""


def test_apt_keeps_the_valid_items_of_a_line_and_reports_each_broken_one() -> None:
    results = parse_bytes(make_parser("apt", tz=UTC), APT_DAMAGED)
    assert [(c.package, c.new_version) for c in changes(results)] == [("liba", "1.0"), ("libc", "3.0")]
    errs = errors(results)
    assert len(errs) == 2
    assert all("not UTF-8" in e.error for e in errs)
    assert "lib\ufffdb" in errs[0].error and "4.\ufffd0" in errs[1].error


def test_apt_reads_on_after_an_item_whose_shape_is_damaged() -> None:
    data = b"""Start-Date: 2024-01-15  10:00:00
Install: liba:amd64 (1.0), libb:amd64 2.0), libc:amd64 (3.0)
End-Date: 2024-01-15  10:00:05
"""
    results = parse_bytes(make_parser("apt", tz=UTC), data)
    assert [c.package for c in changes(results)] == ["liba", "libc"]
    assert len(errors(results)) == 1


LIBA = b"2024-01-15 10:00:02 install liba:amd64 <none> 1.0\n"


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        (
            "dpkg",
            b"2024-01-15 10:00:01 install lib\xffb:amd64 <none> 2.0\n" + LIBA,
        ),
        (
            "dpkg",
            b"2024-01-15 10:00:01 upgrade libb:amd64 1.0 2.\xff0\n" + LIBA,
        ),
        (
            "dnf-rpm",
            b"2024-01-15T10:00:01+0000 SUBDEBUG Installed: lib\xffb-2.0-1.fc39.x86_64\n"
            b"2024-01-15T10:00:02+0000 SUBDEBUG Installed: liba-1.0-1.fc39.x86_64\n",
        ),
    ],
)
def test_one_line_parsers_report_the_broken_line_and_keep_the_rest(kind: str, data: bytes) -> None:
    results = parse_bytes(make_parser(kind, tz=UTC), data)
    assert [c.package for c in changes(results)] == ["liba"]
    assert len(errors(results)) == 1
    assert "not UTF-8" in errors(results)[0].error


def test_dnf_table_row_with_broken_bytes_is_reported_and_the_others_kept() -> None:
    raw = (FIXTURES_DIR / "dnf_rhel8_colour.log").read_bytes().replace(b"openssl-libs ", b"openssl-l\xffbs ")
    results = parse_bytes(DnfLogParser(), raw)
    assert {c.package for c in changes(results)} == {"kernel", "kernel-core", "kernel-modules", "openssl"}
    assert [e.error for e in errors(results)] == ["transaction table row holds bytes that are not UTF-8"]


def test_network_tool_output_with_escapes_gives_the_same_rules(tmp_path: Path) -> None:
    from producers.network import firewall

    data = Path(__file__).resolve().parents[2] / "data" / "network" / "ufw-status-verbose.txt"
    plain = data.read_text()
    coloured = plain.replace("ALLOW IN", f"{ESC}[32mALLOW IN{ESC}[0m").replace(
        "Status:", f"{ESC}[1mStatus:{ESC}(B{ESC}[m"
    )
    assert coloured != plain
    (tmp_path / "ufw.txt").write_text(coloured)
    envelopes, _ = _parse_kind("ufw", tmp_path / "ufw.txt")
    rules = sorted(e.payload["key"] for e in envelopes if e.type == "NetworkStateObserved")
    assert rules and rules == sorted(firewall.rule_items(firewall.parse_ufw_status(plain)))


def test_a_journal_message_with_colour_is_read_without_it() -> None:
    from producers.journald.entries import observe

    sudo = "   alice : TTY=pts/0 ; USER=root ; COMMAND=/usr/bin/id"
    obs = observe(
        {"__CURSOR": "c", "__REALTIME_TIMESTAMP": "1700000000000000", "MESSAGE": f"{ESC}[0;31m{sudo}{ESC}[0m"}
    )
    assert obs.message == sudo


def _parse_kind(kind: str, path: Path) -> tuple[list[Envelope], str]:
    import io

    from producers.kinds import KINDS
    from watchman.parsing import run

    out, err = io.BytesIO(), io.StringIO()
    run(KINDS[kind], path, host="h", tz=UTC, out=out, err=err)
    return [Envelope.from_json(x) for x in out.getvalue().splitlines()], err.getvalue()
