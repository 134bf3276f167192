"""FIDO2 hardware keys: the commands that encrypt/decrypt with them, what was observed doing it, the events.

Key *use* is auditable, key *material* never appears here: an observation names a key by its credential
id (an opaque handle the key gives out, public like a key id) and its label; no hmac-secret, no derived
key, no recovery identity, no plaintext, no PIN. The executor (watchman/executors/fido2.py) and the CLI
(watchman/cli/fido2.py) report each act as a Fido2ActivityObserved record on `watchman.raw.fido2`; the
fido2 processor decides the domain events; the projection keeps (:FIDO2Key) and (:EncryptedData).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from schemas.envelope import utc
from schemas.events.base import EventPayload, register
from schemas.events.commands import CommandPayload, register_command
from schemas.model import UPDATED_AT, AlertKind, MiB, NodeLabel, Prop, RelType, Topic

LABEL = r"^[A-Za-z0-9][A-Za-z0-9 ._@+-]{0,63}$"
PURPOSE = Literal["files", "backups", "secrets"]

# --- commands ----------------------------------------------------------------------------------------


@register_command
class EncryptData(CommandPayload):
    """Encrypt the file at `file_path` to every enrolled FIDO2 key and the recovery key (no touch needed):
    `<file_path>.age` and its header `<file_path>.age.fido2.json` are written beside it."""

    TYPE: ClassVar[str] = "EncryptData"
    file_path: str = Field(min_length=1, max_length=4096)
    label: str = Field("", max_length=200)
    # Remove the plaintext once the ciphertext is written (destructive: needs confirm = "remove <file_path>").
    remove_plaintext: bool = False
    confirm: str = Field("", max_length=4300)


@register_command
class DecryptData(CommandPayload):
    """Decrypt `file_path` (an .age file with its FIDO2 header) into `output_path` (which must not exist)
    after a touch of one of its keys, waiting up to `timeout_seconds` for it."""

    TYPE: ClassVar[str] = "DecryptData"
    file_path: str = Field(min_length=1, max_length=4096)
    output_path: str = Field(min_length=1, max_length=4096)
    timeout_seconds: float = Field(30.0, gt=0, le=300)


@register_command
class UnlockSecrets(CommandPayload):
    """Unlock the daemon's FIDO2 secrets store until it stops (or LockSecrets): one touch, waited for up to
    `timeout_seconds`; then `secret:NAME` settings resolve from the store unattended."""

    TYPE: ClassVar[str] = "UnlockSecrets"
    timeout_seconds: float = Field(30.0, gt=0, le=300)


@register_command
class LockSecrets(CommandPayload):
    """Forget the unlocked FIDO2 secrets store's identity (reading needs a touch again)."""

    TYPE: ClassVar[str] = "LockSecrets"


def remove_phrase(file_path: str) -> str:
    return f"remove {file_path}"


# --- the raw observation --------------------------------------------------------------------------

Stage = Literal["enrolled", "removed", "used", "encrypted", "decrypted", "denied"]


@register
class Fido2ActivityObserved(EventPayload):
    """One act with a FIDO2 key or data encrypted to the keys (the raw record of watchman.raw.fido2)."""

    TYPE: ClassVar[str] = "Fido2ActivityObserved"
    VERSION: ClassVar[int] = 1

    stage: Stage
    ts: datetime
    credential_id: str = Field("", max_length=512)  # base64url; "" when no key was involved
    label: str = Field("", max_length=200)
    rp_id: str = Field("", max_length=253)
    uv: bool = False
    pin: bool = False
    purpose: str = ""  # files | backups | secrets
    data_id: str = Field("", max_length=4096)  # where the ciphertext is (path), or the secret's name
    data_type: str = ""  # file | secret | backup
    size_bytes: int = 0
    checksum: str = ""  # sha256 of the ciphertext
    encryption_method: str = ""
    credential_ids: tuple[str, ...] = ()  # the keys a ciphertext is encrypted to
    reason: str = Field("", max_length=2000)  # why a decryption was denied (no-device, wrong-key, ...)
    command_id: str = ""

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return utc(v)


# --- domain events ----------------------------------------------------------------------------------


class Fido2Event(EventPayload):
    VERSION: ClassVar[int] = 1
    command_id: str = ""


@register
class KeyEnrolled(Fido2Event):
    TYPE: ClassVar[str] = "KeyEnrolled"
    credential_id: str
    label: str
    rp_id: str
    uv: bool
    pin: bool


@register
class KeyRemoved(Fido2Event):
    TYPE: ClassVar[str] = "KeyRemoved"
    credential_id: str
    label: str


@register
class KeyUsed(Fido2Event):
    """A key was touched and gave its hmac-secret (for `purpose`); `usage_count` counts its uses so far."""

    TYPE: ClassVar[str] = "KeyUsed"
    credential_id: str
    label: str
    purpose: str
    usage_count: int


@register
class DataEncrypted(Fido2Event):
    TYPE: ClassVar[str] = "DataEncrypted"
    data_id: str
    data_type: str
    purpose: str
    size_bytes: int
    checksum: str
    encryption_method: str
    credential_ids: tuple[str, ...]


@register
class DataDecrypted(Fido2Event):
    TYPE: ClassVar[str] = "DataDecrypted"
    data_id: str
    data_type: str
    credential_id: str


@register
class DecryptionDenied(Fido2Event):
    """A decryption that did not happen: no device, wrong key, cancelled, timeout, PIN, flag mismatch."""

    TYPE: ClassVar[str] = "DecryptionDenied"
    data_id: str
    data_type: str
    reason: str
    credential_id: str = ""


FIDO2_EVENTS: tuple[type[Fido2Event], ...] = (
    KeyEnrolled,
    KeyRemoved,
    KeyUsed,
    DataEncrypted,
    DataDecrypted,
    DecryptionDenied,
)

# --- alerts -----------------------------------------------------------------------------------------

ALERTS: tuple[AlertKind, ...] = (
    AlertKind(
        name="DecryptionDenied",
        fires_on="DecryptionDenied",
        severity="warning",
        subject="data_id",
        summary="decryption of {data_id} was denied: {reason}",
        resolves_on=("DataDecrypted",),
        ends_after_minutes=60,
    ),
)

# --- topics and graph ---------------------------------------------------------------------------------

RAW_FIDO2 = Topic(
    "watchman.raw.fido2",
    partitions=1,
    retention_days=30,
    retention_bytes=16 * MiB,
    description="Fido2ActivityObserved: enrolments, key uses, encryptions and decryptions; key host.",
)
EVENTS_FIDO2 = Topic(
    "watchman.events.fido2",
    partitions=1,
    retention_days=None,
    description="KeyEnrolled/KeyRemoved/KeyUsed/DataEncrypted/DataDecrypted/DecryptionDenied; kept (audit).",
)
FIDO2_KEY = NodeLabel(
    "FIDO2Key",
    key="credential_id",
    props=(
        Prop("credential_id", "STRING"),
        Prop("label", "STRING", "latest"),
        Prop("host", "STRING"),
        Prop("rp_id", "STRING"),
        Prop("uv", "BOOLEAN"),
        Prop("pin", "BOOLEAN"),
        Prop("status", "STRING", "latest"),  # enrolled | removed
        Prop("registered_at", "TIMESTAMP", "min"),
        Prop("last_used", "TIMESTAMP", "max"),
        Prop("usage_count", "INT64", "max"),
        UPDATED_AT,
    ),
    description="An enrolled FIDO2 hardware key (a non-discoverable credential); never its key material.",
)
ENCRYPTED_DATA = NodeLabel(
    "EncryptedData",
    key="id",
    props=(
        Prop("id", "STRING"),  # host:type:location
        Prop("host", "STRING"),
        Prop("type", "STRING"),  # file | secret | backup
        Prop("purpose", "STRING"),
        Prop("blob_location", "STRING"),
        Prop("encryption_method", "STRING", "latest"),
        Prop("fido2_credential_id", "STRING", "latest"),  # the first key it is encrypted to
        Prop("size_bytes", "INT64", "latest"),
        Prop("checksum", "STRING", "latest"),
        Prop("encrypted_at", "TIMESTAMP", "max"),
        Prop("last_decrypted", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="Data encrypted to the FIDO2 keys (a file, a secret, a backup job's backups).",
)
ENCRYPTED_WITH = RelType(
    "ENCRYPTED_WITH", (("EncryptedData", "FIDO2Key"),), description="The data opens with this key's touch."
)
KEY_ON = RelType("ENROLLED_ON", (("FIDO2Key", "Host"),), description="The key is enrolled on this host.")
FIDO2_ACTED_ON = RelType("ACTED_ON", (("Event", "FIDO2Key"), ("Event", "EncryptedData")))
TOPICS: tuple[Topic, ...] = (RAW_FIDO2, EVENTS_FIDO2)
NODES: tuple[NodeLabel, ...] = (FIDO2_KEY, ENCRYPTED_DATA)
RELS: tuple[RelType, ...] = (ENCRYPTED_WITH, KEY_ON, FIDO2_ACTED_ON)
