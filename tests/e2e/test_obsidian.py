"""An Obsidian vault kept in sync by the real daemon (`watchman run`: SQLite log + LadybugDB), from an edit
in the vault to the named queries' answers, with another clone of the vault editing through the same
remote: inotify settles the edit into a commit and a push; the sync command through the admin API and the
CLI pulls the other clone's note; a real conflict raises the alert event and keeps both versions."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from producers.obsidian.git_sync import VaultConfig, VaultSyncer
from schemas.alerts import firing, resolving
from tests.support.instance import Instance

TIMEOUT = 90.0


def _remote_tree(bare: Path) -> set[str]:
    out = subprocess.run(
        ["git", "-C", str(bare), "ls-tree", "-r", "--name-only", "main"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return set(out.splitlines())


class Api:
    def __init__(self, inst: Instance) -> None:
        url = (inst.data_dir / "api.url").read_text().strip()
        token = (inst.data_dir / "api.token").read_text().strip()
        self.client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def query(self, name: str, **params: Any) -> list[dict[str, Any]]:
        r = self.client.post("/query", json={"name": name, "params": params})
        r.raise_for_status()
        rows: list[dict[str, Any]] = r.json()["rows"]
        return rows

    def cypher(self, text: str, **params: Any) -> list[dict[str, Any]]:
        r = self.client.post("/query", json={"cypher": text, "params": params, "read_only": True})
        r.raise_for_status()
        rows: list[dict[str, Any]] = r.json()["rows"]
        return rows

    def outcome(self, command_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            state: dict[str, Any] = self.client.get(f"/admin/commands/{command_id}").json()
            if state["status"] != "pending":
                return state
            time.sleep(0.2)
        raise AssertionError(f"command {command_id} still pending")


def _wait(inst: Instance, what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(AssertionError, httpx.HTTPError):
            if check():
                return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}\n{inst.daemon_log('run')}")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Instance, Path, Path]]:
    inst = Instance(tmp_path / "inst")
    inst.write_config()
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "Welcome.md").write_text("# Welcome\n")
    with inst.config.open("a") as f:
        f.write(
            "[[obsidian.vaults]]\n"
            'name = "notes"\n'
            f'path = "{vault}"\n'
            f'git_remote = "file://{bare}"\n'
            "quiet_period = 0.3\n"
            "sync_interval = 3600\n"
            'conflict_strategy = "alert"\n'
        )
    proc = inst.start("run")
    try:
        inst.wait_ready(proc)
        _wait(inst, "the API", (inst.data_dir / "api.url").exists)
        yield inst, vault, bare
    finally:
        inst.stop(proc)


def test_vault_sync_end_to_end(daemon: tuple[Instance, Path, Path], tmp_path: Path) -> None:
    inst, vault, bare = daemon
    api = Api(inst)
    # At start: the existing note is committed and pushed.
    _wait(inst, "the first push", lambda: "Welcome.md" in _remote_tree(bare))
    # An edit settles (inotify, quiet period): committed and pushed without waiting for the interval.
    (vault / "Projects").mkdir()
    (vault / "Projects" / "Roadmap.md").write_text("# Roadmap\n")
    _wait(inst, "the edit pushed", lambda: "Projects/Roadmap.md" in _remote_tree(bare))

    # Another device (a clone of the same remote) adds a note; a sync command brings it here.
    other = VaultSyncer(
        VaultConfig(name="notes", path=tmp_path / "other", git_remote=f"file://{bare}"), "laptop"
    )
    other.sync("start")
    (tmp_path / "other" / "From laptop.md").write_text("hello\n")
    assert [s.step for s in other.sync("edit").steps] == ["auto_commit", "push"]
    r = api.client.post("/admin/obsidian/sync/notes", json={"reason": "test"})
    assert r.status_code == 202, r.text
    state = api.outcome(r.json()["command_id"])
    assert state["status"] == "succeeded", state
    assert "pull" in state["detail"]
    assert (vault / "From laptop.md").read_text() == "hello\n"
    # An unknown vault is a rejected command, not an error of the daemon.
    r = api.client.post("/admin/obsidian/sync/nope", json={})
    assert api.outcome(r.json()["command_id"])["status"] == "rejected"
    assert api.client.post("/admin/obsidian/sync/..%2Fetc", json={}).status_code in (404, 422)
    assert httpx.post(f"{api.client.base_url}/admin/obsidian/sync/notes").status_code == 401
    assert api.client.post("/admin/obsidian/sync/notes", json={"host": "elsewhere"}).status_code == 400
    # The same idempotency key is the same command.
    once = api.client.post("/admin/obsidian/sync/notes", json={"idempotency_key": "k1"}).json()["command_id"]
    assert (
        api.client.post("/admin/obsidian/sync/notes", json={"idempotency_key": "k1"}).json()["command_id"]
        == once
    )

    # A real conflict: the other device changes the roadmap and pushes first, then it changes here.
    other.sync("interval")
    (tmp_path / "other" / "Projects" / "Roadmap.md").write_text("# Roadmap\nlaptop's plan\n")
    other.sync("edit")
    (vault / "Projects" / "Roadmap.md").write_text("# Roadmap\nthis host's plan\n")
    _wait(inst, "the conflict in the graph", lambda: bool(api.query("obsidian-conflicts")))
    [conflict] = api.query("obsidian-conflicts")
    assert conflict["vault"] == "notes" and conflict["strategy"] == "alert" and conflict["needs_attention"]
    copy = json.loads(conflict["copies"])["Projects/Roadmap.md"]
    texts = {(vault / "Projects" / "Roadmap.md").read_text(), (vault / copy).read_text()}
    assert texts == {"# Roadmap\nlaptop's plan\n", "# Roadmap\nthis host's plan\n"}
    # The alert the delivery stage will send: fired by the domain event, declared in ALERTS.
    assert [a.name for a in firing("ObsidianConflictDetected", {"needs_attention": True})] == [
        "ObsidianSyncConflict"
    ]
    assert resolving("ObsidianVaultStatusChanged", {"vault": "notes", "open_conflicts": 1}) == []

    # The four questions.
    _wait(inst, "the status", lambda: api.query("obsidian-last-sync")[0]["open_conflicts"] == 1)
    [status] = api.query("obsidian-last-sync")
    assert status["vault"] == "notes" and status["sync_status"] == "in_sync"
    assert status["notes"] == 5  # Welcome, Roadmap, its copy, From laptop, the conflict note
    assert datetime.fromisoformat(status["last_sync"]) > datetime.now(UTC).replace(hour=0, minute=0)
    types = {r["type"] for r in api.query("obsidian-sync-events-today")}
    assert {"auto_commit", "push", "pull", "conflict"} <= types
    added = api.query("obsidian-notes-added", days=7)
    assert sum(r["notes_added"] for r in added) >= 4
    assert {r["day"] for r in added} == {f"{datetime.now(UTC):%Y-%m-%d}"}
    # The API's own endpoints.
    assert api.client.get("/admin/obsidian/status").json()["rows"][0]["vault"] == "notes"
    history = api.client.get("/admin/obsidian/history", params={"vault_id": "notes", "days": 1}).json()
    assert {r["type"] for r in history["events"]["rows"]} >= {"auto_commit", "conflict"}
    assert history["notes_added_per_day"]["rows"]
    assert api.client.get("/admin/obsidian/history", params={"days": 0}).status_code == 422

    # The CLI sends the same command through the daemon and prints the outcome.
    out = inst.cli("obsidian", "sync", "notes")
    assert out.stdout.startswith("succeeded: vault notes:"), out.stdout
    assert inst.cli("obsidian", "sync", "missing", check=False).returncode == 2
    [row] = [json.loads(line) for line in inst.cli("obsidian", "status").stdout.splitlines()]
    assert row["vault"] == "notes" and row["sync_status"] == "in_sync"
    # Another device merges the two versions and deletes the copy: once this clone pulls that, its state
    # says no conflict is open, which resolves the alert it raised.
    other.sync("interval")
    (tmp_path / "other" / copy).unlink()
    assert "conflict_resolved" in [s.step for s in other.sync("edit").steps]
    r = api.client.post("/admin/obsidian/sync/notes", json={})
    assert api.outcome(r.json()["command_id"])["status"] == "succeeded"
    assert not (vault / copy).exists()
    _wait(inst, "no open conflict", lambda: api.query("obsidian-last-sync")[0]["open_conflicts"] == 0)
    assert [a.name for a in resolving("ObsidianVaultStatusChanged", {"open_conflicts": 0})] == [
        "ObsidianSyncConflict"
    ]
    rel = api.cypher(
        "MATCH (e:ObsidianSyncEvent)-[:SYNCED]->(v:ObsidianVault)-[:KEPT_ON]->(h:Host) "
        "RETURN count(e) AS n, h.name AS host"
    )
    assert rel[0]["n"] >= 6 and rel[0]["host"] == "testhost"


def test_a_remote_password_reaches_no_event_graph_or_log(tmp_path: Path) -> None:
    """A known secret in the remote's URL: after a failed clone and a sync command, it is in no file of the
    data directory (the log, the graph) and in no line the daemon logged."""
    secret = "Vault-Secret-7f3a9c2e"
    inst = Instance(tmp_path / "inst")
    inst.write_config()
    with inst.config.open("a") as f:
        f.write(
            "[[obsidian.vaults]]\n"
            'name = "notes"\n'
            f'path = "{tmp_path / "empty"}"\n'
            f'git_remote = "https://me:{secret}@127.0.0.1:1/vault.git"\n'  # nothing listens on port 1
            "sync_interval = 3600\n"
        )
    proc = inst.start("run")
    try:
        inst.wait_ready(proc)
        _wait(inst, "the API", (inst.data_dir / "api.url").exists)
        api = Api(inst)
        _wait(inst, "the failed first sync", lambda: bool(api.query("obsidian-last-sync")))
        assert api.query("obsidian-last-sync")[0]["sync_status"] == "error"
        r = api.client.post("/admin/obsidian/sync/notes", json={})
        state = api.outcome(r.json()["command_id"])
        assert state["status"] == "failed" and secret not in json.dumps(state)
        assert secret not in api.client.get("/admin/obsidian/status").text
    finally:
        inst.stop(proc)
    assert "sync failed" in inst.daemon_log("run")  # the failure was logged, without the secret
    for path in [*inst.data_dir.rglob("*"), *inst.root.glob("*.log")]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
