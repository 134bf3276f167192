"""The keyring (enrolled FIDO2 keys + the recovery recipient), files encrypted to it, and the secrets store.

Format: every ciphertext is an age v1 file (pyrage, streaming) whose file key is wrapped once per
enrolled FIDO2 key (to the X25519 recipient derived from that key's hmac-secret, see derive.py) and once
to the recovery recipient. So several keys open the same data, a lost key is not lost data, and Debian's
`age -d -i recovery.key FILE.age` opens any of it without our code. Beside each ciphertext, in
`FILE.age.fido2.json`, the header: format version, purpose, algorithm and, per key, what is needed to ask
it again (credential id, salt, rp id, UP/UV/PIN flags, algorithm) — public data only.

The keyring lives in `<data_dir>/fido2/keyring.json` (0600; public data, but its integrity matters).
The recovery identity is generated at the first enrolment, returned once for the user to keep offline,
and never stored here.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyrage

from watchman.fido2.derive import FORMAT_VERSION, PURPOSES, Fido2Error, KeyEntry

ALGORITHM = "age-v1/X25519 (FIDO2 hmac-secret -> HKDF-SHA256)"
HEADER_SUFFIX = ".fido2.json"
HEADER_FORMAT = "watchman-fido2"


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


@dataclass
class Keyring:
    path: Path
    keys: list[KeyEntry] = field(default_factory=list)
    recovery: str = ""  # the recovery age1… recipient

    @classmethod
    def load(cls, path: Path) -> Keyring:
        if not path.exists():
            return cls(path)
        try:
            raw = json.loads(path.read_text())
            keys = [KeyEntry.from_json(k) for k in raw.get("keys", [])]
            return cls(path, keys, str(raw.get("recovery", "")))
        except (OSError, ValueError) as exc:
            raise Fido2Error(f"keyring {path}: unreadable ({type(exc).__name__})") from None

    def save(self) -> None:
        body = {
            "version": FORMAT_VERSION,
            "recovery": self.recovery,
            "keys": [k.to_json() for k in self.keys],
        }
        _write_private(self.path, json.dumps(body, indent=2, sort_keys=True).encode())

    def add(self, entry: KeyEntry) -> str | None:
        """Add an enrolled key; at the first enrolment returns the recovery identity (show it ONCE)."""
        if any(k.label == entry.label for k in self.keys):
            raise Fido2Error(f"a key labelled {entry.label!r} is enrolled already")
        shown = None
        if not self.recovery:
            ident = pyrage.x25519.Identity.generate()
            self.recovery = str(ident.to_public())
            shown = str(ident)
        self.keys.append(entry)
        self.save()
        return shown

    def remove(self, label: str) -> KeyEntry:
        entry = self.get(label)
        self.keys = [k for k in self.keys if k.label != label]
        self.save()
        return entry

    def get(self, label: str) -> KeyEntry:
        for k in self.keys:
            if k.label == label:
                return k
        raise Fido2Error(f"no enrolled FIDO2 key labelled {label!r}")

    def recipients(self, purpose: str) -> list[str]:
        """The age recipients data of this purpose is encrypted to: every key's, plus the recovery one."""
        if purpose not in PURPOSES:
            raise Fido2Error(f"unknown purpose {purpose!r}")
        if not self.keys:
            raise Fido2Error("no FIDO2 key enrolled: `watchman fido2 enrol LABEL` first")
        return [k.recipients[purpose] for k in self.keys] + [self.recovery]

    def header(self, purpose: str, label: str) -> dict[str, Any]:
        return {
            "format": HEADER_FORMAT,
            "version": FORMAT_VERSION,
            "purpose": purpose,
            "label": label,
            "algorithm": ALGORITHM,
            "recovery": self.recovery,
            "keys": [k.to_json() for k in self.keys],
        }


def read_header(path: Path) -> tuple[str, list[KeyEntry]]:
    """The purpose and key entries of a ciphertext's header file."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise Fido2Error(
            f"no FIDO2 header {path} beside the ciphertext (decrypt with the recovery key)"
        ) from None
    except (OSError, ValueError) as exc:
        raise Fido2Error(f"FIDO2 header {path}: unreadable ({type(exc).__name__})") from None
    if raw.get("format") != HEADER_FORMAT or raw.get("version") != FORMAT_VERSION:
        raise Fido2Error(f"FIDO2 header {path}: not a {HEADER_FORMAT} v{FORMAT_VERSION} header")
    return str(raw["purpose"]), [KeyEntry.from_json(k) for k in raw.get("keys", [])]


@dataclass(frozen=True)
class Encrypted:
    path: Path
    header: Path
    size_bytes: int
    checksum: str  # sha256 of the ciphertext


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def encrypt_file(
    keyring: Keyring, src: Path, dest: Path | None = None, *, purpose: str = "files", label: str = ""
) -> Encrypted:
    """Encrypt `src` to every enrolled key and the recovery key (no touch needed)."""
    recipients = [pyrage.x25519.Recipient.from_str(r) for r in keyring.recipients(purpose)]
    dest = dest or src.with_name(src.name + ".age")
    tmp = dest.with_name(f".{dest.name}.tmp")
    try:
        with src.open("rb") as fin, tmp.open("wb") as fout:
            pyrage.encrypt_io(fin, fout, recipients)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise Fido2Error(f"cannot encrypt {src}: {exc.strerror}") from None
    os.replace(tmp, dest)
    header = dest.with_name(dest.name + HEADER_SUFFIX)
    header.write_text(json.dumps(keyring.header(purpose, label or src.name), indent=2, sort_keys=True))
    return Encrypted(dest, header, dest.stat().st_size, _sha256(dest))


def decrypt_file(src: Path, dest: Path, identities: Sequence[Any]) -> int:
    """Decrypt `src` into `dest` (written under a temporary name, renamed only once age verified it all)."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    try:
        with src.open("rb") as fin, tmp.open("wb") as fout:
            os.fchmod(fout.fileno(), 0o600)
            pyrage.decrypt_io(fin, fout, list(identities))
    except pyrage.DecryptError:
        tmp.unlink(missing_ok=True)
        raise Fido2Error(f"{src}: no identity given opens it (or it was altered)") from None
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise Fido2Error(f"cannot decrypt {src}: {exc.strerror}") from None
    os.replace(tmp, dest)
    return dest.stat().st_size


class Fido2SecretStore:
    """Secrets encrypted at rest to the FIDO2 keys (purpose `secrets`) and the recovery key.

    `set`, `names` and `remove` need no key. Reading needs the secrets identity: `unlock(identity)` once
    (after a touch, e.g. once per boot) keeps it in this process's memory until `lock()`; a locked store
    refuses to read with a clear error. Plugged into watchman/secrets.py as a `SecretStore`.
    """

    name = "fido2"

    def __init__(self, directory: Path, keyring: Keyring) -> None:
        self.directory = directory
        self.keyring = keyring
        self._identity: Any = None
        self._lock = threading.Lock()

    def _path(self, name: str) -> Path:
        from watchman.secrets import check_name

        return self.directory / f"{check_name(name)}.age"

    def set(self, name: str, value: str) -> Path:
        recipients = [pyrage.x25519.Recipient.from_str(r) for r in self.keyring.recipients("secrets")]
        path = self._path(name)
        _write_private(path, pyrage.encrypt(value.encode("utf-8"), recipients))
        return path

    def remove(self, name: str) -> bool:
        path = self._path(name)
        if not path.exists():
            return False
        path.unlink()
        return True

    def names(self) -> Iterable[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.name[: -len(".age")] for p in self.directory.glob("*.age"))

    def unlock(self, identity: Any) -> None:
        with self._lock:
            self._identity = identity

    def lock(self) -> None:
        with self._lock:
            self._identity = None

    @property
    def unlocked(self) -> bool:
        return self._identity is not None

    def read(self, name: str, identities: Sequence[Any]) -> str:
        path = self._path(name)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            from watchman.secrets import SecretMissing

            raise SecretMissing(f"secret {name!r} is not in the FIDO2 store") from None
        try:
            return pyrage.decrypt(blob, list(identities)).decode("utf-8")
        except pyrage.DecryptError:
            raise Fido2Error(f"secret {name!r}: the key given does not open it") from None

    def find(self, name: str) -> str | None:
        from watchman.secrets import SecretError

        if not self._path(name).exists():
            return None
        with self._lock:
            identity = self._identity
        if identity is None:
            raise SecretError(
                f"secret {name!r} is in the FIDO2 store, which is locked: unlock it with a touch "
                f"(`watchman secret unlock`) or seal it to the host with systemd-creds"
            )
        return self.read(name, [identity])


_process: dict[str, Fido2SecretStore] = {}
_process_lock = threading.Lock()


def process_store(directory: Path) -> Fido2SecretStore:
    """This process's FIDO2 secrets store (`<directory>/secrets`), registered with watchman/secrets.py so
    that every `Secrets` of the process finds its secrets once it is unlocked (the daemon: once per boot,
    with a touch, by the UnlockSecrets command)."""
    from watchman.secrets import register_process_store

    with _process_lock:
        store = _process.get("store")
        if store is None or store.directory != directory / "secrets":
            store = Fido2SecretStore(directory / "secrets", Keyring.load(directory / "keyring.json"))
            _process["store"] = store
            register_process_store(store)
        return store


def now_iso() -> str:
    return datetime.now(UTC).isoformat()
