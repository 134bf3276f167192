"""The package-database readers: dpkg's status file and `rpm -qa` output as an inventory (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from producers import snapshot
from producers.packages.inventory import observations, parse_dpkg_status, parse_rpm_query

# Paragraphs as this machine's /var/lib/dpkg/status holds them (Debian 12, 2026-12-04; long fields cut),
# plus the states dpkg writes during a run and after `apt remove` (dpkg(1), "package states").
STATUS = """\
Package: base-files
Essential: yes
Status: install ok installed
Priority: required
Architecture: amd64
Multi-Arch: foreign
Version: 12.4+deb12u11
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy of a Debian system.

Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Version: 2.36-9+deb12u14

Package: libc6
Status: install ok installed
Architecture: i386
Multi-Arch: same
Version: 2.36-9+deb12u14

Package: tzdata
Status: install ok installed
Architecture: all
Multi-Arch: foreign
Version: 2025b-0+deb12u2

Package: nginx
Status: deinstall ok config-files
Architecture: amd64
Version: 1.22.1-9
Conffiles:
 /etc/nginx/nginx.conf 0f1c1ab0ba6b4a9a0bfc09c5d0a4cf1a

Package: curl
Status: install ok unpacked
Architecture: amd64
Version: 7.88.1-10+deb12u14

Package: oldthing
Status: purge ok not-installed
Architecture: amd64

Package: epoch-pkg
Status: install ok installed
Architecture: amd64
Version: 1:2.0-3
"""


def test_dpkg_status_lists_installed_and_config_files_packages_by_name_and_arch() -> None:
    inv = parse_dpkg_status(STATUS)
    assert sorted(inv.items) == [
        "base-files:amd64",
        "epoch-pkg:amd64",
        "libc6:amd64",
        "libc6:i386",
        "nginx:amd64",
        "tzdata:all",
    ]
    assert inv.items["libc6:i386"]["version"] == "2.36-9+deb12u14"
    assert inv.items["nginx:amd64"]["state"] == "removed"
    assert inv.items["tzdata:all"]["state"] == "installed"
    assert inv.items["epoch-pkg:amd64"]["epoch"] == "1"
    assert inv.unsettled == {"curl:amd64"}
    assert inv.errors == ()


def test_a_package_dpkg_is_working_on_keeps_its_previous_entry() -> None:
    before = parse_dpkg_status(STATUS.replace("install ok unpacked", "install ok installed")).items
    during = parse_dpkg_status(STATUS.replace("Version: 7.88.1-10+deb12u14", "Version: 7.88.1-10+deb12u15"))
    settled = during.settle(before)
    assert settled["curl:amd64"]["version"] == "7.88.1-10+deb12u14"
    assert "curl:amd64" not in during.settle(None)  # a first snapshot waits for it to settle


def test_broken_paragraphs_are_errors_with_their_text_and_the_rest_is_read() -> None:
    text = STATUS + "\nPackage: nostatus\nArchitecture: amd64\nVersion: 1\n\nStatus: install ok installed\n"
    inv = parse_dpkg_status(text)
    assert len(inv.items) == 6
    assert [e.error for e in inv.errors] == ["missing Status", "missing Package, Architecture"]
    assert "nostatus" in inv.errors[0].text


RPM = (
    "bash\t\t5.2.15\t3.fc39\tx86_64\n"
    "kernel-core\t\t6.5.6\t300.fc39\tx86_64\n"
    "kernel-core\t\t6.8.9\t100.fc39\tx86_64\n"
    "kernel-core\t\t6.7.1\t200.fc39\tx86_64\n"
    "perl-Errno\t0\t1.37\t502.fc39\tx86_64\n"
    "shadow-utils\t2\t4.14.0\t2.fc39\tx86_64\n"
    "gpg-pubkey\t\t18b8e74c\t62f2920f\t(none)\n"
    "tzdata\t\t2024a\t2.fc39\tnoarch\n"
)


def test_rpm_query_output_lists_the_newest_of_several_versions_and_leaves_out_keys() -> None:
    inv = parse_rpm_query(RPM)
    assert sorted(inv.items) == [
        "bash:x86_64",
        "kernel-core:x86_64",
        "perl-Errno:x86_64",
        "shadow-utils:x86_64",
        "tzdata:noarch",
    ]
    assert inv.items["kernel-core:x86_64"]["version"] == "6.8.9-100.fc39"
    assert inv.items["shadow-utils:x86_64"]["epoch"] == "2"
    assert inv.items["perl-Errno:x86_64"]["epoch"] is None  # epoch 0 is no epoch, as dnf prints it
    assert inv.items["bash:x86_64"]["release"] == "3.fc39"


def test_malformed_rpm_lines_are_errors() -> None:
    inv = parse_rpm_query("bash\t\t5.2\t1\tx86_64\ngarbage\nx\tE\t1\t1\tnoarch\n")
    assert list(inv.items) == ["bash:x86_64"]
    assert [e.position for e in inv.errors] == ["line 2", "line 3"]


def test_observations_of_a_diff_say_installed_removed_and_purged() -> None:
    ts = datetime(2026, 12, 4, 12, tzinfo=UTC)
    before = parse_dpkg_status(STATUS).items
    after = dict(before)
    del after["libc6:i386"]
    after["tzdata:all"] = {**after["tzdata:all"], "version": "2026a-0+deb12u1"}
    found = {
        (o.package, o.arch): o for o in observations("dpkg-status", snapshot.diff(before, after), ts, "amd64")
    }
    assert set(found) == {("libc6", "i386"), ("tzdata", "all")}
    gone = found[("libc6", "i386")]
    assert (gone.state, gone.old_version, gone.new_version) == ("purged", "2.36-9+deb12u14", None)
    up = found[("tzdata", "all")]
    assert (up.state, up.old_version, up.new_version) == ("installed", "2025b-0+deb12u2", "2026a-0+deb12u1")
    assert up.native_arch == "amd64" and up.ts == ts
    first = observations("dpkg-status", snapshot.diff(None, before), ts, "amd64")
    assert len(first) == 6 and {o.state for o in first} == {"installed", "removed"}


@given(st.text(max_size=400))
def test_dpkg_status_reader_never_crashes(text: str) -> None:
    inv = parse_dpkg_status(text)
    assert all(item["state"] in ("installed", "removed") for item in inv.items.values())


@given(st.text(max_size=400))
def test_rpm_reader_never_crashes(text: str) -> None:
    inv = parse_rpm_query(text)
    assert all(item["state"] == "installed" for item in inv.items.values())
