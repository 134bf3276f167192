"""FIDO2: what a key's touch costs The Watchman, and file encryption to several keys plus the recovery key.

The key is the software CTAP2 authenticator of tests/support/ctap2.py (no USB here), driven by
python-fido2's real client: the figure is the client-side cost of one hmac-secret derivation (CBOR,
ECDH key agreement, AES-CBC of the salts, HKDF, X25519), not a real token's latency (hundreds of ms plus
the human's touch). Encryption and decryption of a `size_mb` file to two keys + the recovery key, with
its same-run baseline: pyrage to one plain X25519 recipient (age's own cost).
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import pyrage

from bench.common import say
from bench.results import Figure, Section
from tests.support.ctap2 import SoftAuthenticator
from watchman.fido2 import derive, vault


def run(work: Path, *, size_mb: int = 256, rounds: int = 20) -> Section:
    root = work / "fido2"
    keyring = vault.Keyring.load(root / "keyring.json")
    first, second = SoftAuthenticator(), SoftAuthenticator()
    t = time.perf_counter()
    keyring.add(derive.enrol(first, "first"))
    enrol_ms = (time.perf_counter() - t) * 1000
    keyring.add(derive.enrol(second, "second"))
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        derive.identity(second, keyring.keys, "files")  # probes "first" (silently) then asks "second"
        times.append((time.perf_counter() - t) * 1000)
    src = root / "data.bin"
    with src.open("wb") as f:
        for _ in range(size_mb):
            f.write(os.urandom(1 << 20))
    t = time.perf_counter()
    enc = vault.encrypt_file(keyring, src)
    enc_s = time.perf_counter() - t
    plain = pyrage.x25519.Identity.generate()
    t = time.perf_counter()
    with src.open("rb") as fin, (root / "plain.age").open("wb") as fout:
        pyrage.encrypt_io(fin, fout, [plain.to_public()])
    base_s = time.perf_counter() - t
    _, ident = derive.identity(first, keyring.keys, "files")
    t = time.perf_counter()
    vault.decrypt_file(enc.path, root / "out.bin", [ident])
    dec_s = time.perf_counter() - t
    t = time.perf_counter()
    with (root / "plain.age").open("rb") as fin, (root / "plain.out").open("wb") as fout:
        pyrage.decrypt_io(fin, fout, [plain])
    base_dec_s = time.perf_counter() - t
    say(f"fido2: derivation median {statistics.median(times):.1f} ms, encrypt {size_mb / enc_s:.0f} MB/s")
    return Section(
        "FIDO2",
        [
            Figure("enrolment (make credential + first hmac-secret, soft key)", enrol_ms, "ms"),
            Figure(
                f"hmac-secret -> identity, client side (median of {rounds}; soft key, 2 enrolled)",
                statistics.median(times),
                "ms",
                note="a real token adds its own latency and the touch",
            ),
            Figure(
                f"encrypt {size_mb} MiB to 2 keys + recovery (age, with header and sha256)",
                size_mb / enc_s,
                "MiB/s",
                baseline=size_mb / base_s,
                baseline_label="pyrage to one X25519 recipient",
            ),
            Figure(
                f"decrypt {size_mb} MiB with a key's identity (temp file, rename)",
                size_mb / dec_s,
                "MiB/s",
                baseline=size_mb / base_dec_s,
                baseline_label="pyrage decrypt_io",
            ),
        ],
    )
