"""SyncObsidianVault: sync one vault now, by the vault's own source (it holds the syncer and its lock, so a
command never races the automatic syncs); the steps go to the raw topic as the automatic ones do."""

from __future__ import annotations

from schemas.envelope import Envelope
from schemas.events import CommandFailed, CommandPayload, CommandRejected, CommandSucceeded
from schemas.events.obsidian import SyncObsidianVault
from watchman.executors import ExecContext, Outcome, executor


@executor(SyncObsidianVault.TYPE)
def sync_vault(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    assert isinstance(payload, SyncObsidianVault)
    for src in ctx.sources:
        if getattr(src, "vault", None) == payload.vault and hasattr(src, "sync_now"):
            # Idempotent: a second sync of a vault in sync does nothing but fetch.
            result = src.sync_now("command")
            status = result.status.sync_status
            return (CommandFailed if status == "error" else CommandSucceeded), result.summary()
    return CommandRejected, f"no vault {payload.vault!r} on {ctx.host} (see [[obsidian.vaults]])"
