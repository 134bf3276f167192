"""FIDO2 hmac-secret → keys: enrol a credential and derive age X25519 identities with python-fido2's client.

Enrolment makes a NON-discoverable ES256 credential for our own relying-party id (default `watchman`)
with the hmac-secret extension (touch 1), then asks it once for hmac-secret over a fresh random 32-byte
salt (touch 2). The 32-byte output never leaves this process: HKDF-SHA256 turns it into one X25519
secret per purpose (info `watchman-fido2/v1/<purpose>`, purposes files/backups/secrets), and only the
matching PUBLIC keys (age `age1…` recipients) are stored. So encrypting never needs the key (the 2 AM
backup runs unattended) and decrypting needs the key and a touch.

What is needed to ask again is the `KeyEntry`: credential id, salt, rp id, the UP/UV/PIN flags the
secret was got with, the credential algorithm and the format version. An hmac-secret got with UV
differs from one without (CTAP 2.1 §12.5, systemd#31443), so the flags are part of the entry and a
mismatch is reported as such, not as "wrong key".

Errors (`Fido2Error` subclasses) never hold key material: no device, wrong key (none of the entry's
credentials is on this token), cancelled/denied, timeout, PIN needed/invalid, UV mismatch.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyrage
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fido2.client import ClientError, DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap import CtapDevice, CtapError
from fido2.ctap2.base import Ctap2
from fido2.ctap2.extensions import HmacSecretExtension
from fido2.webauthn import PublicKeyCredentialCreationOptions, PublicKeyCredentialRequestOptions

FORMAT_VERSION = 1
DEFAULT_RP_ID = "watchman"
ALG_ES256 = -7
PURPOSES = ("files", "backups", "secrets")
SALT_LEN = 32


class Fido2Error(Exception):
    """A FIDO2 operation failed; the message says what to do and never holds key material."""

    reason = "error"


class NoDevice(Fido2Error):
    reason = "no-device"


class WrongKey(Fido2Error):
    reason = "wrong-key"


class Cancelled(Fido2Error):
    reason = "cancelled"


class TouchTimeout(Fido2Error):
    reason = "timeout"


class PinRequired(Fido2Error):
    reason = "pin"


class FlagMismatch(Fido2Error):
    reason = "flag-mismatch"


class Unsupported(Fido2Error):
    reason = "unsupported"


def b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- bech32 (BIP 173), for age's AGE-SECRET-KEY-1… and age1… encodings ---
_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _polymod(values: Iterable[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def bech32_encode(hrp: str, data: bytes) -> str:
    acc, bits, five = 0, 0, []
    for byte in data:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            five.append((acc >> bits) & 31)
    if bits:
        five.append((acc << (5 - bits)) & 31)
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    pm = _polymod([*expanded, *five, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[d] for d in five + checksum)


def x25519_identity(secret: bytes) -> pyrage.x25519.Identity:
    """The age identity whose scalar is these 32 bytes (as age-keygen would print it)."""
    return pyrage.x25519.Identity.from_str(bech32_encode("age-secret-key-", secret).upper())


def x25519_recipient(secret: bytes) -> str:
    pub = X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()
    return bech32_encode("age", pub)


def purpose_secret(hmac_output: bytes, purpose: str) -> bytes:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r} (one of {', '.join(PURPOSES)})")
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=f"watchman-fido2/v{FORMAT_VERSION}/{purpose}".encode(),
    ).derive(hmac_output)


@dataclass(frozen=True)
class KeyEntry:
    """What is needed to ask one FIDO2 key again (stored beside every ciphertext; no secret in it)."""

    label: str
    credential_id: str  # base64url
    salt: str  # base64url, 32 bytes
    rp_id: str
    up: bool
    uv: bool
    pin: bool
    alg: int
    version: int
    recipients: dict[str, str]  # purpose -> age1… public key derived from the hmac-secret

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> KeyEntry:
        try:
            entry = cls(
                label=str(raw["label"]),
                credential_id=str(raw["credential_id"]),
                salt=str(raw["salt"]),
                rp_id=str(raw["rp_id"]),
                up=bool(raw["up"]),
                uv=bool(raw["uv"]),
                pin=bool(raw["pin"]),
                alg=int(raw["alg"]),
                version=int(raw["version"]),
                recipients={str(k): str(v) for k, v in dict(raw["recipients"]).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise Fido2Error(f"malformed FIDO2 key entry: {type(exc).__name__} {exc}") from None
        if entry.version != FORMAT_VERSION:
            raise Fido2Error(
                f"FIDO2 key entry format version {entry.version} is not supported (want {FORMAT_VERSION})"
            )
        return entry


class Prompts(UserInteraction):
    """python-fido2's UserInteraction: the "touch your key" prompt and the PIN (never logged)."""

    def __init__(self, pin: str | None = None, say: Callable[[str], None] | None = None) -> None:
        self.pin = pin
        self.say = say or (lambda _msg: None)

    def prompt_up(self) -> None:
        self.say("Touch your FIDO2 key now.")

    def request_pin(self, permissions: Any, rp_id: str | None) -> str | None:
        return self.pin

    def request_uv(self, permissions: Any, rp_id: str | None) -> bool:
        return True


def _client(device: CtapDevice, rp_id: str, prompts: Prompts) -> Fido2Client:
    collector = DefaultClientDataCollector(f"https://{rp_id}", verify=lambda rp, origin: rp == rp_id)
    hmac_secret = HmacSecretExtension(allow_hmac_secret=True)  # type: ignore[no-untyped-call]
    return Fido2Client(device, collector, prompts, extensions=[hmac_secret])


def _translate(exc: Exception, what: str) -> Fido2Error:
    """A python-fido2 error as one of ours, with what to do."""
    cause = exc.cause if isinstance(exc, ClientError) else exc
    code = getattr(cause, "code", None)
    if isinstance(cause, CtapError):
        if code in (
            CtapError.ERR.KEEPALIVE_CANCEL,
            CtapError.ERR.USER_ACTION_TIMEOUT,
            CtapError.ERR.ACTION_TIMEOUT,
        ):
            return TouchTimeout(
                f"{what}: the key was not touched in time (try again and touch it when it blinks)"
            )
        if code == CtapError.ERR.OPERATION_DENIED:
            return Cancelled(f"{what}: cancelled on the key (the touch was refused)")
        if code in (CtapError.ERR.PIN_INVALID, CtapError.ERR.PIN_AUTH_INVALID):
            return PinRequired(f"{what}: wrong PIN for the FIDO2 key")
        if code == CtapError.ERR.PIN_BLOCKED:
            return PinRequired(f"{what}: the key's PIN is blocked (reset the key; use the recovery key)")
        if code == CtapError.ERR.NO_CREDENTIALS:
            return WrongKey(f"{what}: this FIDO2 key holds none of the credentials it was encrypted for")
    if isinstance(exc, ClientError) and exc.code == ClientError.ERR.TIMEOUT:
        return TouchTimeout(f"{what}: the key was not touched in time")
    if type(exc).__name__ == "PinRequiredError":
        return PinRequired(f"{what}: the key needs its PIN (give --pin / pin)")
    if isinstance(exc, ClientError) and exc.code == ClientError.ERR.CONFIGURATION_UNSUPPORTED:
        return Unsupported(f"{what}: the key cannot do this ({cause})")
    return Fido2Error(f"{what}: FIDO2 error {type(cause).__name__}: {cause}")


def _timer(timeout: float | None) -> threading.Event:
    event = threading.Event()
    if timeout:
        t = threading.Timer(timeout, event.set)
        t.daemon = True
        t.start()
    return event


def enrol(
    device: CtapDevice,
    label: str,
    *,
    rp_id: str = DEFAULT_RP_ID,
    uv: bool = False,
    pin: str | None = None,
    timeout: float | None = 30.0,
    say: Callable[[str], None] | None = None,
) -> KeyEntry:
    """Make a credential on the key and derive its public recipients (two touches)."""
    prompts = Prompts(pin, say)
    client = _client(device, rp_id, prompts)
    uv_req = "required" if uv else "discouraged"
    try:
        reg = client.make_credential(
            PublicKeyCredentialCreationOptions.from_dict(
                {
                    "rp": {"id": rp_id, "name": "The Watchman"},
                    "user": {"id": os.urandom(16), "name": label, "displayName": label},
                    "challenge": os.urandom(32),
                    "pubKeyCredParams": [{"type": "public-key", "alg": ALG_ES256}],
                    "authenticatorSelection": {"residentKey": "discouraged", "userVerification": uv_req},
                    "extensions": {"hmacCreateSecret": True},
                }
            ),
            event=_timer(timeout),
        )
    except Exception as exc:
        raise _translate(exc, "enrolling the FIDO2 key") from None
    if not reg.client_extension_results.get("hmacCreateSecret"):
        raise Unsupported("this FIDO2 key does not support the hmac-secret extension")
    cred_id = reg.raw_id
    salt = os.urandom(SALT_LEN)
    partial = KeyEntry(
        label,
        b64e(cred_id),
        b64e(salt),
        rp_id,
        True,
        uv,
        uv and pin is not None,
        ALG_ES256,
        FORMAT_VERSION,
        {},
    )
    output, got_uv = _hmac_secret(device, partial, pin, timeout, say)
    recipients = {p: x25519_recipient(purpose_secret(output, p)) for p in PURPOSES}
    return KeyEntry(
        label,
        partial.credential_id,
        partial.salt,
        rp_id,
        True,
        got_uv,
        partial.pin,
        ALG_ES256,
        FORMAT_VERSION,
        recipients,
    )


def _hmac_secret(
    device: CtapDevice,
    entry: KeyEntry,
    pin: str | None,
    timeout: float | None,
    say: Callable[[str], None] | None,
) -> tuple[bytes, bool]:
    client = _client(device, entry.rp_id, Prompts(pin, say))
    try:
        selection = client.get_assertion(
            PublicKeyCredentialRequestOptions.from_dict(
                {
                    "rpId": entry.rp_id,
                    "challenge": os.urandom(32),
                    "allowCredentials": [{"type": "public-key", "id": b64d(entry.credential_id)}],
                    "userVerification": "required" if entry.uv else "discouraged",
                    "extensions": {"hmacGetSecret": {"salt1": b64d(entry.salt)}},
                }
            ),
            event=_timer(timeout),
        )
        response = selection.get_response(0)
    except Exception as exc:
        raise _translate(exc, "asking the FIDO2 key") from None
    secret = response.client_extension_results.hmac_get_secret
    if secret is None:
        raise Unsupported("the FIDO2 key gave no hmac-secret output")
    return bytes(secret.output1), response.response.authenticator_data.is_user_verified()


def holds(device: CtapDevice, entry: KeyEntry) -> bool:
    """Whether this token holds the entry's credential: a silent probe (up=false), no touch."""
    try:
        Ctap2(device).get_assertions(
            entry.rp_id,
            b"\0" * 32,
            [{"type": "public-key", "id": b64d(entry.credential_id)}],
            None,
            {"up": False},
        )
    except CtapError as exc:
        if exc.code == CtapError.ERR.NO_CREDENTIALS:
            return False
        raise _translate(exc, "probing the FIDO2 key") from None
    return True


def identity(
    device: CtapDevice,
    entries: Sequence[KeyEntry],
    purpose: str,
    *,
    pin: str | None = None,
    timeout: float | None = 30.0,
    say: Callable[[str], None] | None = None,
) -> tuple[KeyEntry, pyrage.x25519.Identity]:
    """The age identity for `purpose` from whichever of `entries` this token holds (one touch)."""
    entry = next((e for e in entries if holds(device, e)), None)
    if entry is None:
        labels = ", ".join(e.label for e in entries) or "none"
        raise WrongKey(
            f"this FIDO2 key is none of the keys this data was encrypted for ({labels}); "
            f"use one of them or the recovery key"
        )
    if entry.uv and not pin and Ctap2(device).get_info().options.get("clientPin"):
        raise PinRequired(f"key {entry.label!r} was enrolled with user verification: its PIN is needed")
    output, got_uv = _hmac_secret(device, entry, pin, timeout, say)
    if got_uv != entry.uv:
        raise FlagMismatch(
            f"key {entry.label!r} was enrolled {'with' if entry.uv else 'without'} user verification (PIN) "
            f"but answered {'with' if got_uv else 'without'} it: the hmac-secret differs; "
            f"enrol again or use the recovery key"
        )
    secret = purpose_secret(output, purpose)
    if x25519_recipient(secret) != entry.recipients.get(purpose):
        raise FlagMismatch(
            f"key {entry.label!r} answered with a secret that does not match its enrolment "
            f"(UP/UV/PIN flags or rp id differ from enrolment, or the key was reset); use the recovery key"
        )
    return entry, x25519_identity(secret)


def find_device(device_path: str | Path | None = None) -> CtapDevice:
    """The FIDO2 key: the one at `device_path` (/dev/hidrawN), or the first found over /dev/hidraw*."""
    from fido2.hid import CtapHidDevice, open_device

    if device_path:
        try:
            return open_device(str(device_path))
        except Exception as exc:
            raise NoDevice(f"no FIDO2 key at {device_path}: {type(exc).__name__}: {exc}") from None
    try:
        found = next(iter(CtapHidDevice.list_devices()), None)
    except Exception as exc:
        raise NoDevice(f"cannot list FIDO2 keys over /dev/hidraw*: {type(exc).__name__}: {exc}") from None
    if found is None:
        raise NoDevice(
            "no FIDO2 key found over /dev/hidraw* "
            "(plug it in; check that a udev rule gives you the hidraw device)"
        )
    return found
