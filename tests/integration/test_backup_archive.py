"""The streamed backup format on real files and a real target: round trip, verify, restore, tampering
rejected without touching the destination, and Debian's `age` (with zstd and tar) as an independent way
back."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyrage
import pytest

from tests.support.s3 import s3_target
from watchman.backups import archive, keys
from watchman.backups.archive import DATA, VerificationError
from watchman.storage.base import StorageTarget
from watchman.storage.local import LocalTarget

pytestmark = pytest.mark.timeout(120)
NOW = datetime(2026, 12, 4, tzinfo=UTC)


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "etc/app.conf": b"key = value\n",
        "etc/empty": b"",
        "data/blob.bin": os.urandom(300_000),
        "data/deep/a/b/c.txt": b"deep\n" * 1000,
    }
    for rel, body in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(body)
    (root / "etc/app.conf").chmod(0o640)
    (root / "data/link").symlink_to("blob.bin")
    (root / "skipme.tmp").write_bytes(b"excluded")
    return files


def backup(
    target: StorageTarget, src: Path, ident: pyrage.x25519.Identity, prefix: str = "job/b1"
) -> archive.Manifest:
    items = archive.walk([src], excludes=["*.tmp"])
    return archive.create(
        target,
        prefix,
        items,
        [ident.to_public()],
        backup_id=prefix.rsplit("/", maxsplit=1)[-1],
        kind="paths",
        host="h1",
        created_at="2026-12-04T02:00:00Z",
    )


@pytest.fixture
def ident() -> pyrage.x25519.Identity:
    return pyrage.x25519.Identity.generate()


def test_round_trip_verify_and_restore(tmp_path: Path, ident: pyrage.x25519.Identity) -> None:
    src = tmp_path / "src"
    files = make_tree(src)
    target = LocalTarget(tmp_path / "store")
    m = backup(target, src, ident)
    arc = str(src).lstrip("/")
    paths = {e.path for e in m.entries}
    assert f"{arc}/etc/app.conf" in paths and f"{arc}/data/link" in paths
    assert not any(p.endswith("skipme.tmp") for p in paths)
    assert m.files == len(files)
    assert m.data["size"] > 0 and m.data["checksum"].startswith("sha256:")
    assert archive.read_manifest(target, "job/b1", [ident]).to_json() == m.to_json()

    result = archive.check(target, m, [ident])
    assert result.files == len(files)

    dest = tmp_path / "restore"
    archive.check(target, m, [ident], restore_to=dest)
    for rel, body in files.items():
        assert (dest / arc / rel).read_bytes() == body
    assert (dest / arc / "etc/app.conf").stat().st_mode & 0o777 == 0o640
    assert os.readlink(dest / arc / "data/link") == "blob.bin"
    assert not any(p.name.startswith(".watchman-restore") for p in dest.iterdir())
    # a second restore into the same place is refused without overwrite
    with pytest.raises(VerificationError, match="already exist"):
        archive.check(target, m, [ident], restore_to=dest)


def tampered(target: LocalTarget, how: str) -> None:
    path = target.root / "job/b1" / DATA
    data = bytearray(path.read_bytes())
    if how == "bitflip":
        data[len(data) // 2] ^= 0x01
    elif how == "truncate":
        data = data[: len(data) - 70_000]
    elif how == "reorder":
        # swap two 64 KiB+16 ciphertext chunks of the payload (age STREAM chunks)
        header_end = data.index(b"\n---") + 1
        header_end = data.index(b"\n", header_end) + 1 + 16  # header line + the payload nonce
        c = 65536 + 16
        a, b = header_end, header_end + c
        data[a : a + c], data[b : b + c] = data[b : b + c], data[a : a + c]
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["bitflip", "truncate", "reorder"])
def test_tampered_ciphertext_is_rejected_and_nothing_is_restored(
    tmp_path: Path, ident: pyrage.x25519.Identity, how: str
) -> None:
    src = tmp_path / "src"
    make_tree(src)
    target = LocalTarget(tmp_path / "store")
    m = backup(target, src, ident)
    tampered(target, how)
    # the stored checksum no longer matches the recorded one
    with pytest.raises(VerificationError, match="checksum"):
        archive.check(target, m, [ident])
    # and with the checksum check passed by (recording the damaged object's), decryption refuses it
    st = target.stat(m.data["key"])
    assert st is not None
    m.data["checksum"], m.data["size"] = st.checksum, st.size
    dest = tmp_path / "restore"
    with pytest.raises(VerificationError, match="decryption failed"):
        archive.check(target, m, [ident], restore_to=dest)
    assert list(dest.iterdir()) == []


def test_a_manifest_that_lies_is_caught(tmp_path: Path, ident: pyrage.x25519.Identity) -> None:
    src = tmp_path / "src"
    make_tree(src)
    target = LocalTarget(tmp_path / "store")
    m = backup(target, src, ident)
    m.entries = [
        e if not e.path.endswith("blob.bin") else archive.Entry(e.path, "file", e.size, e.mode, "0" * 64)
        for e in m.entries
    ]
    with pytest.raises(VerificationError, match="SHA-256"):
        archive.check(target, m, [ident])
    m2 = archive.read_manifest(target, "job/b1", [ident])
    m2.entries.append(archive.Entry("not/there", "file", 1, 0o644, "0" * 64))
    with pytest.raises(VerificationError, match="not in the archive"):
        archive.check(target, m2, [ident])


def test_wrong_identity_cannot_open(tmp_path: Path, ident: pyrage.x25519.Identity) -> None:
    src = tmp_path / "src"
    make_tree(src)
    target = LocalTarget(tmp_path / "store")
    m = backup(target, src, ident)
    other = pyrage.x25519.Identity.generate()
    with pytest.raises(VerificationError):
        archive.read_manifest(target, "job/b1", [other])
    with pytest.raises(VerificationError, match="decryption failed"):
        archive.check(target, m, [other])


def test_a_failing_input_leaves_no_backup(tmp_path: Path, ident: pyrage.x25519.Identity) -> None:
    target = LocalTarget(tmp_path / "store")

    def items() -> Iterator[archive.Item]:
        (tmp_path / "f").write_bytes(b"x" * 100)
        yield archive.Item("f", tmp_path / "f")
        raise RuntimeError("input broke")

    with pytest.raises(archive.BackupError, match="input broke"):
        archive.create(
            target,
            "job/b2",
            items(),
            [ident.to_public()],
            backup_id="b2",
            kind="paths",
            host="h",
            created_at="2026-12-04T00:00:00Z",
        )
    assert list(target.list()) == []


def test_debian_age_zstd_and_tar_restore_a_backup_without_our_code(
    tmp_path: Path, ident: pyrage.x25519.Identity
) -> None:
    src = tmp_path / "src"
    files = make_tree(src)
    target = LocalTarget(tmp_path / "store")
    backup(target, src, ident)
    keyfile = tmp_path / "key.txt"
    keyfile.write_text(f"{ident}\n")
    keyfile.chmod(0o600)
    out = tmp_path / "by-age"
    out.mkdir()
    data = target.root / "job/b1" / DATA
    pipeline = f"age -d -i {keyfile} {data} | zstd -d | tar -x -C {out}"
    subprocess.run(["sh", "-c", pipeline], check=True, capture_output=True, timeout=60)
    arc = str(src).lstrip("/")
    for rel, body in files.items():
        assert (out / arc / rel).read_bytes() == body
    embedded = json.loads((out / archive.EMBEDDED_MANIFEST).read_text())
    assert {e["path"] for e in embedded} >= {f"{arc}/{rel}" for rel in files}


def test_passphrase_protected_identity(tmp_path: Path) -> None:
    target = LocalTarget(tmp_path / "store")
    r1 = keys.passphrase_recipient(target, "correct horse battery staple")
    src = tmp_path / "src"
    make_tree(src)
    m = archive.create(
        target,
        "job/p1",
        archive.walk([src]),
        [r1],
        backup_id="p1",
        kind="paths",
        host="h",
        created_at="2026-12-04T00:00:00Z",
    )
    ident = keys.passphrase_identity(target, "correct horse battery staple")
    assert str(ident.to_public()) == str(r1)
    assert archive.check(target, m, [ident]).files == m.files
    with pytest.raises(keys.KeyError_):
        keys.passphrase_identity(target, "wrong")


def test_identity_files_must_be_private(tmp_path: Path) -> None:
    path = tmp_path / "id.txt"
    public = keys.write_identity_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert str(keys.read_identity_file(path)[0].to_public()) == public
    path.chmod(0o644)
    with pytest.raises(keys.KeyError_, match="chmod 600"):
        keys.read_identity_file(path)


def test_multipart_backup_on_seaweedfs(tmp_path: Path, ident: pyrage.x25519.Identity) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(12 * 1024 * 1024))  # incompressible: > two 5 MiB parts
    target = s3_target()
    m = backup(target, src, ident, prefix="s3job/m1")
    assert m.data["checksum"].endswith("-3")
    assert archive.check(target, m, [ident]).files == 1


def test_project_directories_modified_recently_only(tmp_path: Path, ident: pyrage.x25519.Identity) -> None:
    import time as _time

    from watchman.backups import service
    from watchman.domains.backups import BackupJobSettings, BackupSettings

    src = tmp_path / "src"
    for name in ("active", "dormant", "node_modules"):
        (src / name / "sub").mkdir(parents=True)
        (src / name / "sub" / "f.txt").write_text(name)
    old = _time.time() - 90 * 86400
    for p in (src / "dormant" / "sub" / "f.txt",):
        os.utime(p, (old, old))
    settings = BackupJobSettings(
        paths=(src,), modified_within_days=30, exclude=("node_modules",),
        target=f"file://{tmp_path / 'store'}", recipients=(str(ident.to_public()),),
    )  # fmt: skip
    job = service.open_job(
        BackupSettings(jobs={"projects": settings}), "projects", host="h", data_dir=tmp_path
    )
    m = service.run_backup(job, "projects-20261204T000000Z-00000000", now=lambda: NOW, observe=lambda o: None)
    assert m is not None
    files = sorted(e.path for e in m.entries if e.type == "file")
    assert files == [f"{str(src).lstrip('/')}/active/sub/f.txt"]
