"""dnf.log parser: sessions, transaction tables, interleaved runs, and which tables really ran."""

from __future__ import annotations

from datetime import timedelta

from producers.packages.dnf import DnfLogParser
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
    results = parse_fixture(DnfLogParser(), "dnf.log")
    assert errors(results) == []
    assert len(changes(results)) == 18


def test_install_table_with_dependencies_wrapped_rows_and_replacing() -> None:
    got = by_package(parse_fixture(DnfLogParser(), "dnf.log"))
    htop = got[("htop", "install")]
    assert (htop.arch, htop.new_version, htop.release, htop.repo, htop.automatic) == (
        "x86_64",
        "3.3.0-1.fc39",
        "1.fc39",
        "updates",
        False,
    )
    assert (
        htop.commandline == "dnf install htop pipewire-pulseaudio python3-dnf-plugin-post-transaction-actions"
    )
    assert htop.ts == utc(2024, 1, 15, 10, 25, 45)  # `Running transaction`
    assert htop.session_start == utc(2024, 1, 15, 10, 23, 40)
    assert htop.session_end == utc(2024, 1, 15, 10, 25, 47)  # `Complete!`
    assert got[("hwloc-libs", "install")].automatic is True  # Installing dependencies
    assert got[("lm_sensors-libs", "install")].automatic is True  # Installing weak dependencies
    assert got[("lm_sensors-libs", "install")].repo == "fedora"
    wrapped = got[("python3-dnf-plugin-post-transaction-actions", "install")]
    assert (wrapped.arch, wrapped.new_version) == ("noarch", "4.4.4-1.fc39")
    replaced = got[("pulseaudio", "remove")]
    assert (replaced.arch, replaced.old_version, replaced.new_version) == ("x86_64", "16.1-5.fc39", None)


def test_makecache_running_inside_a_user_session_does_not_steal_it() -> None:
    got = changes(parse_fixture(DnfLogParser(), "dnf.log"))
    assert not any("makecache" in (c.commandline or "") for c in got)
    assert {c.commandline for c in got if c.package in ("htop", "hwloc-libs")} == {
        "dnf install htop pipewire-pulseaudio python3-dnf-plugin-post-transaction-actions"
    }


def test_upgrade_takes_old_versions_from_depsolve() -> None:
    got = changes(parse_fixture(DnfLogParser(), "dnf.log"))
    session = [c for c in got if c.commandline == "dnf upgrade -y"]
    table = {(c.package, c.arch, c.action): (c.old_version, c.new_version, c.epoch) for c in session}
    assert table == {
        ("kernel-core", "x86_64", "install"): (None, "6.6.11-200.fc39", None),
        ("glibc", "i686", "upgrade"): ("2.38-14.fc39", "2.38-16.fc39", None),
        ("glibc", "x86_64", "upgrade"): ("2.38-14.fc39", "2.38-16.fc39", None),
        ("openssl", "x86_64", "upgrade"): ("3.1.1-1.fc39", "3.1.1-4.fc39", "1"),
        ("openssl-libs", "x86_64", "upgrade"): ("3.1.1-1.fc39", "3.1.1-4.fc39", "1"),
        ("perl-Data-Dumper", "noarch", "upgrade"): ("2.183-1.fc39", "2.188-1.fc39", None),
        ("kernel-core", "x86_64", "remove"): ("6.5.6-300.fc39", None, None),
    }
    removed = next(c for c in session if c.action == "remove")
    assert removed.repo == "updates"  # `@updates`: where the removed package came from


def test_downgrade_reinstall_and_remove_sessions() -> None:
    got = by_package(parse_fixture(DnfLogParser(), "dnf.log"))
    curl = got[("curl", "downgrade")]
    assert (curl.old_version, curl.new_version, curl.repo) == ("8.2.1-3.fc39", "8.2.1-1.fc39", "fedora")
    nano = got[("nano", "reinstall")]
    assert nano.old_version == nano.new_version == "7.2-5.fc39"
    unused = got[("libmaxminddb", "remove")]
    assert (unused.old_version, unused.repo, unused.commandline) == (
        "1.7.1-3.fc39",
        "anaconda",
        "dnf remove -y nano-default-editor",
    )


def test_tables_that_never_ran_emit_nothing() -> None:
    got = changes(parse_fixture(DnfLogParser(), "dnf.log"))
    # `dnf remove nano-default-editor` answered No; `--downloadonly` only downloaded.
    assert [c.commandline for c in got if c.package == "nano-default-editor"] == [
        "dnf remove -y nano-default-editor"
    ]
    assert not any(c.package == "vim-enhanced" for c in got)


def test_a_failed_transaction_carries_its_error() -> None:
    got = by_package(parse_fixture(DnfLogParser(), "dnf.log"))
    broken = got[("broken", "install")]
    assert broken.error == "Error in PREIN scriptlet in rpm package broken"
    assert broken.repo == "commandline" and broken.session_end == utc(2024, 1, 18, 10, 0, 2)
    assert got[("htop", "install")].error is None


def test_pending_start_is_the_oldest_open_session() -> None:
    data = (FIXTURES / "dnf.log").read_bytes()
    lines = lines_with_offsets(data)
    user = next(o for o, line in lines if "Command: dnf install htop" in line)
    nested = next(o for o, line in lines if o > user and "Command: dnf makecache" in line)
    complete = next(o for o, line in lines if o > user and line.endswith("INFO Complete!"))
    parser = DnfLogParser()
    for offset, line in lines:
        out = parser.feed(line, offset)
        if offset < user:
            continue
        if offset < complete:
            assert changes(out) == []
            assert parser.pending_start() == user, line
        if offset == nested:
            assert parser.pending_start() == user
        if offset == complete:
            assert len(changes(out)) == 6
        if line.endswith("Cleaning up.") and offset > complete:
            assert parser.pending_start() is None
            break


def test_makecache_starting_before_the_users_table_does_not_take_it() -> None:
    text = (
        "2024-02-01T10:00:00+0000 DDEBUG Command: dnf install -y jq\n"
        "2024-02-01T10:00:00+0000 DDEBUG Base command: install\n"
        "2024-02-01T10:00:01+0000 DDEBUG Command: dnf makecache --timer\n"
        "2024-02-01T10:00:01+0000 DDEBUG Base command: makecache\n"
        "2024-02-01T10:00:02+0000 INFO " + "=" * 80 + "\n"
        " Package      Architecture    Version           Repository         Size\n"
        "================================================================================\n"
        "Installing:\n"
        " jq           x86_64          1.7.1-1.fc39      updates            52 k\n"
        "\n"
        "2024-02-01T10:00:02+0000 INFO Metadata cache created.\n"
        "2024-02-01T10:00:02+0000 DDEBUG Cleaning up.\n"
        "2024-02-01T10:00:03+0000 INFO Running transaction\n"
        "2024-02-01T10:00:04+0000 INFO Complete!\n"
        "2024-02-01T10:00:04+0000 DDEBUG Cleaning up.\n"
    )
    (jq,) = changes(parse_text(DnfLogParser(), text))
    assert (jq.commandline, jq.new_version, jq.automatic) == ("dnf install -y jq", "1.7.1-1.fc39", False)


def test_a_session_that_never_completes_is_emitted_with_an_error_at_the_end() -> None:
    text = (
        "2024-02-01T10:00:00+0000 DDEBUG Command: dnf install -y jq\n"
        "2024-02-01T10:00:02+0000 INFO " + "=" * 80 + "\n"
        " Package      Architecture    Version           Repository         Size\n"
        "================================================================================\n"
        "Installing:\n"
        " jq           x86_64          1.7.1-1.fc39      updates            52 k\n"
        "2024-02-01T10:00:03+0000 INFO Running transaction\n"
    )
    (jq,) = changes(parse_text(DnfLogParser(), text))
    assert jq.error is not None and jq.session_end is None


def test_stale_sessions_are_closed() -> None:
    parser = DnfLogParser(stale_after=timedelta(hours=1))
    parser.feed("2024-02-01T10:00:00+0000 DDEBUG Command: dnf install -y jq", 0)
    assert parser.pending_start() == 0
    parser.feed("2024-02-01T12:00:00+0000 DDEBUG Command: dnf repolist", 100)
    assert parser.pending_start() == 100


def test_too_many_open_sessions_drop_the_oldest() -> None:
    parser = DnfLogParser(max_open=2)
    for i in range(3):
        parser.feed(f"2024-02-01T10:00:0{i}+0000 DDEBUG Command: dnf makecache --timer", i * 100)
    assert parser.pending_start() == 100


def test_malformed_table_rows_and_timestamps() -> None:
    text = (
        "2024-02-01T10:00:00+0000 DDEBUG Command: dnf install -y jq\n"
        "2024-02-01T10:00:02+0000 INFO " + "=" * 80 + "\n"
        " Package      Architecture    Version           Repository         Size\n"
        "================================================================================\n"
        "Installing:\n"
        " jq           x86_64          not_a_version     updates            52 k\n"
        " yq\n"
        "\n"
        "2024-99-01T10:00:03+0000 INFO Running transaction\n"
    )
    messages = [e.error for e in errors(parse_text(DnfLogParser(), text))]
    assert any("invalid version" in m for m in messages)
    assert any("without name, arch, version and repo" in m for m in messages)
    assert any("invalid timestamp" in m for m in messages)


def test_crash_anywhere_and_resume_gives_the_same_changes() -> None:
    data = (FIXTURES / "dnf.log").read_bytes()
    full = set(parse_fixture(DnfLogParser(), "dnf.log"))
    for crash_after in range(len(lines_with_offsets(data)) + 1):
        assert set(crash_and_resume(DnfLogParser, data, crash_after)) == full, crash_after
