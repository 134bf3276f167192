"""FIDO2 keys: python-fido2's real client against the software CTAP2 authenticator (tests/support/ctap2.py,
the one allowed fake), real files, and Debian's `age` for the recovery path."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import threading
from pathlib import Path

import pytest
from fido2.ctap2.base import Ctap2
from fido2.ctap2.pin import ClientPin, PinProtocolV1, PinProtocolV2

from tests.support.ctap2 import SoftAuthenticator
from watchman.fido2 import derive, vault

PIN = "4711-pin"


@pytest.fixture
def keyring(tmp_path: Path) -> vault.Keyring:
    return vault.Keyring.load(tmp_path / "fido2" / "keyring.json")


def enrolled(keyring: vault.Keyring, label: str, **kw: object) -> tuple[SoftAuthenticator, str | None]:
    pin = kw.pop("pin", None)
    dev = SoftAuthenticator(pin=pin)  # type: ignore[arg-type]
    entry = derive.enrol(dev, label, pin=pin, **kw)  # type: ignore[arg-type]
    return dev, keyring.add(entry)


def test_soft_authenticator_speaks_ctap2_pin_protocols_1_and_2() -> None:
    dev = SoftAuthenticator()
    ctap = Ctap2(dev)
    assert "hmac-secret" in ctap.info.extensions and ctap.info.pin_uv_protocols == [2, 1]
    for proto in (PinProtocolV1(), PinProtocolV2()):
        fresh = SoftAuthenticator()
        cp = ClientPin(Ctap2(fresh), proto)
        cp.set_pin(PIN)
        assert len(cp.get_pin_token(PIN, ClientPin.PERMISSION.GET_ASSERTION, "watchman")) == 32
        with pytest.raises(Exception, match="PIN_INVALID"):
            cp.get_pin_token("wrong-pin")
        assert cp.get_pin_retries()[0] == 7


def test_enrol_encrypt_decrypt_round_trip(keyring: vault.Keyring, tmp_path: Path) -> None:
    dev, recovery = enrolled(keyring, "desk-key")
    assert recovery is not None and recovery.startswith("AGE-SECRET-KEY-1")
    assert dev.touches == 2  # make credential + first hmac-secret
    entry = keyring.keys[0]
    assert entry.rp_id == "watchman" and entry.alg == -7 and entry.up and not entry.uv
    assert set(entry.recipients) == set(derive.PURPOSES)
    # the keyring holds no secret: the recovery identity is not in it
    assert recovery not in keyring.path.read_text()

    src = tmp_path / "notes.txt"
    src.write_bytes(b"the launch codes\n" * 1000)
    enc = vault.encrypt_file(keyring, src, label="notes")
    assert dev.touches == 2  # encrypting needs no touch
    header = json.loads(enc.header.read_text())
    assert header["version"] == 1 and header["keys"][0]["credential_id"] == entry.credential_id
    assert b"launch" not in enc.path.read_bytes()

    used, ident = derive.identity(dev, header_keys(enc.header), "files")
    out = tmp_path / "notes.out"
    vault.decrypt_file(enc.path, out, [ident])
    assert out.read_bytes() == src.read_bytes() and dev.touches == 3 and used.label == "desk-key"


def header_keys(path: Path) -> list[derive.KeyEntry]:
    return vault.read_header(path)[1]


def test_multi_key_and_lost_key_recovery_with_debian_age(keyring: vault.Keyring, tmp_path: Path) -> None:
    first, recovery = enrolled(keyring, "primary")
    second, again = enrolled(keyring, "spare", pin=PIN, uv=True)
    assert again is None  # the recovery key is shown once, at the first enrolment
    assert keyring.keys[1].uv and keyring.keys[1].pin
    src = tmp_path / "db.dump"
    src.write_bytes(b"\x00secret rows\xff" * 5000)
    enc = vault.encrypt_file(keyring, src)
    entries = header_keys(enc.header)
    for dev, pin in ((first, None), (second, PIN)):
        _, ident = derive.identity(dev, entries, "files", pin=pin)
        out = tmp_path / f"out-{id(dev)}"
        vault.decrypt_file(enc.path, out, [ident])
        assert out.read_bytes() == src.read_bytes()
    # both keys lost: Debian's age opens it with the recovery identity alone
    assert recovery is not None
    key = tmp_path / "recovery.key"
    key.write_text(recovery + "\n")
    key.chmod(0o600)
    plain = subprocess.run(
        ["age", "-d", "-i", str(key), str(enc.path)], capture_output=True, check=True
    ).stdout
    assert plain == src.read_bytes()


def test_wrong_key_is_refused_without_a_touch(keyring: vault.Keyring, tmp_path: Path) -> None:
    enrolled(keyring, "mine")
    stranger = SoftAuthenticator()
    src = tmp_path / "f"
    src.write_text("x")
    enc = vault.encrypt_file(keyring, src)
    with pytest.raises(derive.WrongKey, match="none of the keys"):
        derive.identity(stranger, header_keys(enc.header), "files")
    assert stranger.touches == 0


def test_uv_flag_mismatch_is_named(keyring: vault.Keyring) -> None:
    dev, _ = enrolled(keyring, "pinned", pin=PIN, uv=True)
    entry = keyring.keys[0]
    # the header claims no UV: the key answers without UV, and that hmac-secret is another one
    lied = dataclasses.replace(entry, uv=False)
    with pytest.raises(derive.FlagMismatch, match="does not match its enrolment"):
        derive.identity(dev, [lied], "files", pin=PIN)
    # UV enrolment, no PIN given: said before any touch
    touches = dev.touches
    with pytest.raises(derive.PinRequired, match="PIN is needed"):
        derive.identity(dev, [entry], "files")
    assert dev.touches == touches
    with pytest.raises(derive.PinRequired, match="wrong PIN"):
        derive.identity(dev, [entry], "files", pin="not-it")


def test_uv_and_non_uv_secrets_differ(keyring: vault.Keyring) -> None:
    dev, _ = enrolled(keyring, "k", pin=PIN, uv=False)
    entry = keyring.keys[0]
    with_uv = derive._hmac_secret(dev, dataclasses.replace(entry, uv=True), PIN, 5, None)
    without = derive._hmac_secret(dev, entry, None, 5, None)
    assert with_uv[1] and not without[1] and with_uv[0] != without[0]


@pytest.mark.parametrize(
    ("touch", "error"),
    [("deny", derive.Cancelled), ("timeout", derive.TouchTimeout), ("wait", derive.TouchTimeout)],
)
def test_touch_refused_or_missing(keyring: vault.Keyring, touch: str, error: type[Exception]) -> None:
    dev, _ = enrolled(keyring, "k")
    dev.touch = touch
    with pytest.raises(error):
        derive.identity(dev, keyring.keys, "files", timeout=0.3)


def test_touch_prompt_is_shown(keyring: vault.Keyring) -> None:
    said: list[str] = []
    dev = SoftAuthenticator()
    derive.enrol(dev, "k", say=said.append)
    assert said == ["Touch your FIDO2 key now."] * 2


def test_no_device_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(derive.NoDevice, match="no FIDO2 key at"):
        derive.find_device(tmp_path / "hidraw-none")


def test_secret_store_locked_then_unlocked(keyring: vault.Keyring, tmp_path: Path) -> None:
    from watchman.secrets import SecretError, Secrets

    dev, _ = enrolled(keyring, "k")
    store = vault.Fido2SecretStore(tmp_path / "fido2" / "secrets", keyring)
    store.set("s3.secret_key", "very-secret-value-123")
    assert b"very-secret" not in (tmp_path / "fido2" / "secrets" / "s3.secret_key.age").read_bytes()
    secrets = Secrets(tmp_path / "plain", environ={}, stores=[store])
    assert "s3.secret_key" in secrets.names()
    with pytest.raises(SecretError, match="locked"):
        secrets.get("s3.secret_key")
    _, ident = derive.identity(dev, keyring.keys, "secrets")
    store.unlock(ident)
    assert secrets.resolve("secret:s3.secret_key") == "very-secret-value-123"
    assert store.remove("s3.secret_key") and not list(store.names())


def test_concurrent_calls_are_serialised() -> None:
    dev = SoftAuthenticator()
    entry = derive.enrol(dev, "k")
    results: list[str] = []

    def ask() -> None:
        results.append(str(derive.identity(dev, [entry], "files")[1].to_public()))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [entry.recipients["files"]] * 3
