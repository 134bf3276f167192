"""The config scanner's pure parts: which files are secret, which app a file configures, diff stats, dpkg's
conffile records and file lists (transcribed from this machine's /var/lib/dpkg), template rendering."""

from __future__ import annotations

import jinja2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.configfiles import classify, dpkg
from producers.configfiles.desired import render

# Two stanzas as Debian 12 writes /var/lib/dpkg/status (adduser's is verbatim; the second is a removed
# package whose conffiles stay behind: config-files state, not installed).
STATUS = """Package: adduser
Status: install ok installed
Priority: important
Section: admin
Installed-Size: 849
Maintainer: Debian Adduser Developers <adduser@packages.debian.org>
Architecture: all
Multi-Arch: foreign
Version: 3.134
Depends: passwd
Suggests: liblocale-gettext-perl, perl, cron, quota
Conffiles:
 /etc/adduser.conf cc3493ecd2d09837ffdcc3e25fdfff18
 /etc/deluser.conf 11a06baf8245fd8d690b99024d228c1f
Description: add and remove users and groups
 This package includes the 'adduser' and 'deluser' commands for creating

Package: gone
Status: deinstall ok config-files
Version: 1.0
Conffiles:
 /etc/gone.conf 0123456789abcdef0123456789abcdef

Package: nginx-common
Status: install ok installed
Version: 1.22.1-9+deb12u12
Conffiles:
 /etc/nginx/nginx.conf e5398edc0b51497dba606859fb13a86e
 /etc/nginx/old.conf 11111111111111111111111111111111 obsolete
"""


def test_conffiles_of_installed_packages_only() -> None:
    got = dpkg.parse_status_conffiles(STATUS)
    assert [(c.path, c.package, c.md5, c.obsolete) for c in got] == [
        ("/etc/adduser.conf", "adduser", "cc3493ecd2d09837ffdcc3e25fdfff18", False),
        ("/etc/deluser.conf", "adduser", "11a06baf8245fd8d690b99024d228c1f", False),
        ("/etc/nginx/nginx.conf", "nginx-common", "e5398edc0b51497dba606859fb13a86e", False),
        ("/etc/nginx/old.conf", "nginx-common", "11111111111111111111111111111111", True),
    ]


def test_file_lists() -> None:
    assert dpkg.package_of_list("libc6:amd64.list") == "libc6"
    assert dpkg.package_of_list("nginx-common.list") == "nginx-common"
    text = "/.\n/etc\n/etc/nginx\n/etc/nginx/nginx.conf\n/usr/sbin/nginx\n/etcetera/x\n"
    assert dpkg.parse_list(text, ("/etc",)) == ["/etc", "/etc/nginx", "/etc/nginx/nginx.conf"]


@given(st.text(max_size=400))
def test_status_parser_never_crashes(text: str) -> None:
    for c in dpkg.parse_status_conffiles(text):
        assert c.path.startswith("/")


@pytest.mark.parametrize(
    ("path", "data", "secret"),
    [
        ("/etc/shadow", b"root:*:19000::::::\n", True),
        ("/etc/ssh/ssh_host_ed25519_key", b"", True),
        ("/etc/ssh/ssh_host_ed25519_key.pub", b"ssh-ed25519 AAAA host\n", False),
        ("/etc/ssl/private/site.pem", b"", True),
        ("/etc/app/env", b"DB_PASSWORD=s3cr3t\n", True),
        ("/etc/app/env", b"api_key: abc\n", True),
        ("/etc/app/x.conf", b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n", True),
        ("/etc/app/users", b"alice:$6$salt$hash:19000\n", True),
        ("/etc/nginx/nginx.conf", b"events {}\n# password hashing is done elsewhere\n", False),
        ("/etc/hosts", b"127.0.0.1 localhost\n", False),
    ],
)
def test_secrets_by_path_and_content(path: str, data: bytes, secret: bool) -> None:
    assert classify.is_secret(path, data) is secret


def test_declared_secret_patterns() -> None:
    assert classify.is_secret("/etc/app/vault.cfg", b"x=1\n", ["/etc/app/vault.*"])


@pytest.mark.parametrize(
    ("path", "app"),
    [
        ("/etc/nginx/sites-enabled/default", "nginx"),
        ("/etc/ssh/sshd_config", "sshd"),
        ("/etc/ssh/ssh_config", "ssh"),
        ("/etc/sudoers.d/admins", "sudo"),
        ("/etc/fstab", "fstab"),
        ("/etc/systemd/system/web.service", "systemd"),
        ("/root/.config/git/config", "git"),
        ("/srv/other", None),
    ],
)
def test_app_of(path: str, app: str | None) -> None:
    assert classify.app_of(path, ("/etc", "/root/.config")) == app


def test_diff_stats_and_binary() -> None:
    assert classify.diff_stats(b"a\nb\nc\n", b"a\nB\nc\nd\n") == (2, 1)
    assert classify.diff_stats(None, b"a\n") == (1, 0)
    assert classify.diff_stats(b"\x00\x01", b"a") is None
    diff = classify.unified_diff(b"x\n" * 5000, b"y\n" * 5000, "a", "b", limit=200)
    assert len(diff) <= 200 and diff.endswith("(diff cut)")


def test_excluded() -> None:
    assert classify.excluded("/etc/ld.so.cache", ["/etc/ld.so.cache"])
    assert classify.excluded("/etc/x/.f.swp", ["*.swp"])
    assert classify.excluded("/etc/.git/config", ["/etc/.git"])
    assert not classify.excluded("/etc/hosts", ["*.swp", "/etc/.git"])
    # a file inside an excluded directory (inotify reports files, not their directory)
    assert classify.excluded("/root/.config/app/Cache/blob", ["*/Cache"])
    assert classify.excluded("/root/.config/chromium/Default/Prefs", ["/root/.config/chromium"])


def test_templates_render_facts_strictly() -> None:
    assert render("server {{ hostname }} {{ os.id }}\n", {"hostname": "web-1", "os": {"id": "debian"}}) == (
        "server web-1 debian\n"
    )
    with pytest.raises(jinja2.UndefinedError):
        render("{{ missing }}", {})
    with pytest.raises(jinja2.exceptions.SecurityError):  # the sandbox
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})


# `rpm -qa --qf rpm.QUERY` as RPM 4.18 printed it for a package built here (tests/integration builds it).
RPM_OUTPUT = (
    "/etc/demo/data.txt\t\t6667b2d1aab6a00caa5aee5af8ad9f1465e567abf1c209d15727d57b3e8f6e5f\twatchman-demo\t8\n"
    "/etc/demo/demo.conf\tcn\t01ea9bc79534a121a5064df3ce29bd12954dd9356c182bbee81013a15185ee1c\twatchman-demo\t8\n"
    "/etc/demo\t\t\twatchman-demo\t8\n"
    "garbage line\n"
)


def test_rpm_files() -> None:
    from producers.configfiles import rpm

    got = rpm.parse_files(RPM_OUTPUT)
    assert [(f.path, f.package, f.config, f.algorithm) for f in got] == [
        ("/etc/demo/data.txt", "watchman-demo", False, "sha256"),
        ("/etc/demo/demo.conf", "watchman-demo", True, "sha256"),
        ("/etc/demo", "watchman-demo", False, "sha256"),
    ]
    assert got[1].digest.startswith("01ea9b")
