"""KeyringSource: tells the graph which FIDO2 keys are enrolled and which backup jobs encrypt to them.

It reads the keyring file (public data: credential ids, labels, flags and the derived age recipients) and
the backup jobs' recipients (handed in by watchman/domains/fido2.py), and on each change emits one
`enrolled` observation per key and one `encrypted` observation (data type `backup`) per backup job that
lists a key's backups recipient. Ids are deterministic from the fact (key; job and keys), so a restart or
another enrolment tells the same facts again under the same ids and the graph holds them once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from producers.source import Poll
from schemas.envelope import Envelope, event_id
from schemas.events.fido2 import RAW_FIDO2, Fido2ActivityObserved

METHOD = "age-v1/X25519 (FIDO2 hmac-secret -> HKDF-SHA256)"


def observations(
    keyring: Mapping[str, Any], jobs: Mapping[str, tuple[str, ...]], ts: datetime
) -> list[Fido2ActivityObserved]:
    """The facts a keyring and the backup jobs' recipients tell (pure)."""
    keys = [k for k in keyring.get("keys", []) if isinstance(k, dict) and k.get("credential_id")]
    out = [
        Fido2ActivityObserved(
            stage="enrolled",
            ts=ts,
            credential_id=str(k["credential_id"]),
            label=str(k.get("label", "")),
            rp_id=str(k.get("rp_id", "")),
            uv=bool(k.get("uv")),
            pin=bool(k.get("pin")),
        )
        for k in keys
    ]
    by_recipient = {
        str((k.get("recipients") or {}).get("backups", "")): str(k["credential_id"]) for k in keys
    }
    for job, recipients in sorted(jobs.items()):
        cids = tuple(by_recipient[r] for r in recipients if r in by_recipient)
        if cids:
            out.append(
                Fido2ActivityObserved(
                    stage="encrypted",
                    ts=ts,
                    data_id=job,
                    data_type="backup",
                    purpose="backups",
                    encryption_method=METHOD,
                    credential_ids=cids,
                )
            )
    return out


class KeyringSource:
    topic = RAW_FIDO2

    def __init__(
        self,
        host: str,
        path: Path,
        jobs: Mapping[str, tuple[str, ...]],
        cursor: dict[str, Any] | None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = f"fido2:{path}"
        self.host = host
        self.path = path
        self.jobs = dict(jobs)
        self.digest = (cursor or {}).get("digest", "")
        self.now = now

    def poll(self, max_lines: int) -> Poll:
        try:
            raw = self.path.read_bytes()
        except OSError:
            return Poll()
        digest = hashlib.sha256(raw + json.dumps(self.jobs, sort_keys=True).encode()).hexdigest()
        if digest == self.digest:
            return Poll()
        try:
            keyring = json.loads(raw)
        except ValueError:
            return Poll()
        ts = datetime.fromtimestamp(self.path.stat().st_mtime, UTC)
        now = self.now()
        envs = [
            Envelope(
                # the fact, not the file's version: a key told again is the same event (one graph Event)
                id=event_id(
                    "fido2-keyring", self.host, o.stage, o.credential_id, o.data_id, *o.credential_ids
                ),
                type=o.TYPE,
                schema_version=o.VERSION,
                host=self.host,
                source="producers.fido2.source",
                ts=ts,
                observed_at=now,
                subject=o.data_id or o.credential_id,
                payload=o.model_dump(mode="json"),
            )
            for o in observations(keyring, self.jobs, ts)
        ]
        self.digest = digest
        return Poll(observations=envs, cursor={"digest": digest}, lines=len(envs))

    def close(self) -> None:
        pass
