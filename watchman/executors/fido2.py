"""The FIDO2 commands' executors: EncryptData (no touch) and DecryptData (waits for the touch).

Each reports what it did as Fido2ActivityObserved records for watchman.raw.fido2 (ExecContext.emitted).
Options (ExecContext.options[TYPE], from watchman.domains.fido2.executor_options): `settings`
(Fido2Settings), `directory` (the keyring's), and in tests `open_device` (a callable giving the
CtapDevice; by default the key at fido2.device_path or the first over /dev/hidraw*).
Idempotent: EncryptData of a file whose ciphertext exists re-encrypts it to the same keys (the same
file, the same graph node); DecryptData never overwrites its output.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from schemas.envelope import Envelope
from schemas.events import CommandFailed, CommandPayload, CommandRejected, CommandSucceeded
from schemas.events.fido2 import DecryptData, EncryptData, LockSecrets, UnlockSecrets, remove_phrase
from watchman.executors import ExecContext, Outcome, executor

SOURCE = "watchman.executors.fido2"


def _options(command: Envelope, ctx: ExecContext) -> dict[str, Any] | Outcome:
    from watchman.domains.fido2 import Fido2Settings

    opts = ctx.options.get(command.type, {})
    if not isinstance(opts.get("settings"), Fido2Settings) or not isinstance(opts.get("directory"), Path):
        return CommandRejected, f"FIDO2 is not configured on {ctx.host}"
    return dict(opts)


def _device(opts: dict[str, Any]) -> Callable[[], Any]:
    from watchman.fido2 import derive

    opener = opts.get("open_device")
    if callable(opener):
        return opener  # type: ignore[no-any-return]
    path = opts["settings"].device_path or None
    return lambda: derive.find_device(path)


@executor(EncryptData.TYPE)
def encrypt_data(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    from watchman.fido2 import ops, vault

    assert isinstance(payload, EncryptData)
    opts = _options(command, ctx)
    if isinstance(opts, tuple):
        return opts
    if payload.remove_plaintext and payload.confirm != remove_phrase(payload.file_path):
        return CommandRejected, f"removing the plaintext needs confirm = {remove_phrase(payload.file_path)!r}"
    path = Path(payload.file_path)
    if not path.is_file():
        return CommandRejected, f"no file {path}"
    keyring = vault.Keyring.load(opts["directory"] / "keyring.json")
    acts, result = ops.encrypt_file(keyring, path, payload.label, ctx.now, command.id)
    ctx.emitted.extend(acts.envelopes(ctx.host, SOURCE, command.id, ctx.now()))
    if result is None:
        return CommandFailed, str(acts.error)
    if payload.remove_plaintext:
        path.unlink()
    return CommandSucceeded, f"encrypted {path} to {len(keyring.keys)} key(s) + recovery: {result.path}"


@executor(DecryptData.TYPE)
def decrypt_data(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    from watchman.fido2 import ops

    assert isinstance(payload, DecryptData)
    opts = _options(command, ctx)
    if isinstance(opts, tuple):
        return opts
    src, dest = Path(payload.file_path), Path(payload.output_path)
    if not src.is_file():
        return CommandRejected, f"no file {src}"
    if dest.exists():
        return CommandRejected, f"{dest} exists: decrypt into a new path"
    acts = ops.decrypt_file(
        _device(opts), src, dest, ctx.now, timeout=payload.timeout_seconds, command_id=command.id
    )
    ctx.emitted.extend(acts.envelopes(ctx.host, SOURCE, command.id, ctx.now()))
    if acts.error is not None:
        return CommandFailed, f"{getattr(acts.error, 'reason', 'error')}: {acts.error}"
    return CommandSucceeded, f"decrypted {src} to {dest}"


@executor(UnlockSecrets.TYPE)
def unlock_secrets(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    from watchman.fido2 import ops, vault

    assert isinstance(payload, UnlockSecrets)
    opts = _options(command, ctx)
    if isinstance(opts, tuple):
        return opts
    store = vault.process_store(opts["directory"])
    keyring = vault.Keyring.load(opts["directory"] / "keyring.json")
    if not keyring.keys:
        return CommandRejected, "no FIDO2 key enrolled"
    acts, identity = ops.unlock(_device(opts), keyring.keys, "secrets", "store", "secrets-store", ctx.now,
                                timeout=payload.timeout_seconds, command_id=command.id)  # fmt: skip
    ctx.emitted.extend(acts.envelopes(ctx.host, SOURCE, command.id, ctx.now()))
    if identity is None:
        return CommandFailed, f"{getattr(acts.error, 'reason', 'error')}: {acts.error}"
    store.unlock(identity)
    return CommandSucceeded, f"the FIDO2 secrets store is unlocked ({len(list(store.names()))} secrets)"


@executor(LockSecrets.TYPE)
def lock_secrets(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    from watchman.fido2 import vault

    opts = _options(command, ctx)
    if isinstance(opts, tuple):
        return opts
    vault.process_store(opts["directory"]).lock()
    return CommandSucceeded, "the FIDO2 secrets store is locked"
