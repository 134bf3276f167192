"""The FIDO2 domain end to end, in-process: the CLI (python-fido2's real client against the software
authenticator of tests/support/ctap2.py, the one allowed fake) enrols, encrypts, decrypts, stores
secrets and restores a backup encrypted to a key's recipient (a real directory target); what it did goes
to the real SQLite event log; the processor and projection put it in a real LadybugDB, where the three
questions answer. Then the known secrets are searched for in the log, the graph and the output."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from processors.fido2 import ROUTES
from processors.tables import MemoryTable
from producers.fido2.source import KeyringSource
from projections.catalog import resolve
from projections.registry import PROJECTORS
from projections.stores.ladybug import LadybugStore
from schemas.events import decode_payload
from schemas.events.fido2 import RAW_FIDO2
from tests.support.ctap2 import SoftAuthenticator
from watchman.bus.sqlite_log import SqliteLog
from watchman.cli import app
from watchman.fido2 import derive, vault

pytestmark = pytest.mark.timeout(180)
SECRET_VALUE = "planted-S3-secret-4f9c2a7e"
PLAINTEXT = b"planted-plaintext-0b5e1d7731"


@dataclass
class World:
    tmp: Path
    cfg: Path
    dev: SoftAuthenticator
    recovery: str
    outputs: list[str]

    def run(self, *args: str, stdin: str | None = None) -> Any:
        result = CliRunner().invoke(app, ["--config", str(self.cfg), *args], input=stdin)
        self.outputs.append(result.output)
        return result


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("fido2")
    dev = SoftAuthenticator()
    saved = derive.find_device
    derive.find_device = lambda path=None: dev  # type: ignore[assignment]  # the soft key stands in for /dev/hidraw*
    os.environ["WATCHMAN_API_LISTEN"] = "127.0.0.1:0"
    cfg = tmp / "watchman.toml"
    cfg.write_text(f'data_dir = "{tmp / "data"}"\nhost = "h1"\n')
    w = World(tmp, cfg, dev, "", [])
    enrolled = w.run("fido2", "enrol", "desk-key")
    assert enrolled.exit_code == 0, enrolled.output
    w.recovery = next(line for line in enrolled.output.splitlines() if line.startswith("AGE-SECRET-KEY-1"))
    keyring = vault.Keyring.load(tmp / "data" / "fido2" / "keyring.json")
    src = tmp / "docs"
    src.mkdir()
    (src / "a.txt").write_bytes(PLAINTEXT)
    cfg.write_text(
        cfg.read_text() + "\n[backups.jobs.docs]\n"
        f'paths = ["{src}"]\ntarget = "file://{tmp / "store"}"\n'
        f'recipients = ["{keyring.keys[0].recipients["backups"]}"]\n'
        # verifying opens the backup, which takes a touch: the unattended run only writes it
        "verify = false\n"
    )
    try:
        yield w
    finally:
        derive.find_device = saved  # type: ignore[assignment]
        os.environ.pop("WATCHMAN_API_LISTEN", None)


def test_enrol_prints_the_recovery_key_once(world: World) -> None:
    assert world.recovery.startswith("AGE-SECRET-KEY-1") and world.dev.touches >= 2
    second = world.run("fido2", "enrol", "desk-key")
    assert second.exit_code == 1 and "enrolled already" in second.output
    keys = world.run("fido2", "keys")
    assert "desk-key" in keys.output and "AGE-SECRET-KEY" not in keys.output


def test_backup_with_a_fido2_recipient_restores_only_after_a_touch(world: World) -> None:
    ran = world.run("backup", "run", "docs")
    assert ran.exit_code == 0, ran.output
    backup_id = re.search(r"docs-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}", ran.output)[0]  # type: ignore[index]
    # the unattended run needed no touch; a plain restore has no identity
    plain = world.run("backup", "restore", backup_id, "--to", str(world.tmp / "r0"))
    assert plain.exit_code != 0 and not (world.tmp / "r0").exists()
    world.dev.touch = "deny"
    denied = world.run("fido2", "restore-backup", "docs", backup_id, "--to", str(world.tmp / "r1"))
    assert denied.exit_code == 1 and "cancelled" in denied.output and not (world.tmp / "r1").exists()
    world.dev.touch = "approve"
    before = world.dev.touches
    ok = world.run("fido2", "restore-backup", "docs", backup_id, "--to", str(world.tmp / "r2"))
    assert ok.exit_code == 0, ok.output
    assert world.dev.touches == before + 1
    restored = world.tmp / "r2" / str(world.tmp / "docs").lstrip("/") / "a.txt"
    assert restored.read_bytes() == PLAINTEXT


def test_files_and_secrets_through_the_cli(world: World) -> None:
    f = world.tmp / "wg0.conf"
    f.write_bytes(PLAINTEXT)
    assert world.run("fido2", "encrypt", str(f), "--label", "wireguard").exit_code == 0
    dec = world.run("fido2", "decrypt", f"{f}.age", "--to", str(world.tmp / "wg0.out"))
    assert dec.exit_code == 0, dec.output and (world.tmp / "wg0.out").read_bytes() == PLAINTEXT
    again = world.run("fido2", "decrypt", f"{f}.age", "--to", str(world.tmp / "wg0.out"))
    assert again.exit_code == 1 and "exists" in again.output
    assert world.run("secret", "set", "s3.secret_key", stdin=SECRET_VALUE).exit_code == 0
    assert world.run("secret", "list").output.split() == ["s3.secret_key"]
    got = world.run("secret", "get", "s3.secret_key")
    assert got.exit_code == 0 and got.stdout.strip() == SECRET_VALUE
    world.outputs.pop()  # the one output that must show it
    stranger = SoftAuthenticator()
    saved, derive.find_device = derive.find_device, lambda path=None: stranger  # type: ignore[assignment]
    try:
        wrong = world.run("secret", "get", "s3.secret_key")
    finally:
        derive.find_device = saved  # type: ignore[assignment]
    assert wrong.exit_code == 1 and "none of the keys" in wrong.output


@pytest.fixture(scope="module")
def graph(world: World) -> Iterator[LadybugStore]:
    # used after the CLI tests (module order): project the log and the keyring source's facts
    log = SqliteLog(world.tmp / "data" / "log.sqlite")
    try:
        raws = [r.value for r in log.read(RAW_FIDO2.name, 0, 0, 1000)]
    finally:
        log.close()
    keyring_path = world.tmp / "data" / "fido2" / "keyring.json"
    jobs = {"docs": (vault.Keyring.load(keyring_path).keys[0].recipients["backups"],)}
    source = KeyringSource("h1", keyring_path, jobs, None)
    raws += [e.to_json() for e in source.poll(100).observations]
    assert source.poll(100).observations == []  # unchanged keyring: nothing new
    store = LadybugStore(world.tmp / "graph")
    store.ensure_schema()
    table = MemoryTable()
    ops = []
    for raw in raws + raws[:3]:  # a redelivery changes nothing
        for ev in ROUTES[0].handle(raw, table):
            ops += PROJECTORS[ev.type](ev, decode_payload(ev.type, ev.schema_version, ev.payload))
    store.apply(ops, {"watchman.events.fido2/0": len(ops)})
    yield store
    store.close()


def ask(store: LadybugStore, name: str, **params: Any) -> list[dict[str, Any]]:
    cypher, p = resolve(name, params, datetime.now(UTC))
    return store.query(cypher, p, read_only=True).dicts()


def test_the_three_questions(world: World, graph: LadybugStore) -> None:
    [backup] = ask(graph, "fido2-backups")
    assert (backup["job"], backup["keys"]) == ("docs", ["desk-key"])
    [key] = ask(graph, "fido2-key-last-used", label="desk-key")
    # uses: restore-backup, decrypt, secret get (the denied touch and the stranger are not uses)
    assert key["usage_count"] == 3 and key["last_used"] is not None and key["status"] == "enrolled"
    secrets = ask(graph, "encrypted-secrets")
    assert [(r["type"], r["location"], r["keys"]) for r in secrets] == [
        ("secret", "s3.secret_key", ["desk-key"])
    ]
    files = ask(graph, "encrypted-secrets", type="file")
    assert len(files) == 1 and files[0]["location"].endswith("wg0.conf.age") and files[0]["last_decrypted"]
    denied = graph.query(
        "MATCH (e:Event)-[:ACTED_ON]->(d:EncryptedData) WHERE e.type = $t "
        "RETURN d.type AS type, e.summary AS s",
        {"t": "DecryptionDenied"}, read_only=True,
    ).dicts()  # fmt: skip
    assert sorted(r["type"] for r in denied) == ["backup", "secret"]
    assert any("cancelled" in r["s"] for r in denied) and any("wrong-key" in r["s"] for r in denied)


def test_no_secret_reaches_the_log_the_graph_or_the_output(world: World, graph: LadybugStore) -> None:
    graph.close()
    keyring = vault.Keyring.load(world.tmp / "data" / "fido2" / "keyring.json")
    planted = [SECRET_VALUE.encode(), PLAINTEXT, world.recovery.encode(), world.recovery.lower().encode()]
    for purpose in derive.PURPOSES:  # the identities the key's hmac-secret gives (one more touch each)
        ident = str(derive.identity(world.dev, keyring.keys, purpose)[1])
        planted += [ident.encode(), ident.lower().encode()]
    for where in [world.tmp / "data", world.tmp / "graph", world.tmp / "store"]:
        for path in where.rglob("*"):
            if path.is_file():
                blob = path.read_bytes()
                for value in planted:
                    assert value not in blob, f"{value[:8]!r}… in {path}"
    for text in world.outputs:
        assert SECRET_VALUE not in text and PLAINTEXT.decode() not in text
    assert sum(world.recovery in text for text in world.outputs) == 1  # shown once, at the first enrolment
