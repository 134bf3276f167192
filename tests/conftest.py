"""Test-wide fixtures: one pytest process at a time on the shared Kafka and Neo4j from infra/."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Tracking the machine's own /etc and ~/.config (the configfiles domain's default) would add its files to
# every test's graph and versions repository: off, unless a test turns it on.
os.environ.setdefault("WATCHMAN_CONFIGFILES__ENABLED", "false")
# Likewise the machine's listening sockets, sensitive files, package database (for CVE matching) and
# systemd units: events no two runs share. A test that wants one says so in its settings.
for _name in ("EXPOSURE", "PERMISSIONS", "VULNERABILITIES"):
    os.environ.setdefault(f"WATCHMAN_{_name}__ENABLED", "false")
os.environ.setdefault("WATCHMAN_SERVICES__UNITS_ENABLED", "false")

# infra/services keeps its state here; the lock file lives beside it.
LOCK = Path(os.environ.get("WATCHMAN_INFRA_STATE", "/tmp/watchman-infra")) / "tests.lock"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "servers: the module resets or shares state on the infra/ Kafka and Neo4j (topics, consumer groups, "
        "the one Neo4j database); modules so marked run one at a time across pytest processes",
    )
    config.addinivalue_line(
        "markers",
        "alone: scripts/test.sh runs the module after the parallel run, with nothing beside it (the runners "
        "e2e missed a process start only while the whole suite ran beside it)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`servers` marks a module, never a test alone: the lock is taken per module (_servers_exclusive),
    so a test marked by itself ran on the shared servers without it (it wiped Neo4j under another
    module's feet in CI)."""
    for item in items:
        own = [m for m in item.own_markers if m.name == "servers"]
        module = item.getparent(pytest.Module)
        if own and module is not None and module.get_closest_marker("servers") is None:
            raise pytest.UsageError(
                f"{item.nodeid}: mark the module (pytestmark = pytest.mark.servers), not the test"
            )


@pytest.fixture(scope="module", autouse=True)
def _servers_exclusive(request: pytest.FixtureRequest) -> Iterator[None]:
    """Two test runs on one machine (two developers, a developer and a helper) share one Kafka and one
    Neo4j: a module that wipes Neo4j or joins the `watchman` consumer group must not interleave with
    another such module. An flock is released by the kernel if the process dies."""
    if request.node.get_closest_marker("servers") is None:
        yield
        return
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
