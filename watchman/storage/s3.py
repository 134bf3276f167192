"""A storage target on S3 or an S3-compatible server (`s3://bucket/prefix?endpoint=http://127.0.0.1:8333`).

boto3, with SHA-256 object checksums: a small object goes up in one PutObject carrying its
`ChecksumSHA256`; a larger one as a multipart upload of `part_size` parts, each carrying its own, so
the server checks every part as it arrives and keeps the composite checksum (base64 of the SHA-256 of
the parts' digests, `-N`), which `put` computes too and `stat` reads back (HeadObject with
ChecksumMode=ENABLED). One part is in memory at a time. A failed multipart upload is aborted.

boto3 >= 1.36 sends CRC checksums by default, which some S3-compatible servers reject: requests here
only carry the checksums we ask for (`request_checksum_calculation="when_required"`).

Credentials: `access_key`/`secret_key` are settings references (`secret:NAME`, resolved through
watchman.secrets by the caller) or absent (boto3's own chain: environment, ~/.aws, instance role).
They are never part of `describe()`, an event or a log line.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from watchman.storage.base import (
    ObjectInfo,
    ObjectMissing,
    Readable,
    StorageError,
    StorageTarget,
    check_key,
    check_prefix,
)

MiB = 1024 * 1024
PART_SIZE = 8 * MiB  # S3's minimum part is 5 MiB; at most 10,000 parts: 78 GiB per object at 8 MiB


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _read_full(stream: Readable, n: int) -> bytes:
    """Up to n bytes: a pipe returns short reads before its end."""
    buf = bytearray()
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Target(StorageTarget):
    scheme = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        part_size: int = PART_SIZE,
        uploads: int = 3,
        create_bucket: bool = False,
    ) -> None:
        if part_size < 5 * MiB:
            raise StorageError("part_size must be at least 5 MiB (S3's minimum part size)")
        self.bucket = bucket
        self.prefix = check_prefix(prefix.strip("/") + "/") if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.part_size = part_size
        self.uploads = max(1, uploads)
        config = Config(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 5, "mode": "standard"},
            max_pool_connections=max(10, uploads + 2),
        )
        session = boto3.session.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region or "us-east-1"
        )
        self.client: Any = session.client("s3", endpoint_url=endpoint_url, config=config)
        if create_bucket:
            self.ensure_bucket()

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"

    def _err(self, what: str, exc: Exception) -> StorageError:
        # botocore's messages name the bucket, key and operation, never the credentials.
        return StorageError(f"{what} on {self.describe()}: {exc}")

    def ensure_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise self._err("head bucket", exc) from None
            try:
                self.client.create_bucket(Bucket=self.bucket)
            except ClientError as exc2:
                if _code(exc2) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise self._err("create bucket", exc2) from None
        except BotoCoreError as exc:
            raise self._err("head bucket", exc) from None

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, stream: Readable) -> ObjectInfo:
        full = self._key(key)
        whole = hashlib.sha256()
        first = _read_full(stream, self.part_size)
        whole.update(first)
        try:
            if len(first) < self.part_size:
                digest = hashlib.sha256(first).digest()
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=full,
                    Body=first,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=_b64(digest),
                )
                return ObjectInfo(key, len(first), f"s3-sha256:{_b64(digest)}", None, whole.hexdigest())
            return self._multipart(key, full, first, stream, whole)
        except (ClientError, BotoCoreError) as exc:
            raise self._err(f"put {key}", exc) from None

    def _multipart(self, key: str, full: str, first: bytes, stream: Readable, whole: Any) -> ObjectInfo:
        """Parts go up `uploads` at a time while the next ones are read, so a slow server and the stream
        that feeds it overlap; at most uploads + 1 parts are in memory."""
        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=full, ChecksumAlgorithm="SHA256")
        upload_id = upload["UploadId"]

        def send(n: int, data: bytes, digest: bytes) -> dict[str, Any]:
            resp = self.client.upload_part(
                Bucket=self.bucket,
                Key=full,
                UploadId=upload_id,
                PartNumber=n,
                Body=data,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=_b64(digest),
            )
            return {"ETag": resp["ETag"], "PartNumber": n, "ChecksumSHA256": _b64(digest)}

        digests: list[bytes] = []
        pending: list[Future[dict[str, Any]]] = []
        parts: list[dict[str, Any]] = []
        size = 0
        pool = ThreadPoolExecutor(max_workers=self.uploads, thread_name_prefix="s3-part")
        try:
            data = first
            while data:
                digest = hashlib.sha256(data).digest()
                digests.append(digest)
                size += len(data)
                pending.append(pool.submit(send, len(digests), data, digest))
                while len(pending) - sum(f.done() for f in pending) >= self.uploads:
                    wait(pending, return_when=FIRST_COMPLETED)
                for f in [f for f in pending if f.done()]:
                    parts.append(f.result())  # raises the part's error
                    pending.remove(f)
                data = _read_full(stream, self.part_size)
                whole.update(data)
            parts += [f.result() for f in pending]
            parts.sort(key=lambda p: int(p["PartNumber"]))
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=full, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            for f in pending:
                f.cancel()
            pool.shutdown(wait=True)
            with contextlib.suppress(ClientError, BotoCoreError):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
            raise
        pool.shutdown(wait=True)
        composite = _b64(hashlib.sha256(b"".join(digests)).digest())
        return ObjectInfo(key, size, f"s3-sha256:{composite}-{len(digests)}", None, whole.hexdigest())

    @contextlib.contextmanager
    def get(self, key: str) -> Iterator[BinaryIO]:
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                raise ObjectMissing(f"no object {key} in {self.describe()}") from None
            raise self._err(f"get {key}", exc) from None
        except BotoCoreError as exc:
            raise self._err(f"get {key}", exc) from None
        body = resp["Body"]
        try:
            yield body
        finally:
            body.close()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        check_prefix(prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for obj in page.get("Contents", []):
                    key = obj["Key"][len(self.prefix) :]
                    yield ObjectInfo(key, int(obj["Size"]), "", obj.get("LastModified"))
        except (ClientError, BotoCoreError) as exc:
            raise self._err("list", exc) from None

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as exc:
            raise self._err(f"delete {key}", exc) from None

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key), ChecksumMode="ENABLED")
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._err(f"stat {key}", exc) from None
        except BotoCoreError as exc:
            raise self._err(f"stat {key}", exc) from None
        checksum = head.get("ChecksumSHA256") or ""
        parts = head.get("PartsCount")
        if checksum and parts and "-" not in checksum:
            checksum = f"{checksum}-{parts}"
        return ObjectInfo(
            key,
            int(head["ContentLength"]),
            f"s3-sha256:{checksum}" if checksum else "",
            head.get("LastModified"),
        )
