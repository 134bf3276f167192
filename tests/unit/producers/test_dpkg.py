"""dpkg.log parser: change lines, noise lines, version-ordered upgrade classification, malformed lines."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

import pytest

from producers.packages.dpkg import DpkgLogParser
from tests.unit.producers.support import by_package, changes, errors, parse_fixture, parse_text, utc


def test_real_debian_log_parses_completely() -> None:
    results = parse_fixture(DpkgLogParser(tz=UTC), "dpkg_debian12.log")
    assert errors(results) == []
    counts: dict[str, int] = {}
    for c in changes(results):
        counts[c.action] = counts.get(c.action, 0) + 1
    assert counts == {"upgrade": 3, "install": 5, "remove": 16, "purge": 1}


def test_real_debian_log_fields() -> None:
    got = changes(parse_fixture(DpkgLogParser(tz=ZoneInfo("Europe/Berlin")), "dpkg_debian12.log"))
    first = got[0]
    assert (first.package, first.arch, first.action) == ("libsystemd0", "amd64", "upgrade")
    assert first.ts == utc(2025, 6, 24, 12, 36, 25)
    assert first.source == "dpkg" and first.session_start is None and first.commandline is None
    perl = next(c for c in got if c.package == "perl-modules-5.36")
    assert perl.arch == "all"  # dpkg names Architecture: all as `all`; apt's history names the native arch
    # `dpkg -i` of a +repack1 build over the plain one: dpkg says upgrade, and so do the versions
    node = next(c for c in got if c.package == "nodejs")
    assert (node.action, node.old_version, node.new_version) == (
        "upgrade",
        "20.20.2-1nodesource1",
        "20.20.2-1nodesource1+repack1",
    )
    purge = next(c for c in got if c.action == "purge")
    assert (purge.package, purge.arch, purge.old_version, purge.new_version) == (
        "cmake-data",
        "all",
        "3.25.1-1",
        None,
    )
    llvm = next(c for c in got if c.package == "libllvm19" and c.action == "remove")
    assert llvm.epoch == "1"


def test_upgrade_lines_are_classified_by_version_order() -> None:
    got = by_package(parse_fixture(DpkgLogParser(tz=UTC), "dpkg_edge.log"))
    assert got[("openssh-client", "upgrade")].epoch == "1"
    curl = got[("curl", "downgrade")]
    assert (curl.old_version, curl.new_version) == ("7.88.1-10+deb12u5", "7.88.1-10")
    nano = got[("nano", "reinstall")]
    assert nano.old_version == nano.new_version == "7.2-1"


def test_install_over_config_files_keeps_the_old_version() -> None:
    got = by_package(parse_fixture(DpkgLogParser(tz=UTC), "dpkg_edge.log"))
    remnant = got[("oldconf", "install")]
    assert (remnant.old_version, remnant.new_version) == ("1.0-1", "1.0-2")
    htop = got[("htop", "install")]
    assert (htop.old_version, htop.new_version, htop.automatic) == (None, "3.2.2-2", None)


def test_old_formats_no_arch_and_translated_none() -> None:
    got = by_package(parse_fixture(DpkgLogParser(tz=UTC), "dpkg_edge.log"))
    vim = got[("vim-runtime", "install")]
    assert (vim.arch, vim.new_version, vim.epoch) == (None, "2:7.2.445+hg~cb94c42-1", "2")
    assert got[("libc6", "upgrade")].arch is None
    git_man = got[("git-man", "remove")]  # dpkg < 1.17 wrote a translated `<none>`
    assert (git_man.old_version, git_man.new_version) == ("1:1.8.3.2-1", None)


def test_noise_lines_are_silent() -> None:
    text = (
        "2024-01-15 10:23:47 startup archives unpack\n"
        "2024-01-15 10:23:47 status half-installed htop:amd64 3.2.2-2\n"
        "2024-01-15 10:23:48 configure htop:amd64 3.2.2-2 <none>\n"
        "2024-01-15 10:23:48 trigproc man-db:amd64 2.11.2-2 <none>\n"
        "2024-01-16 08:00:04 conffile /etc/ssh/ssh_config keep\n"
        "\n"
    )
    assert parse_text(DpkgLogParser(tz=UTC), text) == []


def test_no_pending_records() -> None:
    parser = DpkgLogParser(tz=UTC)
    parser.feed("2024-01-15 10:23:47 install htop:amd64 <none> 3.2.2-2", 0)
    assert parser.pending_start() is None
    assert parser.flush() == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("this is not dpkg", "not a dpkg log line"),
        ("2024-01-15 10:23:47 frobnicate htop:amd64 1 2", "unknown dpkg action"),
        ("2024-02-30 10:23:47 install htop:amd64 <none> 3.2.2-2", "invalid timestamp"),
        ("2024-01-15 10:23:47 install htop:amd64 3.2.2-2", "needs `package old-version new-version`"),
        ("2024-01-15 10:23:47 install htop: <none> 3.2.2-2", "invalid package"),
        ("2024-01-15 10:23:47 install htop:amd64 <none> <none>", "without the new version"),
    ],
)
def test_malformed_lines_become_parse_errors(line: str, message: str) -> None:
    (err,) = DpkgLogParser(tz=UTC).feed(line, 42)
    assert not hasattr(err, "action")
    assert message in err.error and err.offset == 42 and err.line == line and err.source == "dpkg"  # type: ignore[union-attr]


def test_unorderable_versions_keep_dpkgs_word() -> None:
    (c,) = changes(parse_text(DpkgLogParser(tz=UTC), "2024-01-15 10:23:47 upgrade foo:amd64 1.0 _bad_\n"))
    assert c.action == "upgrade"
