"""The config scanner on real files under a temporary root: live inotify changes, the rescan that catches
what inotify missed (a change while the producer was down), versions with owner and mode in git, secrets
by hash only, and the real checkers of Debian's openssh-server (sshd -t) and sudo (visudo -c)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from producers.configfiles.source import ConfigSource, ConfigTracking
from producers.configfiles.versions import is_placeholder
from schemas.envelope import Envelope

SECRET = "hunter2-this-is-a-known-secret-9f8e7d"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "etc/app").mkdir(parents=True)
    (r / "etc/app/app.yaml").write_text("name: demo\nport: 80\n")
    (r / "etc/app/keys").mkdir()
    (r / "etc/app/keys/server.key").write_text("-----BEGIN PRIVATE KEY-----\nMIIEv" + SECRET + "\n")
    (r / "etc/app/db.conf").write_text(f"host=db\npassword = {SECRET}\n")
    return r


def source(root: Path, tmp_path: Path, cursor: dict[str, Any] | None = None, **kw: Any) -> ConfigSource:
    kw.setdefault("rescan_interval", 3600.0)
    clock = kw.pop("clock", None) or Clock()
    t = ConfigTracking(paths=("/etc",), root=root, versions_dir=tmp_path / "versions", **kw)
    return ConfigSource("h", cursor, t, clock=clock)


def by_type(envs: list[Envelope], type_: str) -> list[dict[str, Any]]:
    return [e.payload for e in envs if e.type == type_]


def wait_changes(src: ConfigSource, want: int = 1, timeout: float = 10) -> list[Envelope]:
    """Poll until inotify has delivered `want` file observations (no sleeping on a fixed time)."""
    out: list[Envelope] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        src.wait(0.5)
        out += src.poll(1000).observations
        if len(by_type(out, "ConfigFileObserved")) >= want:
            return out
    raise AssertionError(f"inotify told {len(out)} observations, wanted {want}")


@pytest.fixture
def src(root: Path, tmp_path: Path) -> Iterator[ConfigSource]:
    s = source(root, tmp_path)
    yield s
    s.close()


def test_first_scan_then_live_changes_with_diff_stats(src: ConfigSource, root: Path) -> None:
    first = src.poll(1000).observations
    files = {p["path"]: p for p in by_type(first, "ConfigFileObserved")}
    assert set(files) == {"/etc/app/app.yaml", "/etc/app/keys/server.key", "/etc/app/db.conf"}
    assert all(p["change"] == "added" and p["via"] == "initial" for p in files.values())
    assert files["/etc/app/app.yaml"]["mode"] == "0644" and files["/etc/app/app.yaml"]["app"] == "app"
    assert files["/etc/app/keys/server.key"]["secret"] and files["/etc/app/db.conf"]["secret"]
    assert not files["/etc/app/app.yaml"]["secret"]
    # a YAML file is syntax-checked on sight
    assert by_type(first, "ConfigValidationObserved")[0]["ok"] is True

    (root / "etc/app/app.yaml").write_text("name: demo\nport: 8080\nworkers: 4\n")
    live = wait_changes(src)
    (changed,) = by_type(live, "ConfigFileObserved")
    assert changed["change"] == "changed" and changed["via"] == "inotify"
    assert (changed["lines_added"], changed["lines_removed"]) == (2, 1)
    assert changed["old_sha256"] == files["/etc/app/app.yaml"]["sha256"]
    assert changed["sha256"] == hashlib.sha256((root / "etc/app/app.yaml").read_bytes()).hexdigest()

    # broken YAML: the parser's complaint
    (root / "etc/app/app.yaml").write_text("name: [demo\n")
    live = wait_changes(src)
    (check,) = by_type(live, "ConfigValidationObserved")
    assert check["ok"] is False and check["checker"] == "yaml" and "ParserError" in check["message"]

    # chmod is a change too; a new directory's files are found; a removal is told
    os.chmod(root / "etc/app/app.yaml", 0o600)
    (root / "etc/app/conf.d").mkdir()
    (root / "etc/app/conf.d/extra.toml").write_text("x = 1\n")
    live = wait_changes(src, 2)
    got = {p["path"]: p for p in by_type(live, "ConfigFileObserved")}
    assert got["/etc/app/app.yaml"]["mode"] == "0600"
    assert got["/etc/app/conf.d/extra.toml"]["change"] == "added"
    (root / "etc/app/conf.d/extra.toml").unlink()
    live = wait_changes(src)
    assert by_type(live, "ConfigFileObserved")[0]["change"] == "removed"
    # a directory moved out of the tracked tree is one inotify event; its files are removed all the same
    (root / "etc/app/conf.d/a.ini").write_text("[s]\nk = v\n")
    wait_changes(src)
    (root / "etc/app/conf.d").rename(root / "elsewhere")
    live = wait_changes(src)
    assert [(p["path"], p["change"]) for p in by_type(live, "ConfigFileObserved")] == [
        ("/etc/app/conf.d/a.ini", "removed")
    ]


def test_versions_keep_owner_and_mode_and_never_a_secret(
    src: ConfigSource, root: Path, tmp_path: Path
) -> None:
    src.poll(1000)
    (root / "etc/app/db.conf").write_text(f"host=db2\npassword = {SECRET}\n")
    wait_changes(src)
    repo = src.repo
    assert [v.rev for v in repo.history("/etc/app/app.yaml")] == [repo.history("/etc/app/app.yaml")[0].rev]
    assert repo.content("/etc/app/app.yaml") == (root / "etc/app/app.yaml").read_bytes()
    assert repo.metadata("/etc/app/app.yaml") == ("0644", "root", "root")
    assert len(repo.history("/etc/app/db.conf")) == 2
    assert is_placeholder(repo.content("/etc/app/db.conf"))
    objects = subprocess.run(
        ["git", "-C", str(tmp_path / "versions"), "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True,
        check=True,
    ).stdout
    assert b"name: demo" in objects and SECRET.encode() not in objects
    assert SECRET.encode() not in b"".join(
        p.read_bytes() for p in (tmp_path / "versions").rglob("*") if p.is_file()
    )


def test_a_rescan_finds_what_happened_while_down(root: Path, tmp_path: Path) -> None:
    clock = Clock()
    first = source(root, tmp_path, inotify=False, rescan_interval=60.0, clock=clock)
    first.poll(1000)
    cursor = first.cursor()
    first.close()
    # changed while no producer ran: a new source from the cursor reports exactly that change
    (root / "etc/app/app.yaml").write_text("name: demo\nport: 81\n")
    again = source(root, tmp_path, cursor, inotify=False, rescan_interval=60.0, clock=clock)
    obs = by_type(again.poll(1000).observations, "ConfigFileObserved")
    assert [(p["path"], p["change"], p["via"]) for p in obs] == [("/etc/app/app.yaml", "changed", "scan")]
    # without inotify nothing is seen before the next rescan, then it is
    (root / "etc/app/db.conf").write_text("host=db3\n")
    assert not again.poll(1000).observations
    clock.now += timedelta(seconds=61)
    obs = by_type(again.poll(1000).observations, "ConfigFileObserved")
    assert [p["path"] for p in obs] == ["/etc/app/db.conf"]
    assert obs[0]["secret"] is False  # no secret any more: from now on its content is versioned
    again.close()


def test_sshd_and_visudo_check_their_files(root: Path, tmp_path: Path) -> None:
    ssh = root / "etc/ssh"
    ssh.mkdir(parents=True)
    key = tmp_path / "hostkey"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    good = f"HostKey {key}\nPort 2222\nPermitRootLogin no\n"
    (ssh / "sshd_config").write_text(good)
    (root / "etc/sudoers").write_text("root ALL=(ALL:ALL) ALL\n")
    os.chmod(root / "etc/sudoers", 0o440)
    s = source(root, tmp_path)
    try:
        checks = {p["path"]: p for p in by_type(s.poll(1000).observations, "ConfigValidationObserved")}
        assert (
            checks["/etc/ssh/sshd_config"]["ok"] is True
            and checks["/etc/ssh/sshd_config"]["checker"] == "sshd -t"
        )
        if shutil.which("visudo"):
            assert checks["/etc/sudoers"]["ok"] is True
        (ssh / "sshd_config").write_text(good + "PermitRootLogin perhaps\n")
        live = wait_changes(s)
        (bad,) = [p for p in by_type(live, "ConfigValidationObserved") if p["path"] == "/etc/ssh/sshd_config"]
        assert bad["ok"] is False and 'line 4: unsupported option "perhaps"' in bad["message"]
        # the checker's message names the file as on the host, never the temporary root
        assert str(root) not in bad["message"]
    finally:
        s.close()


def test_a_package_upgrade_is_the_cause_of_its_files_change(root: Path, tmp_path: Path) -> None:
    """dpkg rewrites info/NAME.list right after it unpacks NAME's files: a change next to that is the
    package's; a hand edit long after an install is not."""
    info = root / "var/lib/dpkg/info"
    info.mkdir(parents=True)
    (root / "etc/app/pkg.conf").write_text("a = 1\n")
    listed = info / "demo:amd64.list"
    listed.write_text("/.\n/etc\n/etc/app\n/etc/app/pkg.conf\n/usr/bin/demo\n")
    old = time.time() - 3600
    os.utime(listed, (old, old))
    s = source(root, tmp_path, inotify=False)
    try:
        first = {p["path"]: p for p in by_type(s.poll(1000).observations, "ConfigFileObserved")}
        assert first["/etc/app/pkg.conf"]["package"] == "demo"
        # a hand edit: the list is an hour old
        (root / "etc/app/pkg.conf").write_text("a = 2\n")
        s.scan_now()
        (edit,) = by_type(s.poll(1000).observations, "ConfigFileObserved")
        assert edit["caused_by"] is None
        # an upgrade: the file, then its package's list, written together
        (root / "etc/app/pkg.conf").write_text("a = 3\n")
        listed.write_text(listed.read_text())
        s.scan_now()
        (upgrade,) = by_type(s.poll(1000).observations, "ConfigFileObserved")
        assert upgrade["caused_by"] == "package:demo"
    finally:
        s.close()


def test_rollback_executor_restores_a_removed_file_with_its_mode_and_refuses_secrets(
    root: Path, tmp_path: Path
) -> None:
    from schemas.events import CommandRejected, CommandSucceeded, command_envelope
    from schemas.events.configfiles import RollbackConfig
    from watchman.executors import ExecContext
    from watchman.executors.configfiles import rollback_config

    target = root / "etc/app/app.yaml"
    os.chmod(target, 0o640)
    s = source(root, tmp_path, inotify=False)
    try:
        s.poll(1000)
        rev = s.repo.history("/etc/app/app.yaml")[0].rev
        target.unlink()
        s.scan_now()
        assert by_type(s.poll(1000).observations, "ConfigFileObserved")[0]["change"] == "removed"
        ctx = ExecContext(host="h", sources=[s], now=lambda: datetime.now(UTC))

        def run(path: str, confirm: bool = True) -> tuple[type, str]:
            payload = RollbackConfig(issued_by="test", path=path, rev=rev, confirm=confirm)
            env = command_envelope(
                payload, host="h", source="test", issued_at=datetime.now(UTC), dedup_key=path
            )
            return rollback_config(env, payload, ctx)

        assert run("/etc/app/app.yaml", confirm=False)[0] is CommandRejected
        status, detail = run("/etc/app/app.yaml")
        assert status is CommandSucceeded, detail
        assert target.read_text() == "name: demo\nport: 80\n" and (target.stat().st_mode & 0o777) == 0o640
        status, detail = run("/etc/app/app.yaml")  # idempotent: already there
        assert status is CommandSucceeded and "nothing to do" in detail
        status, detail = run("/etc/app/db.conf")  # a secret: its content was never kept
        assert status is CommandRejected and "hash only" in detail
        s.scan_now()
        (back,) = by_type(s.poll(1000).observations, "ConfigFileObserved")
        assert back["change"] == "added" and back["mode"] == "0640"
        assert back["caused_by"] and back["caused_by"].startswith("rollback:")
    finally:
        s.close()


def test_secret_versions_kept_encrypted_to_age_and_rolled_back(root: Path, tmp_path: Path) -> None:
    """With age recipients, a secret's versions are kept encrypted (Debian's `age -d` reads them); a
    rollback decrypts with the identity from the secrets mechanism; no plaintext in any git object."""
    import pyrage  # type: ignore[import-untyped]

    from schemas.events import CommandSucceeded, command_envelope
    from schemas.events.configfiles import RollbackConfig
    from watchman.executors import ExecContext
    from watchman.executors.configfiles import rollback_config
    from watchman.secrets import Secrets

    identity = pyrage.x25519.Identity.generate()
    secrets_dir = tmp_path / "secrets"
    Secrets(secrets_dir).put_file("config-age", str(identity))
    s = source(root, tmp_path, inotify=False, secret_recipients=(str(identity.to_public()),))
    try:
        s.poll(1000)
        rev = s.repo.history("/etc/app/db.conf")[0].rev
        (root / "etc/app/db.conf").write_text("host=db\npassword = rotated-value\n")
        s.scan_now()
        s.poll(1000)
        objects = subprocess.run(
            ["git", "-C", str(tmp_path / "versions"), "cat-file", "--batch-all-objects", "--batch"],
            capture_output=True,
            check=True,
        ).stdout
        assert SECRET.encode() not in objects and b"rotated-value" not in objects
        blob = s.repo.content("/.encrypted/etc/app/db.conf.age", rev)
        assert blob.startswith(b"age-encryption.org/v1")
        if shutil.which("age"):  # the independent way back: Debian's age CLI
            key = tmp_path / "key.txt"
            key.write_text(str(identity) + "\n")
            plain = subprocess.run(["age", "-d", "-i", str(key)], input=blob, capture_output=True, check=True)
            assert plain.stdout == f"host=db\npassword = {SECRET}\n".encode()
        opts = {"secret_identity": "secret:config-age", "secrets_dir": str(secrets_dir)}
        ctx = ExecContext(
            host="h", sources=[s], now=lambda: datetime.now(UTC), options={"RollbackConfig": opts}
        )
        payload = RollbackConfig(issued_by="test", path="/etc/app/db.conf", rev=rev, confirm=True)
        env = command_envelope(payload, host="h", source="test", issued_at=datetime.now(UTC), dedup_key="k")
        status, detail = rollback_config(env, payload, ctx)
        assert status is CommandSucceeded, detail
        assert SECRET not in detail
        assert (root / "etc/app/db.conf").read_text() == f"host=db\npassword = {SECRET}\n"
    finally:
        s.close()


def test_an_rpm_config_file_changed_from_its_package(root: Path, tmp_path: Path) -> None:
    """A real RPM built and installed into the temporary root's own database: its %config file, changed,
    is a ConffileObserved of ecosystem rpm; its other file is linked to the package."""
    top = tmp_path / "rpmbuild"
    (top / "SPECS").mkdir(parents=True)
    (top / "SPECS/demo.spec").write_text(
        "Name: watchman-demo\nVersion: 1.0\nRelease: 1\nSummary: demo\nLicense: MIT\nBuildArch: noarch\n"
        "%description\ndemo\n%install\nmkdir -p %{buildroot}/etc/demo\n"
        "printf 'port = 80\\n' > %{buildroot}/etc/demo/demo.conf\n"
        "printf 'data\\n' > %{buildroot}/etc/demo/data.txt\n"
        "%files\n%config(noreplace) /etc/demo/demo.conf\n/etc/demo/data.txt\n"
    )
    subprocess.run(
        ["rpmbuild", "--define", f"_topdir {top}", "-bb", str(top / "SPECS/demo.spec")],
        check=True,
        capture_output=True,
    )
    (package,) = (top / "RPMS/noarch").glob("*.rpm")
    subprocess.run(
        ["rpm", "-i", "--nodeps", "--root", str(root), "--dbpath", "/var/lib/rpm", str(package)],
        check=True,
        capture_output=True,
    )
    (root / "etc/demo/demo.conf").write_text("port = 8080\n")
    s = source(root, tmp_path, inotify=False)
    try:
        envs = s.poll(1000).observations
        (conffile,) = by_type(envs, "ConffileObserved")
        assert (conffile["path"], conffile["package"], conffile["ecosystem"], conffile["modified"]) == (
            "/etc/demo/demo.conf",
            "watchman-demo",
            "rpm",
            True,
        )
        assert conffile["actual_digest"] == hashlib.sha256(b"port = 8080\n").hexdigest()
        files = {p["path"]: p for p in by_type(envs, "ConfigFileObserved")}
        assert (files["/etc/demo/data.txt"]["package"], files["/etc/demo/data.txt"]["package_ecosystem"]) == (
            "watchman-demo",
            "rpm",
        )
    finally:
        s.close()
