"""Every storage target on its real thing: a directory, SeaweedFS's S3 gateway (infra/services s3), and
an ssh server (Debian's openssh, tests/support/sshd.py). One suite (storage_suite.py) for all three."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.integration.storage_suite import Chunked, StorageSuite
from tests.support.s3 import ACCESS_KEY, BUCKET, ENDPOINT, SECRET_KEY, fresh_prefix, s3_target
from tests.support.sshd import Sshd, running_sshd
from watchman.storage import open_target
from watchman.storage.base import StorageError
from watchman.storage.local import LocalTarget
from watchman.storage.rsync import RsyncTarget
from watchman.storage.s3 import S3Target

pytestmark = pytest.mark.timeout(120)


class TestLocal(StorageSuite):
    @pytest.fixture
    def target(self, tmp_path: Path) -> LocalTarget:
        return LocalTarget(tmp_path / "store")

    def test_stat_hashes_what_is_on_disk(self, target: LocalTarget) -> None:
        info = target.put("x", io.BytesIO(b"hello"))
        (target.root / "x").write_bytes(b"hellO")
        st = target.stat("x")
        assert st is not None and st.checksum != info.checksum


@pytest.fixture(scope="module")
def bucket() -> str:
    s3_target()  # creates the shared test bucket if need be
    return BUCKET


class TestS3(StorageSuite):
    big_size = 11 * 1024 * 1024  # three 5 MiB parts: the multipart path

    @pytest.fixture
    def target(self, bucket: str) -> S3Target:
        return s3_target()

    def test_multipart_checksum_is_the_composite_of_the_parts(self, target: S3Target) -> None:
        data = os.urandom(11 * 1024 * 1024)
        info = target.put("mp", Chunked(data, 1 << 20))
        parts = [data[i : i + target.part_size] for i in range(0, len(data), target.part_size)]
        composite = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()
        assert info.checksum == f"s3-sha256:{base64.b64encode(composite).decode()}-3"
        st = target.stat("mp")
        assert st is not None and st.checksum == info.checksum

    def test_the_server_rejects_a_wrong_checksum(self, target: S3Target) -> None:
        wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
        with pytest.raises(ClientError):
            target.client.put_object(
                Bucket=target.bucket, Key=target.prefix + "bad", Body=b"data", ChecksumSHA256=wrong
            )
        assert target.stat("bad") is None

    def test_wrong_credentials_fail_without_showing_them(self) -> None:
        t = S3Target(
            "whatever", endpoint_url=ENDPOINT, access_key=ACCESS_KEY, secret_key="not-the-key-123456"
        )
        with pytest.raises(StorageError) as err:
            t.put("x", io.BytesIO(b"x"))
        assert "not-the-key-123456" not in str(err.value)

    def test_opened_from_a_url_with_secret_references(self, bucket: str) -> None:
        values = {"secret:s3.access": ACCESS_KEY, "secret:s3.secret": SECRET_KEY}
        url = f"s3://{bucket}/{fresh_prefix()}?endpoint={ENDPOINT}&access_key=secret:s3.access&secret_key=secret:s3.secret"
        t = open_target(url, values.__getitem__)
        assert isinstance(t, S3Target)
        t.put("k", io.BytesIO(b"v"))
        assert [o.key for o in t.list()] == ["k"]
        assert SECRET_KEY not in t.describe()

    def test_a_credential_value_in_the_url_is_refused(self, bucket: str) -> None:
        with pytest.raises(StorageError, match="reference"):
            open_target(f"s3://{bucket}/x?endpoint={ENDPOINT}&secret_key={SECRET_KEY}")


@pytest.fixture(scope="module")
def sshd() -> Iterator[Sshd]:
    with running_sshd() as server:
        yield server


class TestRsync(StorageSuite):
    @pytest.fixture
    def target(self, sshd: Sshd, tmp_path: Path) -> RsyncTarget:
        return RsyncTarget(sshd.destination, str(tmp_path / "remote"), ssh=sshd.ssh_command())

    def test_unreachable_host_is_a_storage_error(self, sshd: Sshd, tmp_path: Path) -> None:
        ssh = [*sshd.ssh_command()[:1], "-p", "1", *sshd.ssh_command()[3:]]
        t = RsyncTarget(sshd.destination, str(tmp_path), ssh=ssh)
        with pytest.raises(StorageError):
            t.put("x", io.BytesIO(b"x"))

    def test_opened_from_a_url(self, sshd: Sshd, tmp_path: Path) -> None:
        ssh = " ".join(sshd.ssh_command()[3:])  # without "ssh -p PORT": the URL gives the port
        t = open_target(f"rsync://{sshd.user}@127.0.0.1:{sshd.port}{tmp_path}/u?ssh=ssh {ssh}")
        t.put("a/b", io.BytesIO(b"over ssh"))
        assert (tmp_path / "u" / "a" / "b").read_bytes() == b"over ssh"
