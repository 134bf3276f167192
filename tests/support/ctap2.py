"""A software CTAP2 authenticator: the ONE fake the FIDO2 tests may use (no USB, uhid or USB/IP here).

`SoftAuthenticator` is a python-fido2 `CtapDevice`. It answers the real CTAP 2.1 CBOR commands, byte for
byte as a token would over CTAPHID_CBOR, so python-fido2's real `Fido2Client` drives it unchanged:

- authenticatorGetInfo (0x04): versions FIDO_2_0/FIDO_2_1, extension hmac-secret, options clientPin
  (true once a PIN is set), pinUvAuthToken, makeCredUvNotRqd, rk=false, PIN/UV protocols 2 and 1, ES256;
- authenticatorMakeCredential (0x01): non-discoverable ES256 credentials, attestation format "none";
  the credential id wraps a nonce and a MAC over the rp id hash, so a credential of another token (or
  another rp id) is not recognised (CTAP2_ERR_NO_CREDENTIALS), exactly as on a real token;
- authenticatorGetAssertion (0x02): signature over authData ‖ clientDataHash, the `up` option honoured
  (the client's silent pre-flight probe with up=false), hmac-secret per CTAP 2.1 §12.5: the platform's
  key agreement key → ECDH → shared secret (protocol 1: SHA-256(Z); protocol 2: HKDF into HMAC and AES
  keys), saltAuth verified, salts decrypted, output = HMAC-SHA256(CredRandom, salt) with one CredRandom
  for UV and another without (so an hmac-secret got with UV differs from one without, as on real keys);
- authenticatorClientPIN (0x06): getPinRetries, getKeyAgreement, setPin, getPinToken (legacy) and
  getPinUvAuthTokenUsingPinWithPermissions, wrong PINs counting down to PIN_BLOCKED;
- authenticatorSelection (0x0B) and authenticatorReset (0x07).

The protocol 1/2 primitives (kdf, AES-CBC, HMAC) are python-fido2's `PinProtocolV1/V2`: they are the
spec's functions and symmetric, so the authenticator side uses them as a token's firmware would.

The "touch" is a hook: `touch` is "approve", "deny" (CTAP2_ERR_OPERATION_DENIED), "timeout"
(CTAP2_ERR_USER_ACTION_TIMEOUT) or "wait" (no touch: block until the client cancels through its event,
then CTAP2_ERR_KEEPALIVE_CANCEL). Each wanted touch sends the UPNEEDED keep-alive first, which is how the
client's "touch your key" prompt is shown. `touches` counts the touches given.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fido2 import cbor
from fido2.ctap import STATUS, CtapDevice, CtapError
from fido2.ctap2.pin import PinProtocolV1, PinProtocolV2
from fido2.hid import CAPABILITY, CTAPHID

ERR = CtapError.ERR
AAGUID = bytes.fromhex("5761746368206d616e20736f66742d31")  # "Watch man soft-1"
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
FLAG_UP, FLAG_UV, FLAG_AT, FLAG_ED = 0x01, 0x04, 0x40, 0x80
PROTOCOLS = {1: PinProtocolV1, 2: PinProtocolV2}


def _hkdf(key: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(key)


def _cose_p256(pub: ec.EllipticCurvePublicKey, alg: int) -> dict[int, Any]:
    n = pub.public_numbers()
    return {1: 2, 3: alg, -1: 1, -2: n.x.to_bytes(32, "big"), -3: n.y.to_bytes(32, "big")}


class _Fail(Exception):
    def __init__(self, code: ERR) -> None:
        self.code = code


class SoftAuthenticator(CtapDevice):
    """An in-process CTAP2.1 authenticator with hmac-secret (see the module docstring)."""

    def __init__(self, *, pin: str | None = None, touch: str = "approve", seed: bytes | None = None) -> None:
        self._master = seed or os.urandom(32)
        self._pin_hash: bytes | None = None
        self.pin_retries = 8
        self.touch = touch
        self.touches = 0
        self.sign_count = 0
        self._lock = threading.Lock()
        self._key_agreement = ec.generate_private_key(ec.SECP256R1())
        self._pin_token = os.urandom(32)
        self._token_perms_rp: tuple[int, str | None] | None = None
        self.cancel_wait = 30.0
        if pin is not None:
            self._pin_hash = hashlib.sha256(pin.encode()).digest()[:16]

    # --- CtapDevice ---
    @property
    def capabilities(self) -> int:
        return int(CAPABILITY.CBOR | CAPABILITY.NMSG)

    @classmethod
    def list_devices(cls) -> Iterator[CtapDevice]:
        return iter(())

    def call(
        self,
        cmd: int,
        data: bytes = b"",
        event: threading.Event | None = None,
        on_keepalive: Callable[[STATUS], None] | None = None,
    ) -> bytes:
        if cmd != CTAPHID.CBOR or not data:
            raise CtapError(ERR.INVALID_COMMAND)
        handlers: dict[int, Callable[..., Any]] = {
            0x01: self._make_credential,
            0x02: self._get_assertion,
            0x04: self._get_info,
            0x06: self._client_pin,
            0x07: self._reset,
            0x0B: self._selection,
        }
        handler = handlers.get(data[0])
        if handler is None:
            return bytes([ERR.INVALID_COMMAND])
        try:
            params = cbor.decode(data[1:]) if len(data) > 1 else {}
        except Exception:
            return bytes([ERR.INVALID_CBOR])
        if not isinstance(params, dict):
            return bytes([ERR.CBOR_UNEXPECTED_TYPE])
        with self._lock:
            try:
                result = handler(params, event, on_keepalive)
            except _Fail as f:
                return bytes([f.code])
        return b"\x00" + (cbor.encode(result) if result is not None else b"")

    # --- user presence ---
    def _user_presence(
        self, event: threading.Event | None, on_keepalive: Callable[[STATUS], None] | None
    ) -> None:
        if on_keepalive is not None:
            on_keepalive(STATUS.UPNEEDED)
        if event is not None and event.is_set():
            raise _Fail(ERR.KEEPALIVE_CANCEL)
        if self.touch == "deny":
            raise _Fail(ERR.OPERATION_DENIED)
        if self.touch == "timeout":
            raise _Fail(ERR.USER_ACTION_TIMEOUT)
        if self.touch == "wait":
            waiter = event or threading.Event()
            waiter.wait(self.cancel_wait)
            raise _Fail(ERR.KEEPALIVE_CANCEL if waiter.is_set() else ERR.USER_ACTION_TIMEOUT)
        self.touches += 1

    # --- credentials ---
    def _cred_id(self, rp_id_hash: bytes) -> bytes:
        nonce = os.urandom(16)
        return nonce + hmac.new(self._master, b"id" + nonce + rp_id_hash, "sha256").digest()[:16]

    def _own(self, cred_id: bytes, rp_id_hash: bytes) -> bool:
        if len(cred_id) != 32:
            return False
        nonce, tag = cred_id[:16], cred_id[16:]
        want = hmac.new(self._master, b"id" + nonce + rp_id_hash, "sha256").digest()[:16]
        return hmac.compare_digest(tag, want)

    def _signing_key(self, cred_id: bytes) -> ec.EllipticCurvePrivateKey:
        d = int.from_bytes(_hkdf(self._master, cred_id[:16], b"sign"), "big") % (P256_ORDER - 1) + 1
        return ec.derive_private_key(d, ec.SECP256R1())

    def _cred_random(self, cred_id: bytes, uv: bool) -> bytes:
        return _hkdf(self._master, cred_id[:16], b"credRandomWithUV" if uv else b"credRandomWithoutUV")

    # --- PIN/UV auth ---
    def _protocol(self, version: Any) -> Any:  # python-fido2 leaves these untyped
        cls = PROTOCOLS.get(version) if isinstance(version, int) else None
        if cls is None:
            raise _Fail(ERR.INVALID_PARAMETER)
        return cls()

    def _shared_secret(self, proto: Any, peer: Any) -> bytes:
        try:
            pk = ec.EllipticCurvePublicNumbers(
                int.from_bytes(peer[-2], "big"), int.from_bytes(peer[-3], "big"), ec.SECP256R1()
            ).public_key()
        except Exception:
            raise _Fail(ERR.INVALID_PARAMETER) from None
        return bytes(proto.kdf(self._key_agreement.exchange(ec.ECDH(), pk)))

    def _check_uv_param(
        self, params: dict[int, Any], key_param: int, key_proto: int, cdh: bytes, perm: int, rp_id: str
    ) -> bool:
        """True when a valid pinUvAuthParam came (UV done by PIN); raises on a bad one."""
        param = params.get(key_param)
        if param is None:  # makeCredUvNotRqd: a credential may be made without UV, as may an assertion
            return False
        if len(param) == 0:  # the "which authenticator?" probe of CTAP 2.0 clients
            raise _Fail(ERR.PIN_NOT_SET if self._pin_hash is None else ERR.PIN_INVALID)
        proto = self._protocol(params.get(key_proto))
        if self._token_perms_rp is None:
            raise _Fail(ERR.PIN_AUTH_INVALID)
        if not hmac.compare_digest(proto.authenticate(self._pin_token, cdh), param):
            raise _Fail(ERR.PIN_AUTH_INVALID)
        perms, token_rp = self._token_perms_rp
        if not perms & perm or (token_rp is not None and token_rp != rp_id):
            raise _Fail(ERR.PIN_AUTH_INVALID)
        return True

    # --- commands ---
    def _get_info(self, params: dict[int, Any], event: Any, keepalive: Any) -> dict[int, Any]:
        return {
            1: ["FIDO_2_0", "FIDO_2_1"],
            2: ["hmac-secret"],
            3: AAGUID,
            4: {
                "rk": False,
                "up": True,
                "plat": False,
                "clientPin": self._pin_hash is not None,
                "pinUvAuthToken": True,
                "makeCredUvNotRqd": True,
            },
            5: 1200,
            6: [2, 1],
            7: 8,
            8: 128,
            10: [{"alg": -7, "type": "public-key"}],
        }

    def _make_credential(self, params: dict[int, Any], event: Any, keepalive: Any) -> dict[int, Any]:
        try:
            cdh, rp, _user, algs = params[1], params[2], params[3], params[4]
        except KeyError:
            raise _Fail(ERR.MISSING_PARAMETER) from None
        if not any(p.get("alg") == -7 and p.get("type") == "public-key" for p in algs):
            raise _Fail(ERR.UNSUPPORTED_ALGORITHM)
        options = params.get(7) or {}
        if options.get("rk"):
            raise _Fail(ERR.UNSUPPORTED_OPTION)
        if options.get("uv"):
            raise _Fail(ERR.INVALID_OPTION)  # no built-in UV: UV is by PIN token only
        rp_id = rp["id"]
        rp_id_hash = hashlib.sha256(rp_id.encode()).digest()
        uv = self._check_uv_param(params, 8, 9, cdh, 0x01, rp_id)
        excluded = any(self._own(c["id"], rp_id_hash) for c in params.get(5) or [])
        self._user_presence(event, keepalive)
        if excluded:
            raise _Fail(ERR.CREDENTIAL_EXCLUDED)
        cred_id = self._cred_id(rp_id_hash)
        pub = self._signing_key(cred_id).public_key()
        exts_in = params.get(6) or {}
        flags = FLAG_UP | FLAG_AT | (FLAG_UV if uv else 0)
        ext_out = b""
        if exts_in.get("hmac-secret") is True:
            flags |= FLAG_ED
            ext_out = cbor.encode({"hmac-secret": True})
        self.sign_count += 1
        auth_data = (
            rp_id_hash
            + bytes([flags])
            + struct.pack(">I", self.sign_count)
            + AAGUID
            + struct.pack(">H", len(cred_id))
            + cred_id
            + cbor.encode(_cose_p256(pub, -7))
            + ext_out
        )
        return {1: "none", 2: auth_data, 3: {}}

    def _get_assertion(self, params: dict[int, Any], event: Any, keepalive: Any) -> dict[int, Any]:
        try:
            rp_id, cdh = params[1], params[2]
        except KeyError:
            raise _Fail(ERR.MISSING_PARAMETER) from None
        rp_id_hash = hashlib.sha256(rp_id.encode()).digest()
        options = params.get(5) or {}
        if options.get("uv"):
            raise _Fail(ERR.INVALID_OPTION)
        up = options.get("up", True)
        uv = self._check_uv_param(params, 6, 7, cdh, 0x02, rp_id)
        cred = next((c for c in params.get(3) or [] if self._own(c["id"], rp_id_hash)), None)
        if cred is None:
            if up:
                self._user_presence(event, keepalive)
            raise _Fail(ERR.NO_CREDENTIALS)
        ext_out = b""
        flags = FLAG_UV if uv else 0
        hs = (params.get(4) or {}).get("hmac-secret")
        if hs is not None:
            proto = self._protocol(hs.get(4, 1))
            shared = self._shared_secret(proto, hs[1])
            if not hmac.compare_digest(proto.authenticate(shared, hs[2]), hs[3]):
                raise _Fail(ERR.INVALID_PARAMETER)
            salts = proto.decrypt(shared, hs[2])
            if len(salts) not in (32, 64):
                raise _Fail(ERR.INVALID_LENGTH)
            cred_random = self._cred_random(cred["id"], uv)
            out = b"".join(
                hmac.new(cred_random, salts[i : i + 32], "sha256").digest() for i in range(0, len(salts), 32)
            )
            ext_out = cbor.encode({"hmac-secret": proto.encrypt(shared, out)})
            flags |= FLAG_ED
        if up:
            self._user_presence(event, keepalive)
            flags |= FLAG_UP
        self.sign_count += 1
        auth_data = rp_id_hash + bytes([flags]) + struct.pack(">I", self.sign_count) + ext_out
        sig = self._signing_key(cred["id"]).sign(auth_data + cdh, ec.ECDSA(hashes.SHA256()))
        return {1: {"type": "public-key", "id": cred["id"]}, 2: auth_data, 3: sig}

    def _client_pin(self, params: dict[int, Any], event: Any, keepalive: Any) -> dict[int, Any] | None:
        sub = params.get(2)
        if sub == 0x01:
            return {3: self.pin_retries}
        proto = self._protocol(params.get(1))
        if sub == 0x02:
            return {1: _cose_p256(self._key_agreement.public_key(), -25)}
        if sub == 0x03:  # setPin
            if self._pin_hash is not None:
                raise _Fail(ERR.PIN_AUTH_INVALID)
            shared = self._shared_secret(proto, params[3])
            if not hmac.compare_digest(proto.authenticate(shared, params[5]), params[4]):
                raise _Fail(ERR.PIN_AUTH_INVALID)
            pin = proto.decrypt(shared, params[5]).rstrip(b"\0")
            if len(pin) < 4:
                raise _Fail(ERR.PIN_POLICY_VIOLATION)
            self._pin_hash = hashlib.sha256(pin).digest()[:16]
            return None
        if sub in (0x05, 0x09):  # getPinToken / getPinUvAuthTokenUsingPinWithPermissions
            if self._pin_hash is None:
                raise _Fail(ERR.PIN_NOT_SET)
            if self.pin_retries <= 0:
                raise _Fail(ERR.PIN_BLOCKED)
            shared = self._shared_secret(proto, params[3])
            self.pin_retries -= 1
            if not hmac.compare_digest(proto.decrypt(shared, params[6]), self._pin_hash):
                self._key_agreement = ec.generate_private_key(ec.SECP256R1())
                raise _Fail(ERR.PIN_BLOCKED if self.pin_retries <= 0 else ERR.PIN_INVALID)
            self.pin_retries = 8
            self._pin_token = os.urandom(32)
            perms = params.get(9, 0x03) if sub == 0x09 else 0x03
            self._token_perms_rp = (perms, params.get(10))
            return {2: proto.encrypt(shared, self._pin_token)}
        raise _Fail(ERR.INVALID_SUBCOMMAND)

    def _selection(self, params: dict[int, Any], event: Any, keepalive: Any) -> None:
        self._user_presence(event, keepalive)

    def _reset(self, params: dict[int, Any], event: Any, keepalive: Any) -> None:
        self._user_presence(event, keepalive)
        self._master = os.urandom(32)
        self._pin_hash = None
        self._token_perms_rp = None
