"""/admin/security/encrypt|decrypt|encrypted on a real embedded daemon (in this process, so that its
executor reaches the software authenticator of tests/support/ctap2.py, the one allowed fake), over real
HTTP: commands, the wait for the touch, a timeout, the audit events and the graph answer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.ctap2 import SoftAuthenticator
from watchman import settings as settings_mod
from watchman.fido2 import derive, vault
from watchman.secrets import SecretError, Secrets, unregister_process_store

pytestmark = pytest.mark.timeout(180)
PLAINTEXT = b"api-plaintext-8d1f0e44c2"
TOKEN = "ghp_planted-token-5a6b7c8d9e"


def wait_done(c: httpx.Client, url: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state: dict[str, Any] = c.get(url).json()
        if state["status"] != "pending":
            return state
        time.sleep(0.1)
    raise AssertionError(f"{url} still pending")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, SoftAuthenticator, Path]]:
    from watchman.daemon import Daemon

    root = tmp_path_factory.mktemp("fido2-api")
    data = root / "data"
    dev = SoftAuthenticator()
    keyring = vault.Keyring.load(data / "fido2" / "keyring.json")
    keyring.add(derive.enrol(dev, "desk-key"))
    vault.Fido2SecretStore(data / "fido2" / "secrets", keyring).set("github.token", TOKEN)
    cfg = root / "watchman.toml"
    cfg.write_text(f'data_dir = "{data}"\nhost = "h1"\napi_listen = "127.0.0.1:0"\npoll_interval = 0.05\n')
    s = settings_mod.load(
        cfg, network={"enabled": False}, journald={"enabled": False}, docker={"enabled": False},
        services={"metrics_enabled": False, "units_enabled": False}, resources={"enabled": False},
        configfiles={"enabled": False}, exposure={"enabled": False}, permissions={"enabled": False},
        vulnerabilities={"enabled": False}, authlog={"enabled": False},
    )  # fmt: skip
    saved = derive.find_device
    derive.find_device = lambda path=None: dev  # type: ignore[assignment]
    daemon = Daemon(s)
    url = daemon.start_api()
    runner = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    runner.start()
    token = s.api_token_path.read_text().strip()
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            yield c, dev, root
    finally:
        daemon.stop.set()
        runner.join(60)
        derive.find_device = saved  # type: ignore[assignment]
        unregister_process_store("fido2")


def test_encrypt_then_decrypt_after_a_touch(
    api: tuple[httpx.Client, SoftAuthenticator, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    c, dev, root = api
    assert (
        httpx.post(str(c.base_url.join("/admin/security/encrypt")), json={"file_path": "/x"}).status_code
        == 401
    )
    f = root / "token.txt"
    f.write_bytes(PLAINTEXT)
    bad = c.post("/admin/security/encrypt", json={"file_path": str(f), "remove_plaintext": True})
    assert bad.status_code == 400 and f"remove {f}" in bad.text
    r = c.post("/admin/security/encrypt", json={"file_path": str(f), "label": "token"})
    assert r.status_code == 202, r.text
    assert wait_done(c, r.json()["status_url"])["status"] == "succeeded"
    enc = root / "token.txt.age"
    assert enc.exists() and PLAINTEXT not in enc.read_bytes()

    dev.touch = "wait"  # nobody touches: the executor waits timeout_seconds, then gives up
    r = c.post("/admin/security/decrypt", json={"file_path": str(enc), "output_path": str(root / "o1"),
                                                "timeout_seconds": 1})  # fmt: skip
    assert r.status_code == 202 and "touch the FIDO2 key" in r.json()["detail"]
    state = wait_done(c, r.json()["status_url"])
    assert state["status"] == "failed" and "timeout" in state["detail"] and not (root / "o1").exists()

    dev.touch = "approve"
    r = c.post("/admin/security/decrypt", json={"file_path": str(enc), "output_path": str(root / "o2")})
    state = wait_done(c, r.json()["status_url"])
    assert state["status"] == "succeeded", state
    assert (root / "o2").read_bytes() == PLAINTEXT

    def rows() -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = c.get("/admin/security/encrypted", params={"type": "file"}).json()["rows"]
        return got

    deadline = time.monotonic() + 30
    while not (rows() and rows()[0]["last_decrypted"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    [row] = rows()
    assert row["location"] == str(enc) and row["keys"] == ["desk-key"] and row["last_decrypted"]
    assert c.get("/admin/security/encrypted", params={"type": "nope"}).status_code == 422

    # the daemon's log records, its event log and graph files hold neither the plaintext nor the identity
    keyring = vault.Keyring.load(root / "data" / "fido2" / "keyring.json")
    ident = str(derive.identity(dev, keyring.keys, "files")[1])
    assert caplog.records and PLAINTEXT.decode() not in caplog.text and ident not in caplog.text
    for path in (root / "data").rglob("*"):
        if path.is_file() and path.suffix != ".age":
            blob = path.read_bytes()
            assert PLAINTEXT not in blob and ident.encode() not in blob, path


def test_the_secrets_store_unlocks_once_with_a_touch(
    api: tuple[httpx.Client, SoftAuthenticator, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    c, dev, root = api
    secrets = Secrets(None, environ={})  # any Secrets of the daemon's process
    assert "github.token" in secrets.names()
    with pytest.raises(SecretError, match="locked"):
        secrets.resolve("secret:github.token")
    dev.touch = "deny"
    r = c.post("/admin/security/unlock", json={"timeout_seconds": 5})
    assert r.status_code == 202 and "touch the FIDO2 key" in r.json()["detail"]
    state = wait_done(c, r.json()["status_url"])
    assert state["status"] == "failed" and "cancelled" in state["detail"]
    dev.touch = "approve"
    state = wait_done(c, c.post("/admin/security/unlock", json={}).json()["status_url"])
    assert state["status"] == "succeeded", state
    touches = dev.touches
    assert secrets.resolve("secret:github.token") == TOKEN
    assert (
        Secrets(None, environ={}).get("github.token") == TOKEN and dev.touches == touches
    )  # no more touches
    assert wait_done(c, c.post("/admin/security/lock").json()["status_url"])["status"] == "succeeded"
    with pytest.raises(SecretError, match="locked"):
        secrets.get("github.token")
    assert TOKEN not in caplog.text
    for path in (root / "data").rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
