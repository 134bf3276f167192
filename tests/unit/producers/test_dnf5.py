"""dnf5.log parser: sessions per process, rpm callbacks paired into upgrades, installonly, daemons."""

from __future__ import annotations

from datetime import timedelta

from producers.packages.base import ParseResult, parse_bytes
from producers.packages.dnf5 import Dnf5LogParser
from tests.unit.producers.support import (
    FIXTURES,
    changes,
    crash_and_resume,
    errors,
    lines_with_offsets,
    parse_fixture,
    parse_text,
    utc,
)


def _table(parser: Dnf5LogParser | None = None) -> dict[tuple[str, str | None, str], tuple[object, ...]]:
    got = changes(parse_fixture(parser or Dnf5LogParser(), "dnf5.log"))
    return {
        (c.package, c.arch, c.action): (c.old_version, c.new_version, c.epoch, c.commandline) for c in got
    }


def test_fixture_parses_without_errors() -> None:
    results = parse_fixture(Dnf5LogParser(), "dnf5.log")
    assert errors(results) == []
    assert len(changes(results)) == 11


def test_arriving_and_leaving_versions_pair_by_name_and_arch() -> None:
    table = _table()
    cmd = "dnf upgrade -y"
    assert table[("cmake-rpm-macros", "noarch", "upgrade")] == ("3.28.2-1.fc40", "3.28.3-1.fc40", None, cmd)
    assert table[("openssl-libs", "x86_64", "upgrade")] == ("3.2.1-1.fc40", "3.2.1-2.fc40", "1", cmd)
    assert table[("nano", "x86_64", "reinstall")] == ("7.2-6.fc40", "7.2-6.fc40", None, cmd)
    assert table[("curl", "x86_64", "downgrade")] == ("8.6.0-7.fc40", "8.6.0-6.fc40", None, cmd)
    assert table[("htop", "x86_64", "install")] == (None, "3.3.0-3.fc40", None, cmd)
    assert table[("nano-default-editor", "noarch", "remove")] == ("7.2-6.fc40", None, None, cmd)


def test_installonly_packages_are_installed_and_removed_not_upgraded() -> None:
    table = _table()
    assert table[("kernel-core", "x86_64", "install")][:2] == (None, "6.8.8-300.fc40")
    assert table[("kernel-core", "x86_64", "remove")][:2] == ("6.8.5-301.fc40", None)
    # told that nothing is installonly, the same lines read as an upgrade
    plain = _table(Dnf5LogParser(installonly=()))
    assert plain[("kernel-core", "x86_64", "upgrade")][:2] == ("6.8.5-301.fc40", "6.8.8-300.fc40")


def test_session_times_and_interleaved_processes() -> None:
    got = changes(parse_fixture(Dnf5LogParser(), "dnf5.log"))
    htop = next(c for c in got if c.package == "htop")
    assert htop.ts == utc(2024, 4, 30, 3, 56, 55)
    assert htop.session_start == utc(2024, 4, 30, 3, 56, 40)
    assert htop.session_end == utc(2024, 4, 30, 3, 56, 58)
    assert not any("makecache" in (c.commandline or "") for c in got)


def test_a_failed_command_marks_what_it_did_install() -> None:
    got = changes(parse_fixture(Dnf5LogParser(), "dnf5.log"))
    (lib,) = [c for c in got if c.package == "libbroken"]
    assert lib.error is not None and "%pre scriptlet" in lib.error
    assert lib.session_end == utc(2024, 4, 30, 16, 33, 38)


def test_a_daemon_without_launch_line_is_split_at_each_transaction() -> None:
    data = (FIXTURES / "dnf5.log").read_bytes()
    lines = lines_with_offsets(data)
    parser = Dnf5LogParser()
    emitted = []
    for offset, line in lines:
        out = changes(parser.feed(line, offset))
        if out:
            emitted.append((line, [c.package for c in out]))
    assert emitted[-1][1] == ["flatpak"] and "11:30:00" in emitted[-1][0]
    daemon_start = next(o for o, line in lines if "[991]" in line and "11:30:00" in line)
    assert parser.pending_start() == daemon_start
    (tour,) = changes(parser.flush())
    assert (tour.package, tour.commandline, tour.session_start, tour.session_end) == (
        "gnome-tour",
        None,
        None,
        None,
    )


def test_pending_start_follows_the_open_sessions() -> None:
    data = (FIXTURES / "dnf5.log").read_bytes()
    lines = lines_with_offsets(data)
    parser = Dnf5LogParser()
    for offset, line in lines:
        parser.feed(line, offset)
        if "makecache" in line:
            assert parser.pending_start() == 0  # the upgrade started first and is still open
        if "[18165] INFO DNF5 finished" in line:
            assert parser.pending_start() is None
            break


def test_idle_sessions_are_closed() -> None:
    text = (
        '2024-05-01T10:00:00+0000 [5] INFO --- DNF5 launched with arguments: "dnf install foo" ---\n'
        '2024-05-01T10:00:01+0000 [5] INFO RPM callback install stop "foo-0:1-1.x86_64" amount 1 total 1\n'
        '2024-05-01T12:00:00+0000 [6] INFO --- DNF5 launched with arguments: "dnf repoquery" ---\n'
    )
    parser = Dnf5LogParser(idle_after=timedelta(hours=1))
    out = []
    for offset, line in lines_with_offsets(text.encode()):
        out.extend(parser.feed(line, offset))
    (foo,) = changes(out)
    assert foo.session_end is None and foo.commandline == "dnf install foo"


def test_each_transaction_of_a_long_lived_process_stands_alone() -> None:
    text = (
        "2024-05-01T10:00:00+0000 [5] INFO RPM callback transaction start, total 1\n"
        '2024-05-01T10:00:01+0000 [5] INFO RPM callback install stop "foo-0:2-1.x86_64" amount 1 total 1\n'
        '2024-05-01T10:00:02+0000 [5] ERROR RPM callback unpack error "bar-0:1-1.x86_64"\n'
        "2024-05-01T10:30:00+0000 [5] INFO RPM callback transaction start, total 1\n"
        '2024-05-01T10:30:01+0000 [5] INFO RPM callback uninstall stop "foo-0:2-1.x86_64" amount 1 total 1\n'
    )
    got = changes(parse_text(Dnf5LogParser(), text))
    assert [(c.package, c.action, c.error is not None) for c in got] == [
        ("foo", "install", True),
        ("foo", "remove", False),
    ]


def test_pid_reuse_closes_the_old_session() -> None:
    text = (
        '2024-05-01T10:00:00+0000 [5] INFO --- DNF5 launched with arguments: "dnf install foo" ---\n'
        '2024-05-01T10:00:01+0000 [5] INFO RPM callback install stop "foo-0:1-1.x86_64" amount 1 total 1\n'
        '2024-05-01T10:05:00+0000 [5] INFO --- DNF5 launched with arguments: "dnf install bar" ---\n'
        '2024-05-01T10:05:01+0000 [5] INFO RPM callback install stop "bar-0:1-1.x86_64" amount 1 total 1\n'
        "2024-05-01T10:05:02+0000 [5] INFO DNF5 finished\n"
    )
    got = changes(parse_text(Dnf5LogParser(), text))
    assert [(c.package, c.commandline) for c in got] == [
        ("foo", "dnf install foo"),
        ("bar", "dnf install bar"),
    ]


def test_malformed_and_continuation_lines() -> None:
    parser = Dnf5LogParser()
    assert parser.feed("  scriptlet output without a timestamp", 0) == []
    (bad_ts,) = errors(parser.feed("2024-05-01T99:00:00+0000 [5] INFO DNF5 finished", 10))
    assert "invalid timestamp" in bad_ts.error
    (bad_pkg,) = errors(
        parser.feed('2024-05-01T10:00:00+0000 [5] INFO RPM callback install stop "x" amount 1', 20)
    )
    assert "cannot split package" in bad_pkg.error and bad_pkg.source == "dnf5"


def test_crash_anywhere_and_resume_gives_the_same_changes() -> None:
    data = (FIXTURES / "dnf5.log").read_bytes()
    full = set(parse_fixture(Dnf5LogParser(), "dnf5.log"))
    for crash_after in range(len(lines_with_offsets(data)) + 1):
        assert set(crash_and_resume(Dnf5LogParser, data, crash_after)) == full, crash_after


# -- a damaged rpm callback line (bytes that are not UTF-8): never a guess ---------------------------


def _damaged(old: bytes, new: bytes) -> list[ParseResult]:
    data = (FIXTURES / "dnf5.log").read_bytes()
    assert data.count(old) == 1
    return parse_bytes(Dnf5LogParser(), data.replace(old, new))


def test_damaged_leaving_side_turns_no_downgrade_into_an_install() -> None:
    """The old side of curl's downgrade is damaged: its new side must not become an install."""
    results = _damaged(b'uninstall stop "curl-0:8.6.0-7', b'uninstall stop "cu\xffl-0:8.6.0-7')
    got = {(c.package, c.action) for c in changes(results)}
    assert ("curl", "install") not in got and ("curl", "downgrade") not in got
    # What still pairs is still right.
    assert {("openssl-libs", "upgrade"), ("nano", "reinstall"), ("cmake-rpm-macros", "upgrade")} <= got
    reasons = [e.error for e in errors(results)]
    assert any("not UTF-8" in r for r in reasons)
    assert any(r.startswith("curl arrived without a partner") for r in reasons)


def test_damaged_callback_keyword_loses_no_package_silently() -> None:
    """`RPM callback` itself is damaged: the line is reported and its transaction's unpaired sides too."""
    results = _damaged(
        b'RPM callback install stop "nano-0:7.2-6', b'RPM c\xe9llback install stop "nano-0:7.2-6'
    )
    got = {(c.package, c.action) for c in changes(results)}
    assert not {("nano", "remove"), ("nano", "reinstall"), ("nano", "install")} & got
    reasons = [e.error for e in errors(results)]
    assert any("nano left without a partner" in r for r in reasons)
    assert any("not UTF-8" in r for r in reasons)
    # Every package the transaction touched is either a change or an error: none vanished.
    told = {c.package for c in changes(results)} | {
        r.split(" ", 1)[0] for r in reasons if "without a partner" in r
    }
    assert {"cmake-rpm-macros", "openssl-libs", "htop", "nano", "curl", "nano-default-editor"} <= told


def test_damage_in_one_transaction_leaves_the_others_alone() -> None:
    results = _damaged(b'uninstall stop "curl-0:8.6.0-7', b'uninstall stop "cu\xffl-0:8.6.0-7')
    got = {(c.package, c.action) for c in changes(results)}
    assert ("flatpak", "upgrade") in got and ("gnome-tour", "install") in got
