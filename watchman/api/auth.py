"""The admin API's bearer tokens: the 0600 token files, and the checks every endpoint but /health makes."""

from __future__ import annotations

import contextlib
import hmac
import os
import pathlib
import secrets
import threading
from typing import Annotated, Protocol

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer


class TokenFile:
    """The bearer token in a 0600 file: created on first use, re-read when the file changes."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._cached: tuple[float, str] | None = None

    def ensure(self) -> str:
        """The token, created if there is none. Processes sharing a data directory may start at
        once: the file is linked into place only if absent, so exactly one token wins."""
        with self._lock:
            if not self.path.exists():
                self._write(secrets.token_urlsafe(32), replace=False)
            return self._read()

    def rotate(self) -> str:
        with self._lock:
            self._write(secrets.token_urlsafe(32))
            return self._read()

    def current(self) -> str:
        with self._lock:
            return self._read()

    def _read(self) -> str:
        st = self.path.stat()
        if self._cached is None or self._cached[0] != st.st_mtime_ns:
            self._cached = (st.st_mtime_ns, self.path.read_text().strip())
        return self._cached[1]

    def _write(self, token: str, *, replace: bool = True) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(token + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            if replace:
                os.replace(tmp, self.path)  # atomic: a reader sees the old token or the new one
            else:
                with contextlib.suppress(FileExistsError):  # another process made it first: theirs wins
                    os.link(tmp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        self._cached = None


_bearer = HTTPBearer(auto_error=False, description="the token in <data_dir>/api.token")


def authorised(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The bearer token must match the token file; returns who is calling, for the audit trail."""
    expected: str = request.app.state.token.current()
    given = credentials.credentials if credentials is not None else ""
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong bearer token (see <data_dir>/api.token; `watchman token show`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    # Who issued a command, without the secret: a short fingerprint of the token.
    return "api:" + hmac.new(b"watchman", expected.encode(), "sha256").hexdigest()[:8]


Caller = Annotated[str, Depends(authorised)]


class Token(Protocol):
    def current(self) -> str: ...


def matches(given: str, token: Token | None) -> bool:
    """Whether `given` is the token's current value (compared in constant time; no file: no match)."""
    if token is None or not given:
        return False
    try:
        expected = token.current()
    except FileNotFoundError:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def metrics_reader(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """/admin/metrics takes the admin token or the metrics token: a scraper holding the latter can
    read the metrics and nothing else (no queries, no commands)."""
    given = credentials.credentials if credentials is not None else ""
    if matches(given, request.app.state.token) or matches(given, request.app.state.metrics_token):
        return
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "missing or wrong bearer token (<data_dir>/metrics.token or api.token; `watchman token show`)",
        headers={"WWW-Authenticate": "Bearer"},
    )


MetricsReader = Annotated[None, Depends(metrics_reader)]
