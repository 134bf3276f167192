"""DockerSource without an engine: poll returns at once, the absence is told once, close is prompt."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from producers.docker.source import DockerSource, unix_socket
from watchman.domains.containers import DockerSettings


def test_an_absent_engine_is_reported_once_and_never_blocks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="producers.docker.source")
    src = DockerSource(
        f"unix://{tmp_path}/docker.sock", "h", reconnect_initial=0.05, reconnect_max=0.1, first_wait=10
    )
    try:
        started = time.monotonic()
        poll = src.poll(100)
        # The first poll waits for the first attempt only, which fails fast without a socket.
        assert time.monotonic() - started < 5
        assert poll.observations == [] and poll.cursor is None
        time.sleep(0.6)  # several retries
        for _ in range(5):
            assert src.poll(100).observations == []
        assert not src.connected.is_set()
    finally:
        started = time.monotonic()
        src.close()
        assert time.monotonic() - started < 5
    told = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(told) == 1 and told[0].levelno == logging.INFO


def test_settings_enable_docker_only_where_its_socket_is(tmp_path: Path) -> None:
    sock = tmp_path / "docker.sock"
    auto = DockerSettings(base_url=f"unix://{sock}")
    assert auto.socket() == sock and not auto.active()
    sock.touch()
    assert auto.active()
    assert not DockerSettings(base_url=f"unix://{sock}", enabled=False).active()
    assert DockerSettings(base_url=f"unix://{tmp_path}/none", enabled=True).active()
    assert DockerSettings(base_url="tcp://127.0.0.1:2375").active()
    assert unix_socket(f"unix://{sock}") == sock and unix_socket("tcp://h:1") is None


def test_a_record_the_converter_cannot_read_goes_to_the_dead_letters(tmp_path: Path) -> None:
    src = DockerSource(f"unix://{tmp_path}/docker.sock", "h", reconnect_initial=5, first_wait=0)
    try:
        src.poll(10)
        # A record without any time: what the stream thread does with it (no engine call for a plugin).
        src._on_event(None, {"Type": "plugin", "Action": "enable", "Actor": {"ID": "p1"}})
        poll = src.poll(10)
        assert poll.observations == [] and len(poll.dead) == 1
        dead = poll.dead[0]
        assert dead.source == src.name and "KeyError" in dead.error and '"plugin"' in dead.raw_text
        assert poll.cursor is not None  # the cursor moves past it
    finally:
        src.close()
