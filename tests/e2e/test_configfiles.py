"""Config files end to end, through a real `watchman run`, its admin API and CLI, and Debian's real nginx.

A temporary root holds /etc (an nginx.conf, a secret, a templated file, two real conffiles of packages
installed here) and a copy of this machine's dpkg status. nginx runs on 127.0.0.1 with its own pid, logs
and temp paths in a temporary directory (never the system's nginx on :80), and is reloaded with
`nginx -s reload -c ...` by the rollback executor. The daemon tracks the root live (inotify) with
rescans every 2 s. What it must do (issue 20, "Done when"): an invalid nginx.conf is ConfigInvalid with
nginx's own message; a rollback makes it valid, reloaded and serving; a rollback to a version that
fails its health check is reverted by itself; drift against a template is found and applied; a changed
conffile is found; no secret content is in git, the event log, the graph or the daemon's log.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.instance import Instance

SECRET = "sk-live-7Qf9Zt2VwX4yB8nR-do-not-leak"
SHADOW_HASH = "$6$saltsalt$Zm9vYmFyYmF6cXV4cXV1eC1zZWNyZXQtaGFzaC12YWx1ZQ"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nginx_conf(run: Path, port: int, body: str, extra: str = "") -> str:
    return f"""# watchman test nginx
pid {run}/nginx.pid;
error_log {run}/error.log;
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    {extra}
    server {{
        listen 127.0.0.1:{port};
        location / {{ return {body}; }}
    }}
}}
"""


def wait_for(predicate: Any, timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what} not met within {timeout}s (last: {last!r})")


@dataclass
class Env:
    inst: Instance
    proc: subprocess.Popen[bytes]
    root: Path
    run: Path
    port: int
    templates: Path

    @property
    def conf(self) -> Path:
        return self.root / "etc/nginx/nginx.conf"

    def api(self) -> httpx.Client:
        token = (self.inst.data_dir / "api.token").read_text().strip()
        url = (self.inst.data_dir / "api.url").read_text().strip()
        return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def query(self, name_or_cypher: str, **params: Any) -> list[dict[str, Any]]:
        """Through the daemon's admin API (a CLI process per question would cost ~0.5 s each)."""
        body: dict[str, Any] = {"params": params}
        if " " in name_or_cypher:
            body.update(cypher=name_or_cypher, read_only=True)
        else:
            body["name"] = name_or_cypher
        with self.api() as c:
            r = c.post("/query", json=body)
        r.raise_for_status()
        rows: list[dict[str, Any]] = r.json()["rows"]
        return rows

    def serving(self) -> str:
        try:
            r = httpx.get(f"http://127.0.0.1:{self.port}/", timeout=2)
        except httpx.HTTPError:
            return ""
        return f"{r.status_code} {r.text.strip()}"

    def versions(self, path: str) -> list[str]:
        """The versions-repo commits of `path` the graph knows, newest first."""
        return [r["rev"] for r in self.query("config-history", path=path)]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("configfiles")
    root, run, templates = base / "root", base / "nginx-run", base / "templates"
    for d in (root / "etc/nginx", root / "etc/app", root / "var/lib/dpkg/info", run, templates / "etc/app"):
        d.mkdir(parents=True)
    port = free_port()
    (root / "etc/nginx/nginx.conf").write_text(nginx_conf(run, port, '200 "v1\\n"'))
    # A secret by content (a token assignment) and one by path (shadow): tracked by hash only.
    (root / "etc/app/service.env").write_text(f"LOG_LEVEL=info\nAPI_TOKEN={SECRET}\n")
    (root / "etc/shadow").write_text(f"root:{SHADOW_HASH}:19000:0:99999:7:::\n")
    # Drift: the template says one thing, the file another.
    (templates / "etc/app/motd.conf.j2").write_text("welcome to {{ hostname }}\ncores={{ cpu_count }}\n")
    (root / "etc/app/motd.conf").write_text("welcome to somewhere-else\ncores=1\n")
    # Package awareness: this machine's dpkg status and two real conffiles of the adduser package, one
    # as the package shipped it and one changed.
    shutil.copy("/var/lib/dpkg/status", root / "var/lib/dpkg/status")
    for name in ("adduser.list", "nginx-common.list"):
        shutil.copy(Path("/var/lib/dpkg/info") / name, root / "var/lib/dpkg/info" / name)
    shutil.copy("/etc/adduser.conf", root / "etc/adduser.conf")
    (root / "etc/deluser.conf").write_bytes(Path("/etc/deluser.conf").read_bytes() + b"\nBACKUP = 1\n")

    subprocess.run([NGINX, "-c", str(root / "etc/nginx/nginx.conf")], check=True, capture_output=True)
    inst = Instance(base / "watchman")
    inst.write_config()
    inst.config.write_text(
        inst.config.read_text()
        + f"""
[configfiles]
paths = ["/etc"]
root = "{root}"
rescan_interval = 2.0
templates_dir = "{templates}"
health_settle = 1.0
health_timeout = 4.0
health_passes = 3

[[configfiles.apps]]
name = "nginx"
paths = ["/etc/nginx/*"]
main = "/etc/nginx/nginx.conf"
check = ["{NGINX}", "-t", "-c", "{{path}}"]
reload = ["{NGINX}", "-s", "reload", "-c", "{{path}}"]
health_url = "http://127.0.0.1:{port}/"
"""
    )
    proc = inst.start()
    e = Env(inst, proc, root, run, port, templates)
    try:
        inst.wait_ready(proc)
        wait_for(lambda: e.serving() == "200 v1", what="nginx serving v1")
        yield e
    finally:
        inst.stop(e.proc)
        pid = run / "nginx.pid"
        if pid.exists():
            subprocess.run(["kill", "-QUIT", pid.read_text().strip()], check=False)


def _file(e: Env, path: str) -> dict[str, Any] | None:
    rows = e.query(
        "MATCH (c:ConfigFile) WHERE c.path = $p RETURN c.valid AS valid, c.validation_message AS message, "
        "c.sha256 AS sha256, c.secret AS secret, c.drifted AS drifted, c.package AS package, "
        "c.package_modified AS package_modified, c.owner AS owner, c.mode AS mode, c.app AS app",
        p=path,
    )
    return rows[0] if rows else None


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_invalid_then_rollback_then_unhealthy_rollback_is_reverted(env: Env) -> None:
    e = env
    path = "/etc/nginx/nginx.conf"
    first = wait_for(lambda: (f := _file(e, path)) and f["valid"] is True and f, what="nginx.conf valid")
    assert first["app"] == "nginx" and first["mode"] and first["owner"]
    rev1 = wait_for(lambda: e.versions(path), what="a first version")[-1]
    v1 = e.conf.read_bytes()

    # 1. invalid: nginx's own message reaches the graph; the running nginx is left alone
    e.conf.write_text(nginx_conf(e.run, e.port, '200 "v2\\n"', extra="bogus_directive on;"))
    bad = wait_for(lambda: (f := _file(e, path)) and f["valid"] is False and f, what="ConfigInvalid")
    assert 'unknown directive "bogus_directive"' in bad["message"]
    invalid = e.query("configs-invalid")
    assert [r["path"] for r in invalid] == [path]
    assert e.serving() == "200 v1"

    # 2. rollback (CLI -> API -> command -> executor): valid again, reloaded, serving
    proc = e.inst.cli("config", "rollback", path, rev1, "--yes", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "succeeded" in proc.stdout and "reloaded nginx" in proc.stdout and "healthy" in proc.stdout
    assert e.conf.read_bytes() == v1
    assert e.serving() == "200 v1"
    wait_for(lambda: (f := _file(e, path)) and f["valid"] is True, what="valid after the rollback")
    history = wait_for(
        lambda: [r for r in e.query("config-history", path=path) if r["caused_by"]],
        what="the rollback in the history",
    )
    assert history[0]["caused_by"].startswith("rollback:")
    command_id = history[0]["caused_by"].split(":", 1)[1]
    audit = e.query("command-status", id=command_id)
    assert audit and audit[0]["status"] == "succeeded" and audit[0]["type"] == "RollbackConfig"

    # 3. a version that is valid but unhealthy (503) is recorded, then a good v4 is put in place by hand
    n = len(e.versions(path))
    e.conf.write_text(nginx_conf(e.run, e.port, "503"))
    wait_for(lambda: len(e.versions(path)) > n, what="the 503 version recorded")
    rev503 = e.versions(path)[0]
    e.conf.write_text(nginx_conf(e.run, e.port, '200 "v4\\n"'))
    wait_for(lambda: e.versions(path)[0] != rev503, what="v4 recorded")
    subprocess.run([NGINX, "-s", "reload", "-c", str(e.conf)], check=True, capture_output=True)
    wait_for(lambda: e.serving() == "200 v4", what="serving v4")
    v4 = e.conf.read_bytes()

    # 4. rolling back to the 503 version fails its health check: reverted to v4 by itself
    proc = e.inst.cli("config", "rollback", path, rev503, "--yes", check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "failed" in proc.stdout and "unhealthy" in proc.stdout and "reverted" in proc.stdout
    assert e.conf.read_bytes() == v4
    wait_for(lambda: e.serving() == "200 v4", what="serving v4 after the revert")

    # 5. a rollback without confirmation is refused by the CLI and by the API
    assert e.inst.cli("config", "rollback", path, rev1, check=False).returncode == 2
    with e.api() as c:
        assert c.post("/admin/config/rollback", json={"path": path, "rev": rev1}).status_code == 422
        # the history and the last change's diff, over the API
        rows = c.get("/admin/config/history", params={"path": path}).json()["rows"]
        assert [r["rev"] for r in rows][:1] == e.versions(path)[:1]
        api_diff = c.get("/admin/config/diff", params={"path": path}).json()["diff"]

    # history from the versions repository (CLI) and from the graph (API) name the same commits
    listed = e.inst.cli("config", "history", path).stdout.split()
    assert listed[0] == e.versions(path)[0][:12]

    # diff: the last change, as text (CLI and API agree)
    diff = e.inst.cli("config", "diff", path).stdout
    assert diff.strip() == api_diff.strip()
    assert "-        location / { return 503; }" in diff
    assert '+        location / { return 200 "v4\\n"; }' in diff


def test_drift_against_a_template_is_found_and_applied(env: Env) -> None:
    e = env
    path = "/etc/app/motd.conf"
    drifted = wait_for(lambda: (f := _file(e, path)) and f["drifted"] is True and f, what="ConfigDrifted")
    assert drifted
    events = e.query(
        "MATCH (ev:Event)-[:ACTED_ON]->(c:ConfigFile) WHERE c.path = $p AND ev.type = $t "
        "RETURN ev.summary AS s",
        p=path,
        t="ConfigDrifted",
    )
    assert events and "template" in events[0]["s"]
    proc = e.inst.cli("config", "apply", path, "--yes", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    expected = f"welcome to {socket.gethostname()}\ncores={os.cpu_count()}\n"
    assert (e.root / "etc/app/motd.conf").read_text() == expected
    wait_for(lambda: (f := _file(e, path)) and f["drifted"] is False, what="ConfigDriftResolved")


def test_baseline_and_validate_commands_over_the_api(env: Env) -> None:
    e = env
    hosts = e.root / "etc/app/hosts.json"
    hosts.write_text('{"web": "10.0.0.1"}\n')
    wait_for(lambda: _file(e, "/etc/app/hosts.json"), what="hosts.json tracked")
    with e.api() as c:
        accepted = c.post("/admin/config/baseline", json={}).json()
        state = wait_for(
            lambda: (s := c.get(accepted["status_url"]).json())["status"] != "pending" and s, what="pinned"
        )
        assert state["status"] == "succeeded" and "baseline pinned" in state["detail"]
        # a change after the pin is drift from the baseline, with the diff
        hosts.write_text('{"web": "10.0.0.2"}\n')
        wait_for(lambda: (f := _file(e, "/etc/app/hosts.json")) and f["drifted"] is True, what="drift")
        drift = c.get("/admin/config/drift").json()["rows"]
        assert {"path": "/etc/app/hosts.json", "desired_from": "baseline"}.items() <= next(
            r for r in drift if r["path"] == "/etc/app/hosts.json"
        ).items()
        # on-demand validation: the command's outcome names the broken file and the parser's complaint
        hosts.write_text('{"web": \n')
        wait_for(lambda: (f := _file(e, "/etc/app/hosts.json")) and f["valid"] is False, what="invalid JSON")
        accepted = c.post("/admin/config/validate", json={"paths": ["/etc/app/hosts.json"]}).json()
        state = wait_for(
            lambda: (s := c.get(accepted["status_url"]).json())["status"] != "pending" and s, what="validated"
        )
        assert state["status"] == "failed" and "JSONDecodeError" in state["detail"]
        assert [r["path"] for r in c.get("/admin/config/invalid").json()["rows"]] == ["/etc/app/hosts.json"]
        files = c.get("/admin/config/files", params={"app": "nginx"}).json()["rows"]
        assert [r["path"] for r in files] == ["/etc/nginx/nginx.conf"]


def test_changed_conffile_is_found_and_linked_to_its_package(env: Env) -> None:
    e = env
    rows = wait_for(lambda: e.query("conffiles-changed"), what="a changed conffile")
    paths = {r["path"]: r["package"] for r in rows}
    assert paths.get("/etc/deluser.conf") == "adduser"
    # shipped unchanged on this machine (its md5 is dpkg's): not reported
    status = (e.root / "var/lib/dpkg/status").read_text()
    shipped = hashlib.md5(Path("/etc/adduser.conf").read_bytes(), usedforsecurity=False).hexdigest()
    if f" /etc/adduser.conf {shipped}" in status:
        assert "/etc/adduser.conf" not in paths
    linked = e.query(
        "MATCH (c:ConfigFile)-[:PROVIDED_BY]->(s:Software) WHERE c.path = $p RETURN s.name AS name",
        p="/etc/adduser.conf",
    )
    assert [r["name"] for r in linked] == ["adduser"]


def test_no_secret_in_git_events_graph_or_logs(env: Env) -> None:
    e = env
    # change the secret file too: its change event must carry hashes only
    (e.root / "etc/app/service.env").write_text(f"LOG_LEVEL=debug\nAPI_TOKEN={SECRET}\n")
    f = wait_for(
        lambda: (
            (x := _file(e, "/etc/app/service.env"))
            and x["sha256"] == _sha(e.root / "etc/app/service.env")
            and x
        ),
        what="the secret file's change",
    )
    assert f["secret"] is True
    assert _file(e, "/etc/shadow")["secret"] is True  # type: ignore[index]
    # let the daemon write what it has, then stop it so every file is complete
    e.inst.stop(e.proc)
    needles = (SECRET.encode(), SHADOW_HASH.encode(), b"Zm9vYmFyYmF6cXV4")
    versions = e.inst.data_dir / "config-versions"
    objects = subprocess.run(
        ["git", "-C", str(versions), "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True,
        check=True,
    ).stdout
    assert objects and b"nginx" in objects  # the repository does hold the non-secret files
    for needle in needles:
        assert needle not in objects
    for p in e.inst.data_dir.rglob("*"):
        if p.is_file() and not p.is_relative_to(versions / ".git"):
            data = p.read_bytes()
            for needle in needles:
                assert needle not in data, f"secret found in {p}"
    for p in e.inst.root.glob("*.log"):
        for needle in needles:
            assert needle not in p.read_bytes(), f"secret found in {p}"
    e.proc = e.inst.start()
    e.inst.wait_ready(e.proc)
