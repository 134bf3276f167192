"""A Neo4j Community dump, orchestrated: stop -> `neo4j-admin database dump` -> start, the downtime in the
completed event, the dump checked by `neo4j-admin database check` on the restored copy, and the server
answering again with its data. Against a PRIVATE Neo4j that this module starts from infra/ in its own
state directory and ports (the shared infra/ Neo4j is never stopped: other tests use it)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyrage
import pytest

from tests.support.sshd import free_port
from watchman.backups import service
from watchman.domains.backups import BackupJobSettings, BackupSettings

pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parents[2]
SERVICES = str(ROOT / "infra" / "services")
PASSWORD = "watchman-test-password"


class Private:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.bolt, self.http = free_port(), free_port()
        self.env = [
            "env",
            f"WATCHMAN_INFRA_STATE={state}",
            f"WATCHMAN_NEO4J_BOLT_PORT={self.bolt}",
            f"WATCHMAN_NEO4J_HTTP_PORT={self.http}",
            "WATCHMAN_NEO4J_HEAP=256m",
            "WATCHMAN_NEO4J_PAGECACHE=32m",
            f"WATCHMAN_NEO4J_PASSWORD={PASSWORD}",
        ]
        self.pid_file = state / "neo4j" / "neo4j.pid"

    def start(self) -> list[str]:
        return [*self.env, SERVICES, "up", "neo4j"]

    def stop(self) -> list[str]:
        # Only the pid this module's server wrote: never `infra/services down`.
        script = (
            f'pid=$(cat "{self.pid_file}") && kill "$pid" && '
            'while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done'
        )
        return ["sh", "-c", script]

    def admin(self) -> list[str]:
        return [*self.env, SERVICES, "neo4j-admin"]

    def run(self, cypher: str) -> None:
        import neo4j

        with neo4j.GraphDatabase.driver(f"bolt://127.0.0.1:{self.bolt}", auth=("neo4j", PASSWORD)) as d:
            d.execute_query(cypher)

    def nodes(self) -> int:
        import neo4j

        with neo4j.GraphDatabase.driver(f"bolt://127.0.0.1:{self.bolt}", auth=("neo4j", PASSWORD)) as d:
            return int(d.execute_query("MATCH (n:Thing) RETURN count(n) AS n").records[0]["n"])


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Private]:
    p = Private(tmp_path_factory.mktemp("private-neo4j"))
    subprocess.run(p.start(), check=True, capture_output=True, timeout=300)
    try:
        import neo4j

        with neo4j.GraphDatabase.driver(f"bolt://127.0.0.1:{p.bolt}", auth=("neo4j", PASSWORD)) as d:
            d.execute_query("UNWIND range(1, 25) AS i CREATE (:Thing {i: i})")
        yield p
    finally:
        if p.pid_file.exists():
            subprocess.run(p.stop(), check=False, timeout=120)


def test_stop_dump_start_with_its_downtime_and_neo4j_checks_the_dump(
    private: Private, tmp_path: Path
) -> None:
    ident = pyrage.x25519.Identity.generate()
    key = tmp_path / "key.txt"
    key.write_text(f"{ident}\n")
    key.chmod(0o600)
    settings = BackupSettings(
        jobs={
            "graphdb": BackupJobSettings(
                kind="neo4j", target=f"file://{tmp_path / 'store'}", recipients=(str(ident.to_public()),),
                identity_file=key, neo4j_admin=tuple(private.admin()), stop_command=tuple(private.stop()),
                start_command=tuple(private.start()),
            )
        }
    )  # fmt: skip
    job = service.open_job(settings, "graphdb", host="h1", data_dir=tmp_path / "data")
    seen = []
    manifest = service.run_backup(job, "graphdb-20261204T000000Z-00000001", now=lambda: datetime.now(UTC),
                                  observe=seen.append)  # fmt: skip
    stages = [(o.stage, o.error) for o in seen]
    assert manifest is not None, stages
    assert [s for s, _ in stages] == ["started", "completed", "verified"], stages  # verified: database check
    completed = next(o for o in seen if o.stage == "completed")
    assert completed.downtime_s > 0 and completed.downtime_s <= completed.duration_s
    assert [e.path for e in manifest.entries if e.type == "file"] == ["neo4j/neo4j.dump"]
    assert private.nodes() == 25  # started again, with its data

    # A dump that is not a dump fails Neo4j's check.
    bad = tmp_path / "bad" / "neo4j"
    bad.mkdir(parents=True)
    (bad / "neo4j.dump").write_bytes(os.urandom(4096))
    check = subprocess.run(
        [*private.admin(), "database", "check", "neo4j", f"--from-path={bad}",
         f"--temp-path={tmp_path / 'bad'}"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert check.returncode != 0

    # In place: refused without the phrase; with it, stop -> load -> start gives back the dumped graph.
    with pytest.raises(service.JobError, match="confirm with"):
        service.restore(job, manifest.id, target_dir="", in_place=True, confirm="",
                        now=lambda: datetime.now(UTC), observe=seen.append)  # fmt: skip
    assert private.nodes() == 25  # nothing was stopped
    private.run("UNWIND range(1, 5) AS i CREATE (:Thing {i: 100 + i})")
    assert private.nodes() == 30
    phrase = service.in_place_phrase(manifest.id)
    service.restore(job, manifest.id, target_dir="", in_place=True, confirm=phrase,
                    now=lambda: datetime.now(UTC), observe=seen.append)  # fmt: skip
    assert private.nodes() == 25
    restored = seen[-1]
    assert (restored.stage, restored.in_place) == ("restored", True)
