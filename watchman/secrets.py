"""One way to a secret (DESIGN §9): `Secrets.get(name)` over the environment, systemd credentials,
files, and stores plugged in later (the FIDO2 issue's encrypted store).

Settings hold secrets by reference, never by value: a setting whose text is `secret:NAME` is looked up
here when it is used (`resolve`). For a name such as `s3.secret_key` the lookup goes, first hit wins:

1. the environment variable `WATCHMAN_SECRET_S3_SECRET_KEY` (the name upper-cased, `.` and `-` as `_`);
2. `$CREDENTIALS_DIRECTORY/s3.secret_key`: systemd's credentials (`LoadCredential=`, and
   `LoadCredentialEncrypted=` for secrets sealed to the host with `systemd-creds encrypt`);
3. `<secrets_dir>/s3.secret_key` (default `<data_dir>/secrets/`), a file that must be readable by its
   owner only: a group- or world-readable secret file is refused, not used;
4. each registered `SecretStore`, in order.

A secret's value never reaches an event, the graph, a log line or an API answer. Every value handed out
is remembered by this process so that `redact` (and the `RedactSecrets` logging filter installed at the
entry point) can scrub it from any text that would leave the process, and so that tests can search the
log, the graph and the log files for every secret a run used.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
ENV_PREFIX = "WATCHMAN_SECRET_"
REFERENCE = "secret:"
REDACTED = "[redacted]"
# Shorter values would redact ordinary words in text (a 3-letter "secret" is not one anyway).
MIN_REDACT_LEN = 6


class SecretError(Exception):
    """A secret that cannot be had: missing, unreadable, or badly named. The message never holds a value."""


class SecretMissing(SecretError):
    pass


class SecretStore(Protocol):
    """A store a secret may come from after the environment and files (e.g. an encrypted store)."""

    name: str

    def find(self, name: str) -> str | None: ...

    def names(self) -> Iterable[str]: ...


_handed_out: set[str] = set()
_lock = threading.Lock()
# Stores every Secrets of this process consults (after its own), e.g. the FIDO2 store the daemon unlocks
# once per boot with a touch (docs/domains/fido2.md).
_process_stores: list[SecretStore] = []


def register_process_store(store: SecretStore) -> None:
    """Make `store` a source of every Secrets of this process (once per store name)."""
    with _lock:
        _process_stores[:] = [s for s in _process_stores if s.name != store.name] + [store]


def unregister_process_store(name: str) -> None:
    with _lock:
        _process_stores[:] = [s for s in _process_stores if s.name != name]


def _remember(value: str) -> str:
    if len(value) >= MIN_REDACT_LEN:
        with _lock:
            _handed_out.add(value)
    return value


def handed_out() -> frozenset[str]:
    """Every secret value this process has handed out (for redaction and for leak tests)."""
    with _lock:
        return frozenset(_handed_out)


def redact(text: str) -> str:
    """The text with every secret value handed out so far replaced by [redacted]."""
    for value in sorted(handed_out(), key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    return text


class RedactSecrets(logging.Filter):
    """A logging filter that scrubs handed-out secrets from every record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not handed_out():
            return True
        message = record.getMessage()
        scrubbed = redact(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


def env_name(name: str) -> str:
    return ENV_PREFIX + re.sub(r"[.-]", "_", name).upper()


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise SecretError(
            f"bad secret name {name!r}: lower-case letters, digits, '.', '_' and '-', at most 128"
        )
    return name


class Secrets:
    def __init__(
        self,
        secrets_dir: Path | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        stores: Iterable[SecretStore] = (),
    ) -> None:
        self.environ = os.environ if environ is None else environ
        self.secrets_dir = secrets_dir
        self.stores = list(stores)

    def register_store(self, store: SecretStore) -> None:
        self.stores.append(store)

    def _all_stores(self) -> list[SecretStore]:
        with _lock:
            extra = [s for s in _process_stores if s not in self.stores]
        return [*self.stores, *extra]

    def _credentials_dir(self) -> Path | None:
        where = self.environ.get("CREDENTIALS_DIRECTORY", "")
        return Path(where) if where else None

    def _read_file(self, path: Path, name: str) -> str | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SecretError(f"secret {name!r}: cannot read {path}: {exc.strerror}") from None
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise SecretError(
                f"secret {name!r}: {path} is readable by others (mode {stat.S_IMODE(st.st_mode):o}); "
                f"chmod 600 it"
            )
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretError(f"secret {name!r}: cannot read {path}: {type(exc).__name__}") from None

    def find(self, name: str) -> str | None:
        """The secret's value, or None when no source has it."""
        check_name(name)
        value = self.environ.get(env_name(name))
        if value:
            return _remember(value)
        creds = self._credentials_dir()
        if creds is not None:
            # systemd's credentials directory is read-only and owned by the service: its mode is systemd's.
            path = creds / name
            if path.is_file():
                return _remember(path.read_text(encoding="utf-8").rstrip("\r\n"))
        if self.secrets_dir is not None:
            found = self._read_file(self.secrets_dir / name, name)
            if found is not None:
                return _remember(found)
        for store in self._all_stores():
            found = store.find(name)
            if found is not None:
                return _remember(found)
        return None

    def get(self, name: str) -> str:
        """The secret's value; SecretMissing says where it was looked for."""
        value = self.find(name)
        if value is None:
            places = [f"${env_name(name)}"]
            if self._credentials_dir() is not None:
                places.append(f"$CREDENTIALS_DIRECTORY/{name}")
            if self.secrets_dir is not None:
                places.append(str(self.secrets_dir / name))
            places.extend(f"the {s.name} store" for s in self._all_stores())
            raise SecretMissing(f"secret {name!r} not found (looked in {', '.join(places)})")
        return value

    def resolve(self, value: str) -> str:
        """A setting's value: `secret:NAME` is looked up, any other text is returned as it is."""
        if value.startswith(REFERENCE):
            return self.get(value[len(REFERENCE) :])
        return value

    def names(self) -> list[str]:
        """The names of the secrets available (never their values)."""
        out = {
            k[len(ENV_PREFIX) :].lower().replace("_", ".") for k in self.environ if k.startswith(ENV_PREFIX)
        }
        for where in (self._credentials_dir(), self.secrets_dir):
            if where is not None and where.is_dir():
                out.update(p.name for p in where.iterdir() if p.is_file() and NAME.match(p.name))
        for store in self._all_stores():
            out.update(store.names())
        return sorted(out)

    def put_file(self, name: str, value: str) -> Path:
        """Write a secret file (0600, atomically) under secrets_dir: `watchman secret set` without a store."""
        check_name(name)
        if self.secrets_dir is None:
            raise SecretError("no secrets directory configured")
        self.secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.secrets_dir / name
        tmp = path.with_name(f".{name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, value.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        return path
