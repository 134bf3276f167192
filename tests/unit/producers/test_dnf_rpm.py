"""dnf.rpm.log parser: per-package verbs, upgrade pairs far apart, old and new dnf wording."""

from __future__ import annotations

from datetime import timedelta

import pytest

from producers.packages.dnf import DnfRpmLogParser
from tests.unit.producers.support import (
    FIXTURES,
    by_package,
    changes,
    crash_and_resume,
    errors,
    lines_with_offsets,
    parse_fixture,
    parse_text,
    utc,
)


def test_fixture_parses_without_errors() -> None:
    results = parse_fixture(DnfRpmLogParser(), "dnf_rpm.log")
    assert errors(results) == []
    assert len(changes(results)) == 18


def test_upgrade_pairs_are_joined_across_other_lines() -> None:
    got = changes(parse_fixture(DnfRpmLogParser(), "dnf_rpm.log"))
    upgrades = {(c.package, c.arch): c for c in got if c.action == "upgrade"}
    openssl = upgrades[("openssl-libs", "x86_64")]
    assert (openssl.old_version, openssl.new_version, openssl.epoch, openssl.release) == (
        "3.1.1-1.fc39",
        "3.1.1-4.fc39",
        "1",
        "4.fc39",
    )
    assert openssl.ts == utc(2024, 1, 16, 8, 0, 5)  # when the new version went in
    dumper = upgrades[("perl-Data-Dumper", "noarch")]
    assert (dumper.old_version, dumper.new_version) == ("2.183-1.fc39", "2.188-1.fc39")
    # multilib: each arch pairs with its own old version
    assert upgrades[("glibc", "i686")].old_version == "2.38-14.fc39"
    assert upgrades[("glibc", "x86_64")].old_version == "2.38-14.fc39"
    assert all(c.source == "dnf-rpm" and c.commandline is None for c in got)


def test_downgrade_reinstall_remove_obsolete_and_installonly() -> None:
    got = by_package(parse_fixture(DnfRpmLogParser(), "dnf_rpm.log"))
    curl = got[("curl", "downgrade")]
    assert (curl.old_version, curl.new_version) == ("8.2.1-3.fc39", "8.2.1-1.fc39")
    nano = got[("nano", "reinstall")]
    assert nano.old_version == nano.new_version == "7.2-5.fc39"
    editor = got[("nano-default-editor", "remove")]
    assert (editor.old_version, editor.new_version, editor.release) == ("7.2-5.fc39", None, "5.fc39")
    assert got[("pulseaudio", "remove")].old_version == "16.1-5.fc39"  # Obsoleted
    assert got[("pipewire-pulseaudio", "install")].new_version == "1.0.1-1.fc39"


def test_installonly_kernel_is_an_install_and_a_remove() -> None:
    got = changes(parse_fixture(DnfRpmLogParser(), "dnf_rpm.log"))
    kernel = [(c.action, c.old_version, c.new_version) for c in got if c.package == "kernel-core"]
    assert kernel == [("install", None, "6.6.11-200.fc39"), ("remove", "6.5.6-300.fc39", None)]


def test_old_dnf_wording_upgraded_then_cleanup() -> None:
    got = by_package(parse_fixture(DnfRpmLogParser(), "dnf_rpm.log"))
    man = got[("man-db", "upgrade")]
    assert (man.old_version, man.new_version) == ("2.7.6.1-2.fc27", "2.7.6.1-5.fc27")
    assert man.ts == utc(2017, 8, 23, 10, 50, 12)
    assert got[("groff-base", "remove")].old_version == "1.22.3-10.fc27"  # `Erased:`
    dnf = got[("dnf", "upgrade")]  # RHEL 8 `...Z` timestamps
    assert (dnf.old_version, dnf.new_version) == ("4.2.17-7.el8_2", "4.7.0-8.el8")


def test_pending_start_holds_the_unpaired_half() -> None:
    text = (
        "2024-01-16T08:00:05+0000 SUBDEBUG Upgrade: openssl-libs-1:3.1.1-4.fc39.x86_64\n"
        "2024-01-16T08:00:06+0000 SUBDEBUG Installed: htop-3.3.0-1.fc39.x86_64\n"
        "2024-01-16T08:00:07+0000 SUBDEBUG Upgraded: openssl-libs-1:3.1.1-1.fc39.x86_64\n"
    )
    lines = lines_with_offsets(text.encode())
    parser = DnfRpmLogParser()
    assert parser.feed(lines[0][1], lines[0][0]) == []
    assert parser.pending_start() == 0
    assert [c.package for c in changes(parser.feed(lines[1][1], lines[1][0]))] == ["htop"]
    assert parser.pending_start() == 0
    (paired,) = changes(parser.feed(lines[2][1], lines[2][0]))
    assert paired.old_version == "3.1.1-1.fc39"
    assert parser.pending_start() is None


def test_an_unpaired_half_is_emitted_alone_at_flush_or_when_stale() -> None:
    line = "2024-01-16T08:00:05+0000 SUBDEBUG Upgrade: openssl-libs-1:3.1.1-4.fc39.x86_64"
    parser = DnfRpmLogParser()
    parser.feed(line, 0)
    (alone,) = changes(parser.flush())
    assert (alone.action, alone.old_version, alone.new_version) == ("upgrade", None, "3.1.1-4.fc39")

    parser = DnfRpmLogParser(stale_after=timedelta(hours=1))
    parser.feed(line, 0)
    assert parser.feed("2024-01-16T08:30:00+0000 INFO --- logging initialized ---", 100) == []
    (stale,) = changes(parser.feed("2024-01-16T09:00:06+0000 INFO --- logging initialized ---", 200))
    assert stale.old_version is None and parser.pending_start() is None


def test_a_second_upgrade_of_the_same_package_releases_the_first() -> None:
    text = (
        "2024-01-16T08:00:05+0000 SUBDEBUG Upgrade: foo-2-1.x86_64\n"
        "2024-01-17T08:00:05+0000 SUBDEBUG Upgrade: foo-3-1.x86_64\n"
        "2024-01-17T08:00:06+0000 SUBDEBUG Upgraded: foo-2-1.x86_64\n"
    )
    got = [(c.old_version, c.new_version) for c in changes(parse_text(DnfRpmLogParser(), text))]
    assert got == [(None, "2-1"), ("2-1", "3-1")]


def test_scriptlet_output_and_noise_are_silent() -> None:
    text = (
        "2024-01-16T08:00:01+0000 INFO --- logging initialized ---\n"
        "2024-01-16T08:00:07+0000 INFO warning: /etc/ssh/sshd_config created as /etc/ssh/sshd_config.rpmnew\n"
        "2024-01-16T08:00:08+0000 INFO \n"
        "Created symlink /etc/systemd/system/multi-user.target.wants/foo.service.\n"
        "\n"
        "2024-01-16T08:00:08+0000 SUBDEBUG Running scriptlet: foo-1-1.x86_64\n"
        "2024-01-16T08:00:08+0000 SUBDEBUG Verified: foo-1-1.x86_64\n"
        "2024-01-16T08:00:09+0000 SUBDEBUG Cleanup: foo-0.9-1.x86_64\n"
    )
    assert parse_text(DnfRpmLogParser(), text) == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("2024-01-16T25:00:05+0000 SUBDEBUG Installed: foo-1-1.x86_64", "invalid timestamp"),
        ("2024-01-16T08:00:05+0000 SUBDEBUG Installed: htop.x86_64", "cannot split package"),
        ("Jan 15 10:23:45 SUBDEBUG Installed: foo-1-1.x86_64", "has no year"),
    ],
)
def test_malformed_lines_become_parse_errors(line: str, message: str) -> None:
    (err,) = errors(DnfRpmLogParser().feed(line, 7))
    assert message in err.error and err.offset == 7 and err.source == "dnf-rpm"


def test_timestamp_forms() -> None:
    for stamp, expected in [
        ("2024-01-16T10:00:05+0200", utc(2024, 1, 16, 8, 0, 5)),
        ("2024-01-16T08:00:05Z", utc(2024, 1, 16, 8, 0, 5)),
        ("2024-01-16T03:00:05-05:00", utc(2024, 1, 16, 8, 0, 5)),
        ("2024-01-16T08:00:05+00", utc(2024, 1, 16, 8, 0, 5)),
    ]:
        (c,) = changes(DnfRpmLogParser().feed(f"{stamp} SUBDEBUG Installed: foo-1-1.x86_64", 0))
        assert c.ts == expected


def test_crash_anywhere_and_resume_gives_the_same_changes() -> None:
    data = (FIXTURES / "dnf_rpm.log").read_bytes()
    full = set(parse_fixture(DnfRpmLogParser(), "dnf_rpm.log"))
    for crash_after in range(len(lines_with_offsets(data)) + 1):
        assert set(crash_and_resume(DnfRpmLogParser, data, crash_after)) == full, crash_after
