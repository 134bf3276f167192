"""Who can open a backup: age recipients (X25519 public keys, `age1…`) and the identities that match.

A passphrase recipient: pyrage streams only to X25519 (and plugin) recipients, and scrypt in age is a
whole-file operation in pyrage. So a passphrase protects an X25519 identity instead: on first use a fresh
identity is generated, encrypted with the passphrase (age's scrypt recipient) and stored in the target as
`keys/passphrase-identity.age`; backups are encrypted to its public key. Debian's `age` opens such a
backup on its own: `age -d -i passphrase-identity.age data.tar.zst.age` asks for the passphrase (age
>= 1.1 reads passphrase-encrypted identity files).

Identity files must be private (0600 or stricter); key material never goes into events, logs or the graph.
"""

from __future__ import annotations

import io
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pyrage

from watchman.storage.base import StorageTarget

PASSPHRASE_IDENTITY_KEY = "keys/passphrase-identity.age"


class KeyError_(Exception):
    """A key cannot be used (malformed, unreadable, too open). Never holds key material."""


def parse_recipient(text: str) -> pyrage.x25519.Recipient:
    try:
        return pyrage.x25519.Recipient.from_str(text.strip())
    except Exception:
        raise KeyError_(f"not an age X25519 recipient (age1…): {text.strip()[:12]}…") from None


def read_identity_file(path: Path) -> list[pyrage.x25519.Identity]:
    """The identities of an age identity file (as `age-keygen -o` writes), which must be private."""
    try:
        st = path.stat()
    except OSError as exc:
        raise KeyError_(f"identity file {path}: {exc.strerror}") from None
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise KeyError_(
            f"identity file {path} is readable by others (mode {stat.S_IMODE(st.st_mode):o}): chmod 600"
        )
    out = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("AGE-SECRET-KEY-"):
            try:
                out.append(pyrage.x25519.Identity.from_str(line))
            except Exception:
                raise KeyError_(f"identity file {path}: a malformed AGE-SECRET-KEY line") from None
    if not out:
        raise KeyError_(f"identity file {path} holds no AGE-SECRET-KEY line")
    return out


def write_identity_file(path: Path) -> str:
    """Generate an X25519 identity into `path` (0600, as age-keygen does); returns its public key."""
    ident = pyrage.x25519.Identity.generate()
    public = str(ident.to_public())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = path.open("x", encoding="ascii")
    path.chmod(0o600)
    with fd:
        fd.write(f"# public key: {public}\n{ident}\n")
    return public


def passphrase_recipient(target: StorageTarget, passphrase: str) -> pyrage.x25519.Recipient:
    """The recipient whose identity the passphrase protects in this target (created on first use)."""
    existing = target.stat(PASSPHRASE_IDENTITY_KEY)
    if existing is not None:
        return passphrase_identity(target, passphrase).to_public()
    ident = pyrage.x25519.Identity.generate()
    blob = pyrage.passphrase.encrypt(f"{ident}\n".encode(), passphrase)
    target.put(PASSPHRASE_IDENTITY_KEY, io.BytesIO(blob))
    return ident.to_public()


def passphrase_identity(target: StorageTarget, passphrase: str) -> pyrage.x25519.Identity:
    with target.get(PASSPHRASE_IDENTITY_KEY) as f:
        blob = f.read()
    try:
        text = pyrage.passphrase.decrypt(blob, passphrase).decode()
    except Exception:
        raise KeyError_("wrong passphrase for this target's passphrase identity") from None
    return pyrage.x25519.Identity.from_str(text.strip())


@dataclass
class Keys:
    """Recipients to encrypt to and identities to decrypt with, as one backup job has them."""

    recipients: list[pyrage.x25519.Recipient] = field(default_factory=list)
    identities: list[pyrage.x25519.Identity] = field(default_factory=list)

    def public(self) -> list[str]:
        return [str(r) for r in self.recipients]
