"""The infra/ SeaweedFS S3 gateway for tests (`infra/services up s3`; `eval "$(infra/services env)"`).

Tests share one bucket, each under a fresh prefix: SeaweedFS gives every bucket its own volumes (a
collection), so a bucket per test would use up the server's volume slots."""

from __future__ import annotations

import os
import secrets

from watchman.storage.s3 import S3Target

ENDPOINT = os.environ.get("WATCHMAN_TEST_S3", "http://127.0.0.1:8333")
ACCESS_KEY = os.environ.get("WATCHMAN_TEST_S3_ACCESS_KEY", "watchman-test")
SECRET_KEY = os.environ.get("WATCHMAN_TEST_S3_SECRET_KEY", "watchman-test-secret-key")
BUCKET = "watchman-tests"


def fresh_prefix() -> str:
    return f"t-{secrets.token_hex(6)}"


def s3_target(prefix: str | None = None, part_size: int = 5 * 1024 * 1024) -> S3Target:
    """A target under a new (or the given) prefix of the test bucket."""
    return S3Target(
        BUCKET,
        prefix if prefix is not None else fresh_prefix(),
        endpoint_url=ENDPOINT,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        part_size=part_size,
        create_bucket=True,
    )
