"""Storage URLs pick their adapter; credentials only as secret references; errors never show a value."""

from __future__ import annotations

import pytest

from watchman.storage import StorageError, open_target, redact_url
from watchman.storage.local import LocalTarget
from watchman.storage.rsync import RsyncTarget
from watchman.storage.s3 import S3Target


def test_schemes_pick_adapters() -> None:
    assert isinstance(open_target("file:///srv/backups"), LocalTarget)
    t = open_target("rsync://backup@host.example:2222/srv/b?ssh=ssh -i /k")
    assert isinstance(t, RsyncTarget) and t.destination == "backup@host.example"
    assert t.ssh[:3] == ["ssh", "-i", "/k"] and "2222" in t.ssh
    resolved = {"secret:a": "AKIA-resolved", "secret:b": "very-secret-value"}
    s3 = open_target("s3://bucket/pre/fix?endpoint=http://127.0.0.1:1&access_key=secret:a&secret_key=secret:b",
                     resolved.__getitem__)  # fmt: skip
    assert isinstance(s3, S3Target) and s3.prefix == "pre/fix/"
    assert "very-secret-value" not in s3.describe()


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("ftp://x/y", "unknown storage scheme"),
        ("file://host/x", "with a host"),
        ("s3:///x", "no bucket"),
        ("s3://b/x?secret_key=plain-value-123", "reference"),
        ("s3://b/x?access_key=secret:a", "resolver"),
        ("file:///x?nonsense=1", "unknown option"),
        ("s3://b/x?nonsense=1&secret_key=plain-value-123", "unknown option"),
        ("rsync:///path", "no host"),
    ],
)
def test_bad_urls_are_clear_errors(url: str, match: str) -> None:
    with pytest.raises(StorageError, match=match) as err:
        open_target(url)
    assert "plain-value-123" not in str(err.value)


def test_redact_url_hides_a_password() -> None:
    assert redact_url("rsync://u:hunter22@h/p") == "rsync://u:[redacted]@h/p"
    assert (
        redact_url("s3://b/p?access_key=AKIA1&secret_key=secret:s")
        == "s3://b/p?access_key=[redacted]&secret_key=secret:s"
    )
