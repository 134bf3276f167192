"""Serving the admin API: uvicorn in a background thread of the process it reports on."""

from __future__ import annotations

import contextlib
import logging
import pathlib
import threading
import time

from fastapi import FastAPI

log = logging.getLogger(__name__)


class ApiServer:
    """uvicorn in a background thread of the process it reports on."""

    def __init__(
        self,
        app: FastAPI,
        listen: str,
        url_file: pathlib.Path | None = None,
        *,
        allow_remote: bool = False,
    ) -> None:
        """`url_file` gets the URL it listens on while it runs (port 0 picks any free port). An address
        beyond loopback needs `allow_remote` (RemoteListenRefused otherwise)."""
        import uvicorn

        from watchman.private_files import check_listen

        self.url_file = url_file
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"api_listen wants HOST:PORT, got {listen!r}")
        check_listen(listen, allow_remote=allow_remote)
        self.listen = listen
        config = uvicorn.Config(
            app, host=host.strip("[]"), port=int(port), log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self.url = ""
        self._thread = threading.Thread(target=self._server.run, name="watchman-api", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise OSError(f"the admin API could not listen on {self.listen} (is the port in use?)")
            if time.monotonic() > deadline:
                raise OSError(f"the admin API did not start on {self.listen} within {timeout:.0f} s")
            time.sleep(0.02)
        sock = self._server.servers[0].sockets[0]
        host, port = sock.getsockname()[:2]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        if self.url_file is not None:
            self.url_file.write_text(self.url + "\n")
        log.info("admin API on %s (OpenAPI at %s/docs)", self.url, self.url)

    def stop(self) -> None:
        if self.url_file is not None:
            with contextlib.suppress(FileNotFoundError):
                self.url_file.unlink()
        self._server.should_exit = True
        self._thread.join(timeout=5)
