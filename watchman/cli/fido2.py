"""`watchman fido2 ...` (keys, files, FIDO2-protected backups), `watchman secret ...` (the encrypted store).

Enrolment, decryption and restores happen here, at the terminal beside the key, where the touch and the
PIN are; what was done is appended to the event log (embedded deployment), never a secret. Encrypting
needs no key at all: every ciphertext is encrypted to the public recipients the keyring holds.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from watchman.cli.common import err, fail, get_settings, out

if TYPE_CHECKING:
    from watchman.fido2.ops import Acts
    from watchman.fido2.vault import Fido2SecretStore, Keyring

app = typer.Typer(
    help="FIDO2 hardware keys: enrol keys, encrypt and decrypt files, restore FIDO2-protected backups.\n\n"
    "\b\nExamples:\n"
    "  watchman fido2 enrol desk-key              # touch twice; prints the recovery key ONCE\n"
    "  watchman fido2 enrol spare --uv            # a second key, its PIN required to decrypt\n"
    "  watchman fido2 keys                        # enrolled keys and their backup recipients\n"
    "  watchman fido2 encrypt /etc/wireguard/wg0.conf\n"
    "  watchman fido2 decrypt /etc/wireguard/wg0.conf.age --to /tmp/wg0.conf\n"
    "  watchman fido2 restore-backup etc etc:latest --to /tmp/restore",
    no_args_is_help=True,
    rich_markup_mode=None,
)
secret_app = typer.Typer(
    help="Secrets encrypted at rest to the FIDO2 keys (API tokens, S3 credentials...); settings name them\n"
    "as secret:NAME. Setting needs no key; reading needs a touch.\n\n"
    "\b\nExamples:\n"
    "  echo -n 'AKIA...' | watchman secret set s3.secret_key\n"
    "  watchman secret list\n"
    "  watchman secret get s3.secret_key          # touch the key\n"
    "  watchman secret rm s3.secret_key",
    no_args_is_help=True,
    rich_markup_mode=None,
)

Pin = Annotated[bool, typer.Option("--pin", help="ask for the key's PIN (keys enrolled with --uv)")]


def _now() -> datetime:
    return datetime.now(UTC)


def _keyring() -> Keyring:
    from watchman.domains.fido2 import keyring_path
    from watchman.fido2.vault import Keyring

    return Keyring.load(keyring_path(get_settings()))


def _opener() -> Callable[[], Any]:
    from watchman.fido2 import derive

    path = get_settings().fido2.device_path or None
    return lambda: derive.find_device(path)


def _pin(ask: bool) -> str | None:
    return getpass.getpass("FIDO2 PIN: ") if ask else None


def _say(message: str) -> None:
    err.print(message, highlight=False)


def _record(acts: Acts, scope: str) -> None:
    """Append what was done to the event log (embedded: the daemon's next start projects it)."""
    from schemas.topics import TOPICS
    from watchman.bus.sqlite_log import SqliteLog
    from watchman.pipeline import envelope_record

    s = get_settings()
    if not acts.observed or s.deployment != "embedded":
        return
    log = SqliteLog(s.data_dir / "log.sqlite")
    try:
        log.ensure_topics(TOPICS.values())
        envs = acts.envelopes(s.host, "watchman.cli.fido2", scope, _now())
        with log.transaction():
            for topic, env in envs:
                log.append(topic, [envelope_record(env)])
    finally:
        log.close()


def _done(acts: Acts, scope: str) -> None:
    _record(acts, scope)
    if acts.error is not None:
        raise fail(str(acts.error))


@app.command("enrol")
def enrol(
    label: Annotated[str, typer.Argument(help="a name for this key (e.g. desk-key)")],
    uv: Annotated[
        bool, typer.Option("--uv", help="require user verification (the key's PIN) to decrypt")
    ] = False,
) -> None:
    """Enrol a FIDO2 key (two touches). The first enrolment prints the recovery key: keep it offline.

    \b
    Example:  watchman fido2 enrol desk-key
    """
    from watchman.fido2 import derive, ops

    s = get_settings()
    keyring = _keyring()
    try:
        device = _opener()()
        entry = derive.enrol(device, label, rp_id=s.fido2.rp_id, uv=uv, pin=_pin(uv),
                             timeout=s.fido2.touch_timeout_seconds, say=_say)  # fmt: skip
        recovery = keyring.add(entry)
    except derive.Fido2Error as exc:
        raise fail(str(exc)) from None
    acts = ops.Acts([ops.enrolled(entry, _now())])
    _record(acts, f"enrol/{entry.credential_id}")
    out.print(f"enrolled {label!r} (uv={'yes' if entry.uv else 'no'}); backups recipient: "
              f"{entry.recipients['backups']}", highlight=False)  # fmt: skip
    if recovery:
        out.print(
            "\nRECOVERY KEY (shown once; store it offline, e.g. printed; it opens everything without a key:"
            f"\n  age -d -i recovery.key FILE.age)\n\n# recovery: {keyring.recovery}\n{recovery}\n",
            highlight=False,
        )


@app.command("keys")
def keys() -> None:
    """The enrolled keys: label, flags, credential id (start) and the age recipient for backups.

    \b
    Example:  watchman fido2 keys
    """
    keyring = _keyring()
    for k in keyring.keys:
        typer.echo(f"{k.label}\tuv={k.uv}\tcred={k.credential_id[:12]}…\tbackups={k.recipients['backups']}")
    if keyring.recovery:
        typer.echo(f"recovery\t\t\tbackups={keyring.recovery}")
    if not keyring.keys:
        err.print("no FIDO2 key enrolled: watchman fido2 enrol LABEL")


@app.command("remove")
def remove(label: Annotated[str, typer.Argument(help="the key's label")]) -> None:
    """Forget an enrolled key: new ciphertexts no longer open with it (old ones still do).

    \b
    Example:  watchman fido2 remove lost-key
    """
    from watchman.fido2 import derive, ops

    try:
        entry = _keyring().remove(label)
    except derive.Fido2Error as exc:
        raise fail(str(exc)) from None
    _record(ops.Acts([ops.removed(entry, _now())]), f"remove/{entry.credential_id}/{_now().isoformat()}")
    out.print(f"removed {label!r}")


@app.command("encrypt")
def encrypt(
    path: Annotated[Path, typer.Argument(help="the file to encrypt (PATH.age and its header are written)")],
    label: Annotated[str, typer.Option("--label", help="a name for it in the graph")] = "",
) -> None:
    """Encrypt a file to every enrolled key and the recovery key (no touch needed).

    \b
    Example:  watchman fido2 encrypt /etc/wireguard/wg0.conf
    """
    from watchman.fido2 import ops

    if not path.is_file():
        raise fail(f"no file {path}")
    acts, result = ops.encrypt_file(_keyring(), path, label, _now)
    _done(acts, f"encrypt/{path}/{_now().isoformat()}")
    assert result is not None
    out.print(f"{result.path} ({result.size_bytes} bytes; header {result.header.name})", highlight=False)


@app.command("decrypt")
def decrypt(
    path: Annotated[Path, typer.Argument(help="the .age file (its .fido2.json header beside it)")],
    to: Annotated[Path, typer.Option("--to", help="where the plaintext goes (must not exist)")],
    pin: Pin = False,
) -> None:
    """Decrypt a file after a touch of one of the keys it was encrypted to.

    \b
    Example:  watchman fido2 decrypt wg0.conf.age --to /tmp/wg0.conf
    """
    from watchman.fido2 import ops

    s = get_settings()
    acts = ops.decrypt_file(_opener(), path, to, _now, pin=_pin(pin), timeout=s.fido2.touch_timeout_seconds,
                            say=_say)  # fmt: skip
    _done(acts, f"decrypt/{path}/{_now().isoformat()}")
    out.print(f"decrypted to {to}", highlight=False)


@app.command("restore-backup")
def restore_backup(
    job: Annotated[str, typer.Argument(help="the backup job ([backups.jobs.NAME])")],
    backup_id: Annotated[str, typer.Argument(help="the backup's id, or JOB:latest")],
    to: Annotated[Path, typer.Option("--to", help="restore under this directory")],
    pin: Pin = False,
) -> None:
    """Restore a backup encrypted to a FIDO2 key's backups recipient: one touch opens it.

    \b
    Example:  watchman fido2 restore-backup etc etc:latest --to /tmp/restore
    """
    from watchman.backups import service
    from watchman.fido2 import ops

    s = get_settings()
    keyring = _keyring()
    acts, identity = ops.unlock(_opener(), keyring.keys, "backups", "backup", job, _now, pin=_pin(pin),
                                timeout=s.fido2.touch_timeout_seconds, say=_say)  # fmt: skip
    _done(acts, f"restore/{job}/{backup_id}/{_now().isoformat()}")
    try:
        j = service.open_job(s.backups, job, host=s.host, data_dir=s.data_dir)
        service.add_identities(j, [identity])
        result = service.restore(j, backup_id, target_dir=str(to), in_place=False, confirm="", now=_now,
                                 observe=lambda _obs: None)  # fmt: skip
    except Exception as exc:
        raise fail(f"{type(exc).__name__}: {exc}") from None
    out.print(f"restored {result.files} files of {backup_id} to {to}", highlight=False)


# --- watchman secret ---


def _store() -> Fido2SecretStore:
    from watchman.domains.fido2 import directory
    from watchman.fido2.vault import Fido2SecretStore

    return Fido2SecretStore(directory(get_settings()) / "secrets", _keyring())


@secret_app.command("set")
def secret_set(
    name: Annotated[str, typer.Argument(help="the secret's name (settings say secret:NAME)")],
) -> None:
    """Store a secret, read from stdin (or asked for), encrypted to the keys (no touch needed).

    \b
    Example:  echo -n "$TOKEN" | watchman secret set github.token
    """
    import sys

    from watchman.fido2 import derive, ops

    value = sys.stdin.read() if not sys.stdin.isatty() else getpass.getpass(f"value of {name}: ")
    value = value.rstrip("\r\n")
    if not value:
        raise fail("an empty secret is not stored")
    store = _store()
    try:
        path = store.set(name, value)
    except (derive.Fido2Error, Exception) as exc:
        raise fail(str(exc)) from None
    acts = ops.Acts(
        [ops.encrypted(store.keyring, "secret", name, "secrets", _now(), size=path.stat().st_size)]
    )
    _record(acts, f"secret-set/{name}/{_now().isoformat()}")
    out.print(f"stored {name} (encrypted to {len(store.keyring.keys)} key(s) + recovery)", highlight=False)


@secret_app.command("get")
def secret_get(name: Annotated[str, typer.Argument(help="the secret's name")], pin: Pin = False) -> None:
    """Print a secret after a touch of a key.

    \b
    Example:  watchman secret get github.token
    """
    from watchman.fido2 import derive, ops

    store = _store()
    s = get_settings()
    if name not in store.names():
        raise fail(f"no secret {name!r} in the FIDO2 store")
    acts, identity = ops.unlock(_opener(), store.keyring.keys, "secrets", "secret", name, _now, pin=_pin(pin),
                                timeout=s.fido2.touch_timeout_seconds, say=_say)  # fmt: skip
    _done(acts, f"secret-get/{name}/{_now().isoformat()}")
    try:
        value = store.read(name, [identity])
    except derive.Fido2Error as exc:
        raise fail(str(exc)) from None
    typer.echo(value)


@secret_app.command("list")
def secret_list() -> None:
    """The names of the secrets in the store (never their values; no touch).

    \b
    Example:  watchman secret list
    """
    for n in _store().names():
        typer.echo(n)


@secret_app.command("rm")
def secret_rm(name: Annotated[str, typer.Argument(help="the secret's name")]) -> None:
    """Remove a secret from the store.

    \b
    Example:  watchman secret rm github.token
    """
    if not _store().remove(name):
        raise fail(f"no secret {name!r} in the FIDO2 store")
    out.print(f"removed {name}")
