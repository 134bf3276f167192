"""Storage targets (DESIGN §9): one port (`base.StorageTarget`), adapters named after their technology,
chosen by a URL:

    file:///srv/backups                                   a local directory (local.py)
    s3://bucket/prefix?endpoint=http://127.0.0.1:8333&access_key=secret:s3.access&secret_key=secret:s3.secret
                                                          S3 or an S3-compatible server (s3.py)
    rsync://user@host:2222/srv/backups                    another host over ssh (rsync.py)

Query values that are `secret:NAME` references are resolved through watchman.secrets when the target is
opened; the URL itself (what settings, events and the graph hold) never carries a credential value.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from urllib.parse import parse_qs, unquote, urlsplit

from watchman.storage.base import ObjectInfo, ObjectMissing, StorageError, StorageTarget

__all__ = ["ObjectInfo", "ObjectMissing", "StorageError", "StorageTarget", "open_target"]

Resolve = Callable[[str], str]


def _plain(value: str) -> str:
    if value.startswith("secret:"):
        raise StorageError("a secret: reference in a storage URL needs a secrets resolver")
    return value


def open_target(url: str, resolve: Resolve = _plain) -> StorageTarget:
    """The target a URL names. `resolve` turns `secret:NAME` references into values (Secrets.resolve)."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    for key in query:
        if key not in ("endpoint", "region", "access_key", "secret_key", "part_size", "create_bucket", "ssh"):
            raise StorageError(f"unknown option {key!r} in storage URL {redact_url(url)}")
    if parts.scheme == "file":
        from watchman.storage.local import LocalTarget

        if parts.netloc not in ("", "localhost"):
            raise StorageError(f"file URL with a host: {redact_url(url)} (use file:///absolute/path)")
        return LocalTarget(unquote(parts.path))
    if parts.scheme == "s3":
        from watchman.storage.s3 import S3Target

        if not parts.netloc:
            raise StorageError(f"no bucket in {redact_url(url)}")
        for cred in ("access_key", "secret_key"):
            if cred in query and not query[cred].startswith("secret:"):
                raise StorageError(f"{cred} in a storage URL must be a secret:NAME reference, not a value")
        return S3Target(
            parts.netloc,
            unquote(parts.path).strip("/"),
            endpoint_url=query.get("endpoint"),
            region=query.get("region"),
            access_key=resolve(query["access_key"]) if "access_key" in query else None,
            secret_key=resolve(query["secret_key"]) if "secret_key" in query else None,
            part_size=int(query.get("part_size", 8 * 1024 * 1024)),
            create_bucket=query.get("create_bucket", "") in ("1", "true", "yes"),
        )
    if parts.scheme == "rsync":
        from watchman.storage.rsync import RsyncTarget

        if not parts.hostname:
            raise StorageError(f"no host in {redact_url(url)}")
        dest = f"{parts.username}@{parts.hostname}" if parts.username else parts.hostname
        ssh = shlex.split(query["ssh"]) if "ssh" in query else None
        if parts.port:
            ssh = [*(ssh or shlex.split("ssh")), "-p", str(parts.port)]
        return RsyncTarget(dest, unquote(parts.path) or ".", ssh=ssh)
    raise StorageError(f"unknown storage scheme {parts.scheme!r} in {redact_url(url)} (file, s3, rsync)")


def redact_url(url: str) -> str:
    """The URL without a password part or a credential value in its query (settings should never hold
    either; this keeps errors and `config check` safe if they do)."""
    parts = urlsplit(url)
    if parts.password:
        parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":[redacted]@"))
    if parts.query:
        pairs = []
        for pair in parts.query.split("&"):
            key, _, value = pair.partition("=")
            if key in ("access_key", "secret_key") and not unquote(value).startswith("secret:"):
                value = "[redacted]"
            pairs.append(f"{key}={value}" if _ else key)
        parts = parts._replace(query="&".join(pairs))
    return parts.geturl()
