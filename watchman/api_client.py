"""A small client of a running process's admin API (stdlib HTTP: the CLI needs no HTTP library)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from watchman.api import TokenFile
from watchman.settings import Settings


class ApiError(RuntimeError):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


class ApiClient:
    def __init__(self, url: str, token: str, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    @classmethod
    def connect(cls, settings: Settings) -> ApiClient | None:
        """The running daemon's API, if it announced one (<data_dir>/api.url) and answers /health."""
        try:
            url = settings.api_url_path.read_text().strip()
            token = TokenFile(settings.api_token_path).current()
        except OSError:
            return None
        client = cls(url, token)
        try:
            client.get("/health", auth=False, timeout=3.0)
        except (OSError, ApiError):
            return None
        return client

    def get(self, path: str, *, auth: bool = True, timeout: float | None = None) -> Any:
        return self._call("GET", path, None, auth, timeout)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._call("POST", path, body, True, None)

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None, auth: bool, timeout: float | None
    ) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                detail = json.loads(raw).get("detail", raw.decode(errors="replace"))
            except ValueError:
                detail = raw.decode(errors="replace")
            raise ApiError(exc.code, detail if isinstance(detail, str) else json.dumps(detail)) from None
