"""`dnf history info` / `yum history info` output (transcriptions, tests/fixtures/README.md)."""

from __future__ import annotations

from datetime import UTC

from producers.packages.history import HistoryInfoParser
from tests.unit.producers.support import by_package, changes, errors, parse_fixture, parse_text, utc


def test_dnf4_history_info_with_both_time_formats() -> None:
    results = parse_fixture(HistoryInfoParser(tz=UTC), "dnf_history_info.txt")
    assert errors(results) == []
    got = by_package(results)
    assert set(got) == {
        ("kernel", "install"), ("kernel-core", "install"), ("kernel-modules", "install"),
        ("openssl", "upgrade"), ("openssl-libs", "upgrade"),
        ("nano", "downgrade"), ("tar", "reinstall"), ("telnet", "remove"),
    }  # fmt: skip
    openssl = got[("openssl", "upgrade")]
    assert (openssl.old_version, openssl.new_version, openssl.epoch, openssl.repo) == (
        "1.1.1g-11.el8", "1.1.1g-12.el8_3", "1", "rhel-8-baseos-rhui-rpms"
    )  # fmt: skip
    assert openssl.ts == utc(2021, 3, 2, 14, 5, 3)
    assert openssl.commandline == "upgrade -y kernel openssl"
    assert got[("nano", "downgrade")].ts == utc(2021, 3, 3, 9, 12, 44)
    assert (got[("telnet", "remove")].old_version, got[("telnet", "remove")].new_version) == (
        "0.17-76.el8",
        None,
    )


def test_yum3_history_info_pairs_the_bare_new_version() -> None:
    results = parse_fixture(HistoryInfoParser(tz=UTC), "yum_history_info.txt")
    assert errors(results) == []
    got = by_package(results)
    assert set(got) == {
        ("openssl", "upgrade"), ("openssl-libs", "upgrade"), ("nano", "install"), ("wget", "install"),
        ("telnet", "remove"),
    }  # fmt: skip
    ossl = got[("openssl-libs", "upgrade")]
    assert (ossl.old_version, ossl.new_version, ossl.arch, ossl.repo) == (
        "1.0.2k-19.el7", "1.0.2k-21.el7_9", "x86_64", "updates"
    )  # fmt: skip
    assert not any(c.package in ("rpm", "yum") for c in changes(results))  # `performed with` is no change


def test_an_unpaired_side_is_an_error_not_a_guess() -> None:
    text = """Transaction ID : 9
Begin time     : Wed Mar  3 09:12:44 2021
Packages Altered:
    Upgrade   openssl-1:1.1.1g-12.el8_3.x86_64   @updates
    Install   htop-3.2.1-1.el8.x86_64            @epel
"""
    results = parse_text(HistoryInfoParser(tz=UTC), text)
    assert [c.package for c in changes(results)] == ["htop"]
    assert [e.error for e in errors(results)] == ["Upgrade without its other side: cannot tell the change"]


def test_bad_begin_time_and_bad_lines_are_errors() -> None:
    text = "Transaction ID : 1\nBegin time : now\nPackages Altered:\n    Install htop-3.2.1-1.x86_64 @a\n"
    assert len(errors(parse_text(HistoryInfoParser(tz=UTC), text))) == 1
    text = "Transaction ID : 1\nBegin time     : Wed Mar  3 09:12:44 2021\nPackages Altered:\n    ???\n"
    results = parse_text(HistoryInfoParser(tz=UTC), text)
    assert [e.error for e in errors(results)] == ["not an `Action package repo` line"]
