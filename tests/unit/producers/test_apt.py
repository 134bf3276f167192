"""apt history.log parser: entries, every action, automatic markers, old formats, and checkpointing."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

import pytest

from producers.packages.apt import AptHistoryParser
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


def test_real_debian_log_parses_completely() -> None:
    results = parse_fixture(AptHistoryParser(tz=UTC), "apt_history_debian12.log")
    assert errors(results) == []
    text = (FIXTURES / "apt_history_debian12.log").read_text()
    listed = sum(
        line.count("), ") + 1
        for line in text.splitlines()
        if line.split(":", 1)[0] in ("Install", "Upgrade", "Downgrade", "Remove", "Purge", "Reinstall")
    )
    assert len(changes(results)) == listed


def test_real_debian_log_fields() -> None:
    results = changes(
        parse_fixture(AptHistoryParser(tz=ZoneInfo("Europe/Berlin")), "apt_history_debian12.log")
    )
    first = results[0]
    assert (first.package, first.arch, first.action) == ("libsystemd0", "amd64", "upgrade")
    assert (first.old_version, first.new_version) == ("252.36-1~deb12u1", "252.38-1~deb12u1")
    # 14:36:25 in Berlin summer time is 12:36:25 UTC
    assert first.ts == first.session_start == first.session_end == utc(2025, 6, 24, 12, 36, 25)
    assert first.commandline == "apt-get -qqy upgrade"
    assert first.requested_by is None and first.automatic is None

    llvm = [c for c in results if c.package == "libllvm19"]
    assert [c.action for c in llvm] == ["install", "purge"]
    install, purge = llvm
    assert install.new_version == "1:19.1.7-3~deb12u1" and install.epoch == "1" and install.automatic is True
    assert purge.old_version == "1:19.1.7-3~deb12u1" and purge.new_version is None and purge.automatic is None
    assert sum(c.action == "purge" for c in results) == 16
    clang = next(c for c in results if c.package == "clang-19" and c.action == "install")
    assert clang.automatic is False


def test_every_action_and_its_versions() -> None:
    got = by_package(parse_fixture(AptHistoryParser(tz=UTC), "apt_history_edge.log"))

    htop = got[("htop", "install")]
    assert (htop.old_version, htop.new_version, htop.automatic) == (None, "3.2.2-2", False)
    assert htop.requested_by == "alice"
    assert htop.session_start == utc(2024, 1, 15, 10, 23, 45) and htop.session_end == utc(
        2024, 1, 15, 10, 23, 50
    )
    assert got[("libhwloc15", "install")].automatic is True
    assert got[("libnl-3-200", "install")].arch == "i386"

    ssh = got[("openssh-client", "upgrade")]
    assert (ssh.old_version, ssh.new_version, ssh.epoch) == ("1:9.2p1-2+deb12u1", "1:9.2p1-2+deb12u2", "1")
    assert ssh.automatic is None and ssh.requested_by is None

    curl = got[("curl", "downgrade")]
    assert (curl.old_version, curl.new_version, curl.requested_by) == (
        "7.88.1-10+deb12u5",
        "7.88.1-10",
        "bob",
    )

    nano = got[("nano", "reinstall")]
    assert nano.old_version == nano.new_version == "7.2-1"

    kernel = got[("linux-image-6.1.0-15-amd64", "remove")]
    assert (kernel.old_version, kernel.new_version) == ("6.1.66-1", None)
    assert got[("libfoo1", "purge")].old_version == "1.0-3"
    remnant = got[("oldconf", "purge")]  # purging a config-files remnant: apt prints `()`
    assert remnant.old_version is None and remnant.new_version is None


def test_error_applies_to_every_change_of_its_entry() -> None:
    got = by_package(parse_fixture(AptHistoryParser(tz=UTC), "apt_history_edge.log"))
    for name in ("containerd.io", "docker-ce-cli", "docker-ce", "pigz"):
        assert got[(name, "install")].error == "Sub-process /usr/bin/dpkg returned an error code (1)"
    assert got[("docker-ce", "install")].epoch == "5"
    assert got[("htop", "install")].error is None


def test_old_format_without_arch() -> None:
    got = by_package(parse_fixture(AptHistoryParser(tz=UTC), "apt_history_edge.log"))
    vim = got[("vim", "install")]
    assert vim.arch is None and vim.new_version == "7.2.445+hg~cb94c42-1" and vim.automatic is False
    assert got[("vim-runtime", "install")].automatic is True
    libc = got[("libc6", "upgrade")]
    assert (libc.arch, libc.old_version, libc.new_version) == (None, "2.11.2-10", "2.11.2-11")


def test_missing_end_date_completes_at_next_start_date() -> None:
    got = by_package(parse_fixture(AptHistoryParser(tz=UTC), "apt_history_edge.log"))
    kernel = got[("linux-image-amd64", "upgrade")]
    assert kernel.session_start == utc(2024, 1, 21, 22, 0, 0)
    assert kernel.session_end is None
    assert got[("jq", "install")].requested_by == "carol"


def test_changes_wait_for_end_date_and_pending_start_marks_the_entry() -> None:
    data = (FIXTURES / "apt_history_edge.log").read_bytes()
    lines = lines_with_offsets(data)
    parser = AptHistoryParser(tz=UTC)
    start_offset = next(o for o, line in lines if line.startswith("Start-Date: 2024-01-15"))
    for offset, line in lines:
        out = parser.feed(line, offset)
        if line.startswith("End-Date: 2024-01-15"):
            assert {c.package for c in changes(out)} == {"libhwloc15", "htop", "libnl-3-200"}
            assert parser.pending_start() is None
            break
        assert changes(out) == []
        if offset >= start_offset:
            assert parser.pending_start() == start_offset
        else:
            assert parser.pending_start() is None


def test_pending_start_moves_to_the_next_entry_when_end_date_is_missing() -> None:
    text = (
        "Start-Date: 2024-01-21  22:00:00\n"
        "Upgrade: linux-image-amd64:amd64 (6.1.66-1, 6.1.69-1)\n"
        "\n"
        "Start-Date: 2024-01-22  06:30:00\n"
        "Install: jq:amd64 (1.6-2.1)\n"
    )
    parser = AptHistoryParser(tz=UTC)
    lines = lines_with_offsets(text.encode())
    assert changes(parser.feed(lines[0][1], lines[0][0])) == []
    parser.feed(lines[1][1], lines[1][0])
    parser.feed(lines[2][1], lines[2][0])
    assert parser.pending_start() == 0
    out = parser.feed(lines[3][1], lines[3][0])
    assert [c.package for c in changes(out)] == ["linux-image-amd64"]
    assert parser.pending_start() == lines[3][0]
    parser.feed(lines[4][1], lines[4][0])
    assert [c.package for c in changes(parser.flush())] == ["jq"]
    assert parser.pending_start() is None


@pytest.mark.parametrize("fixture", ["apt_history_edge.log", "apt_history_debian12.log"])
def test_crash_anywhere_and_resume_gives_the_same_changes_once(fixture: str) -> None:
    data = (FIXTURES / fixture).read_bytes()
    full = parse_fixture(AptHistoryParser(tz=UTC), fixture)
    for crash_after in range(len(lines_with_offsets(data)) + 1):
        resumed = crash_and_resume(lambda: AptHistoryParser(tz=UTC), data, crash_after)
        assert resumed == full, f"crash after line {crash_after}"


def test_rfc822_continuation_extends_the_value() -> None:
    text = (
        "Start-Date: 2024-02-01  10:00:00\n"
        "Commandline: apt install foo\n"
        "Install: foo:amd64 (1.0)\n"
        "Error: W: something went wrong\n"
        " E: and then this\n"
        "End-Date: 2024-02-01  10:00:05\n"
    )
    (foo,) = changes(parse_text(AptHistoryParser(tz=UTC), text))
    assert foo.error == "W: something went wrong\nE: and then this"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Install: foo:amd64 (1.0)\n", "outside an entry"),
        ("garbage without a colon\n", "not a `Key: value` line"),
        ("Start-Date: 2024-13-45  99:00:00\nInstall: foo:amd64 (1.0)\n", "invalid Start-Date"),
        (
            "Start-Date: 2024-02-01  10:00:00\nUpgrade: foo:amd64 (1.0)\nEnd-Date: 2024-02-01  10:00:01\n",
            "needs (old, new) versions",
        ),
        (
            "Start-Date: 2024-02-01  10:00:00\nInstall: foo:amd64 1.0\nEnd-Date: 2024-02-01  10:00:01\n",
            "unparsable",
        ),
    ],
)
def test_malformed_lines_become_parse_errors(text: str, message: str) -> None:
    results = parse_text(AptHistoryParser(tz=UTC), text)
    assert any(message in e.error for e in errors(results)), errors(results)
    assert all(e.source == "apt" for e in errors(results))


def test_bad_start_date_falls_back_to_end_date() -> None:
    text = "Start-Date: 2024-02-30  10:00:00\nInstall: foo:amd64 (1.0)\nEnd-Date: 2024-03-01  10:00:05\n"
    results = parse_text(AptHistoryParser(tz=UTC), text)
    (foo,) = changes(results)
    assert foo.ts == utc(2024, 3, 1, 10, 0, 5) and foo.session_start is None
    assert len(errors(results)) == 1


def test_good_items_survive_a_bad_one_on_the_same_line() -> None:
    text = (
        "Start-Date: 2024-02-01  10:00:00\n"
        "Install: a:amd64 (1.0), b:amd64 1.0, c:amd64 (2.0)\n"
        "End-Date: 2024-02-01  10:00:01\n"
    )
    results = parse_text(AptHistoryParser(tz=UTC), text)
    assert [c.package for c in changes(results)] == ["a"]
    (err,) = errors(results)
    assert err.offset == len("Start-Date: 2024-02-01  10:00:00\n") and "b:amd64" in err.error
