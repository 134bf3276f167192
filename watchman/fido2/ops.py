"""The FIDO2 acts the CLI and the executor share, each returning what it observed doing (never a secret).

Every function here hands back `Fido2ActivityObserved` records for `watchman.raw.fido2`: the executor
appends them with its command's outcome, the CLI appends them to the event log itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from fido2.ctap import CtapDevice

from schemas.envelope import Envelope, event_id
from schemas.events.fido2 import RAW_FIDO2, Fido2ActivityObserved
from watchman.fido2 import derive, vault

Now = Callable[[], datetime]


@dataclass
class Acts:
    """What one operation observed, in order; `error` is the first failure (its message), if any."""

    observed: list[Fido2ActivityObserved] = field(default_factory=list)
    error: derive.Fido2Error | None = None

    def envelopes(self, host: str, source: str, scope: str, now: datetime) -> list[tuple[str, Envelope]]:
        """The observations as raw envelopes; `scope` (a command id, the CLI run) keeps ids deterministic."""
        return [
            (
                RAW_FIDO2.name,
                Envelope(
                    id=event_id("fido2-act", scope, str(i), o.stage, o.credential_id, o.data_id),
                    type=o.TYPE,
                    schema_version=o.VERSION,
                    host=host,
                    source=source,
                    ts=o.ts,
                    observed_at=now,
                    subject=o.data_id or o.credential_id,
                    payload=o.model_dump(mode="json"),
                ),
            )
            for i, o in enumerate(self.observed)
        ]


def enrolled(entry: derive.KeyEntry, now: datetime, command_id: str = "") -> Fido2ActivityObserved:
    return Fido2ActivityObserved(
        stage="enrolled", ts=now, credential_id=entry.credential_id, label=entry.label, rp_id=entry.rp_id,
        uv=entry.uv, pin=entry.pin, command_id=command_id,
    )  # fmt: skip


def removed(entry: derive.KeyEntry, now: datetime) -> Fido2ActivityObserved:
    return Fido2ActivityObserved(
        stage="removed", ts=now, credential_id=entry.credential_id, label=entry.label
    )


def used(entry: derive.KeyEntry, purpose: str, now: datetime, command_id: str = "") -> Fido2ActivityObserved:
    return Fido2ActivityObserved(
        stage="used", ts=now, credential_id=entry.credential_id, label=entry.label, purpose=purpose,
        command_id=command_id,
    )  # fmt: skip


def encrypted(
    keyring: vault.Keyring, data_type: str, data_id: str, purpose: str, now: datetime, *, size: int = 0,
    checksum: str = "", command_id: str = "",
) -> Fido2ActivityObserved:  # fmt: skip
    return Fido2ActivityObserved(
        stage="encrypted", ts=now, data_id=data_id, data_type=data_type, purpose=purpose, size_bytes=size,
        checksum=checksum, encryption_method=vault.ALGORITHM,
        credential_ids=tuple(k.credential_id for k in keyring.keys), command_id=command_id,
    )  # fmt: skip


def encrypt_file(
    keyring: vault.Keyring, path: Path, label: str, now: Now, command_id: str = ""
) -> tuple[Acts, vault.Encrypted | None]:
    acts = Acts()
    try:
        result = vault.encrypt_file(keyring, path, label=label)
    except derive.Fido2Error as exc:
        acts.error = exc
        return acts, None
    acts.observed.append(
        encrypted(
            keyring,
            "file",
            str(result.path),
            "files",
            now(),
            size=result.size_bytes,
            checksum=result.checksum,
            command_id=command_id,
        )
    )
    return acts, result


def unlock(
    open_device: Callable[[], CtapDevice],
    entries: list[derive.KeyEntry],
    purpose: str,
    data_type: str,
    data_id: str,
    now: Now,
    *,
    pin: str | None = None,
    timeout: float | None = 30.0,
    say: Callable[[str], None] | None = None,
    command_id: str = "",
) -> tuple[Acts, Any]:
    """The identity for `purpose` after a touch; a failure is recorded as a denied decryption."""
    acts = Acts()
    try:
        device = open_device()
        entry, identity = derive.identity(device, entries, purpose, pin=pin, timeout=timeout, say=say)
    except derive.Fido2Error as exc:
        acts.error = exc
        acts.observed.append(
            Fido2ActivityObserved(
                stage="denied",
                ts=now(),
                data_id=data_id,
                data_type=data_type,
                purpose=purpose,
                reason=f"{exc.reason}: {exc}",
                command_id=command_id,
            )
        )
        return acts, None
    acts.observed.append(used(entry, purpose, now(), command_id))
    acts.observed[-1] = acts.observed[-1].model_copy(update={"data_id": data_id, "data_type": data_type})
    return acts, identity


def decrypt_file(
    open_device: Callable[[], CtapDevice],
    src: Path,
    dest: Path,
    now: Now,
    *,
    pin: str | None = None,
    timeout: float | None = 30.0,
    say: Callable[[str], None] | None = None,
    command_id: str = "",
) -> Acts:
    """Decrypt an .age file with its FIDO2 header into `dest` (which must not exist) after a touch."""
    if dest.exists():
        acts = Acts()
        acts.error = derive.Fido2Error(f"{dest} exists: decrypt into a new path")
        return acts
    try:
        purpose, entries = vault.read_header(src.with_name(src.name + vault.HEADER_SUFFIX))
    except derive.Fido2Error as exc:
        return Acts(error=exc)
    acts, identity = unlock(open_device, entries, purpose, "file", str(src), now, pin=pin, timeout=timeout,
                            say=say, command_id=command_id)  # fmt: skip
    if identity is None:
        return acts
    try:
        vault.decrypt_file(src, dest, [identity])
    except derive.Fido2Error as exc:
        acts.error = exc
        acts.observed.append(
            Fido2ActivityObserved(
                stage="denied",
                ts=now(),
                data_id=str(src),
                data_type="file",
                reason=f"error: {exc}",
                command_id=command_id,
            )
        )
        return acts
    cid = acts.observed[-1].credential_id
    acts.observed.append(
        Fido2ActivityObserved(
            stage="decrypted",
            ts=now(),
            data_id=str(src),
            data_type="file",
            credential_id=cid,
            command_id=command_id,
        )
    )
    return acts
