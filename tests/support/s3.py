"""The infra/ SeaweedFS S3 gateway for tests (`infra/services up s3`; `eval "$(infra/services env)"`)."""

from __future__ import annotations

import os
import secrets

from watchman.storage.s3 import S3Target

ENDPOINT = os.environ.get("WATCHMAN_TEST_S3", "http://127.0.0.1:8333")
ACCESS_KEY = os.environ.get("WATCHMAN_TEST_S3_ACCESS_KEY", "watchman-test")
SECRET_KEY = os.environ.get("WATCHMAN_TEST_S3_SECRET_KEY", "watchman-test-secret-key")


def fresh_bucket() -> str:
    return f"wm-test-{secrets.token_hex(6)}"


def s3_target(bucket: str | None = None, prefix: str = "", part_size: int = 5 * 1024 * 1024) -> S3Target:
    """A target on a new (or the named) bucket of the test server."""
    return S3Target(
        bucket or fresh_bucket(),
        prefix,
        endpoint_url=ENDPOINT,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        part_size=part_size,
        create_bucket=True,
    )
