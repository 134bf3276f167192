"""The FIDO2 domain in the shell: where the key and the keyring are, what needs a touch, its source.

```toml
[fido2]
device_path = ""            # /dev/hidrawN; "" = the first FIDO2 key over /dev/hidraw*
rp_id = "watchman"          # our own relying-party id (credentials are bound to it)
touch_timeout_seconds = 30  # how long a decryption waits for the touch
fido2_required_for = ["backups", "secrets", "api_keys"]
```
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from producers.source import Source
    from watchman.settings import Settings
    from watchman.state import CursorStore


class Fido2Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    device_path: str = ""
    rp_id: str = Field("watchman", min_length=1, max_length=253)
    touch_timeout_seconds: float = Field(30.0, gt=0, le=300)
    # The seed's [security] list: what opens only with a key's touch (decrypting; encrypting never needs it).
    fido2_required_for: tuple[Literal["backups", "secrets", "api_keys", "files"], ...] = (
        "backups",
        "secrets",
        "api_keys",
    )
    # Default <data_dir>/fido2 (keyring.json, secrets/).
    directory: Path | None = None


def directory(settings: Settings) -> Path:
    return settings.fido2.directory or settings.data_dir / "fido2"


def keyring_path(settings: Settings) -> Path:
    return directory(settings) / "keyring.json"


def sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    # Watched before it exists (producers/source.py `present`): the first enrolment creates it.
    path = keyring_path(settings)
    if path.exists():  # the FIDO2 secrets store joins watchman/secrets.py, locked until UnlockSecrets
        from watchman.fido2.vault import process_store

        process_store(directory(settings))
    from producers.fido2.source import KeyringSource

    jobs = {name: tuple(job.recipients) for name, job in settings.backups.jobs.items()}
    name = f"fido2:{path}"
    return [KeyringSource(settings.host, path, jobs, cursors.get(name))]


def executor_options(settings: Settings) -> dict[str, dict[str, object]]:
    opts: dict[str, object] = {"settings": settings.fido2, "directory": directory(settings)}
    return dict.fromkeys(("EncryptData", "DecryptData", "UnlockSecrets", "LockSecrets"), opts)


def describe(settings: Settings) -> list[tuple[str, str]]:
    f = settings.fido2
    path = keyring_path(settings)
    keys = "no keyring" if not path.exists() else f"keyring {path}"
    where = f.device_path or "auto (/dev/hidraw*)"
    return [("fido2", f"{keys}; device {where}; touch needed for {', '.join(f.fido2_required_for)}")]
