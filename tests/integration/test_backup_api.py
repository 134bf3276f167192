"""The backup endpoints on a real `watchman run` daemon over HTTP: trigger, list, verify, test-recovery,
restore (in place refused without its phrase), prune; and the CLI going through the daemon."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pyrage
import pytest

from tests.support.instance import Instance

pytestmark = pytest.mark.timeout(240)


def wait_done(c: httpx.Client, url: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state: dict[str, Any] = c.get(url).json()
        if state["status"] != "pending":
            return state
        time.sleep(0.1)
    raise AssertionError(f"{url} still pending")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, httpx.Client]]:
    inst = Instance(tmp_path_factory.mktemp("backup-api"))
    inst.write_config()
    src = inst.root / "src"
    src.mkdir()
    (src / "f.txt").write_text("hello\n")
    ident = pyrage.x25519.Identity.generate()
    key = inst.root / "key.txt"
    key.write_text(f"{ident}\n")
    key.chmod(0o600)
    with inst.config.open("a") as f:
        f.write(
            "[backups.jobs.site]\n"
            f'paths = ["{src}"]\ntarget = "file://{inst.root / "store"}"\n'
            f'recipients = ["{ident.to_public()}"]\nidentity_file = "{key}"\nkeep = {{ last = 1 }}\n'
        )
    proc = inst.start()
    try:
        inst.wait_ready(proc)
        deadline = time.monotonic() + 30
        while not (inst.data_dir / "api.url").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        url = (inst.data_dir / "api.url").read_text().strip()
        token = (inst.data_dir / "api.token").read_text().strip()
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            yield inst, c
    finally:
        inst.stop(proc)


def test_trigger_list_verify_recovery_test_restore(daemon: tuple[Instance, httpx.Client]) -> None:
    inst, c = daemon
    assert c.post("/admin/backup/trigger", json={"job": "BAD NAME"}).status_code == 422
    r = c.post("/admin/backup/trigger", json={"job": "site", "idempotency_key": "one"})
    assert r.status_code == 202, r.text
    state = wait_done(c, r.json()["status_url"])
    assert state["status"] == "succeeded", state

    def listed() -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = c.get("/admin/backup/list", params={"days": 1}).json()["rows"]
        return rows

    deadline = time.monotonic() + 30
    while not listed() and time.monotonic() < deadline:
        time.sleep(0.1)
    (row,) = listed()
    assert row["job"] == "site" and row["status"] == "completed" and row["verified"] == "ok"
    assert c.get("/admin/backup/list", params={"type": "eventlog"}).json()["rows"] == []
    bid = row["id"]

    state = wait_done(c, c.post(f"/admin/backup/test-recovery/{bid}").json()["status_url"])
    assert state["status"] == "succeeded"
    deadline = time.monotonic() + 30
    while not listed()[0]["tested"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert listed()[0]["tested"] is True

    bad = c.post(f"/admin/backup/restore/{bid}", json={"in_place": True, "confirm": "yes"})
    assert bad.status_code == 400 and f"restore {bid} in place" in bad.json()["detail"]
    assert c.post("/admin/backup/verify/not-an-id").status_code == 422
    dest = inst.root / "restored"
    state = wait_done(
        c, c.post(f"/admin/backup/restore/{bid}", json={"target_dir": str(dest)}).json()["status_url"]
    )
    assert state["status"] == "succeeded", state
    assert (dest / str(inst.root / "src" / "f.txt").lstrip("/")).read_text() == "hello\n"


def test_the_cli_goes_through_the_running_daemon(daemon: tuple[Instance, httpx.Client]) -> None:
    inst, _c = daemon
    run = inst.cli("backup", "run", "site", check=False)
    assert run.returncode == 0, run.stderr
    assert "sent to the running daemon" in run.stderr or "succeeded" in run.stdout
    pruned = inst.cli("backup", "prune", "site", check=False)
    assert pruned.returncode == 0 and "kept 1, removed 1" in pruned.stdout, pruned.stdout + pruned.stderr
    assert len(os.listdir(inst.root / "store" / "site")) == 1
