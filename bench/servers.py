"""The shared Kafka and Neo4j from infra/ for the distributed benchmarks: the tests' lock, resets, processes.

Every distributed benchmark runs inside `exclusive()`, the same flock tests/conftest.py takes for
modules marked `servers`, so a benchmark never interleaves with a test that wipes Neo4j or deletes
the watchman topics (and the other way round).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import HOST, say
from tests.support import kafka

REPO = Path(__file__).resolve().parent.parent
LOCK = Path(os.environ.get("WATCHMAN_INFRA_STATE", "/tmp/watchman-infra")) / "tests.lock"
# Topics of the baselines: their own names, so they never meet the pipeline's.
BENCH_TOPIC_PREFIX = "bench."
# The live sources of the machine (netlink, journal, processes, Docker) would add events no run
# shares: the benchmarks measure the packages domain alone, as tests/support/instance.py does.
LIVE_SOURCES_OFF = {
    "WATCHMAN_NETWORK__ENABLED": "false",
    "WATCHMAN_JOURNALD__ENABLED": "false",
    "WATCHMAN_DOCKER__ENABLED": "false",
    "WATCHMAN_SERVICES__METRICS_ENABLED": "false",
    "WATCHMAN_RESOURCES__ENABLED": "false",
    "WATCHMAN_SERVICES__UNITS_ENABLED": "false",
    "WATCHMAN_CONFIGFILES__ENABLED": "false",
    "WATCHMAN_EXPOSURE__ENABLED": "false",
    "WATCHMAN_PERMISSIONS__ENABLED": "false",
    "WATCHMAN_VULNERABILITIES__ENABLED": "false",
}


@dataclass(frozen=True)
class Servers:
    kafka: str
    neo4j: str
    user: str
    password: str


def servers() -> Servers:
    """Where the infra/ servers listen (`eval "$(infra/services env)"` sets these; the defaults match)."""
    return Servers(
        os.environ.get("WATCHMAN_TEST_KAFKA", "127.0.0.1:9092"),
        os.environ.get("WATCHMAN_TEST_NEO4J", "neo4j://127.0.0.1:7687"),
        os.environ.get("WATCHMAN_TEST_NEO4J_USER", "neo4j"),
        os.environ.get("WATCHMAN_TEST_NEO4J_PASSWORD", "watchman-test-password"),
    )


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """Hold the tests' lock on the shared servers (released by the kernel should we die)."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for {LOCK} (a test on the shared servers is running)")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def delete_topics(s: Servers, *prefixes: str) -> None:
    kafka.delete_topics(s.kafka, *prefixes)


def open_neo4j(s: Servers) -> Any:
    from projections.stores.neo4j import Neo4jStore

    return Neo4jStore(s.neo4j, s.user, s.password)


def reset(s: Servers) -> None:
    """Fresh pipeline topics (ours and Faust's changelogs all start `watchman`), the baselines' topics
    gone, and an empty Neo4j with the schema in place. Only under `exclusive()`."""
    delete_topics(s, "watchman", BENCH_TOPIC_PREFIX)
    with open_neo4j(s) as store:
        store.wipe(confirm=True)
        store.ensure_schema()


async def _group_stable(kafka: str, group: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([group])
        for resp in described:
            for g in resp.groups:
                # (error_code, group_id, state, protocol_type, protocol, members[, authorized ops])
                if g[1] == group and g[2] == "Stable" and len(g[5]) > 0:
                    return True
        return False
    finally:
        await admin.close()


def wait_group_stable(s: Servers, group: str, timeout: float, proc: subprocess.Popen[bytes]) -> float:
    """Seconds until `group` (the Faust worker) has members and a stable assignment."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited {proc.returncode} before joining its group")
        with contextlib.suppress(Exception):
            if asyncio.run(_group_stable(s.kafka, group)):
                return time.monotonic() - started
        time.sleep(0.5)
    raise RuntimeError(f"consumer group {group!r} not stable after {timeout:.0f} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(
    root: Path,
    *,
    apt: Path,
    dpkg: Path,
    bus: str = "",
    graph: str = "",
    neo4j_user: str = "",
    api_listen: str = "",
    extra: dict[str, Any] | None = None,
) -> Path:
    """A watchman.toml for one benchmark instance: packages from `apt` and `dpkg` only, data in `root`.
    Settings not named keep the product's defaults (poll_interval 1.0 s, batch_size 2000)."""
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    lines = [f'data_dir = "{root / "data"}"', f'host = "{HOST}"', 'log_timezone = "UTC"']
    for key, value in (("bus", bus), ("graph", graph), ("neo4j_user", neo4j_user)):
        if value:
            lines.append(f'{key} = "{value}"')
    lines.append(f'api_listen = "{api_listen}"')
    for key, value in (extra or {}).items():
        lines.append(f"{key} = {value}")
    lines += ["[packages]", f'apt = ["{apt}"]', f'dpkg = ["{dpkg}"]']
    for kind in ("dnf_rpm", "dnf", "dnf5"):
        path = logs / f"{kind}.log"
        path.touch()
        lines.append(f'{kind} = ["{path}"]')
    lines.append("brew = []")
    lines += ["dpkg_status = []", "rpmdb = []"]  # the machine's package databases: not part of the figures
    config = root / "watchman.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def env_for(config: Path, s: Servers | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHMAN_")}
    env["WATCHMAN_CONFIG"] = str(config)
    env.update(LIVE_SOURCES_OFF)
    if s is not None:
        env["WATCHMAN_NEO4J_PASSWORD"] = s.password
    return env


def start(root: Path, env: dict[str, str], *args: str, module: str = "watchman") -> subprocess.Popen[bytes]:
    """`python -m watchman ARGS` in the background, its output in `root/<command>.log`."""
    log = (root / f"{args[0]}.log").open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args], cwd=REPO, env=env, stdout=log, stderr=log
        )
    finally:
        log.close()  # the child holds its own descriptor


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def tail(root: Path, name: str) -> str:
    path = root / f"{name}.log"
    return path.read_text(errors="replace")[-2000:] if path.exists() else ""
