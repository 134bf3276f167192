"""infra/services finds "Kafka Server started" of this start only, across the log's rollover.

CI failed once with Kafka "not ready within 180 s" after a restart in the middle of the suite: the
broker was up, but its start-up crossed the 10 MB rollover of server.log, and the readiness check
read the live file from the size it had at launch.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "infra" / "services"
STARTED = "INFO [KafkaRaftServer nodeId=1] Kafka Server started (kafka.server.KafkaRaftServer)\n"


@pytest.fixture(scope="module")
def infra() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("infra_services", str(SERVICES))
    spec = importlib.util.spec_from_loader("infra_services", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["infra_services"] = module  # dataclasses look their module up while it executes
    try:
        loader.exec_module(module)
    finally:
        del sys.modules["infra_services"]
    return module


def rotate(log: Path, keep: int = 3) -> None:
    """What log4j2's DefaultRolloverStrategy does: server.log.2 -> .3, .1 -> .2, server.log -> .1."""
    for i in range(keep - 1, 0, -1):
        older = log.with_name(f"{log.name}.{i}")
        if older.exists():
            older.rename(log.with_name(f"{log.name}.{i + 1}"))
    log.rename(log.with_name(f"{log.name}.1"))
    log.touch()


def age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_a_start_line_from_an_earlier_run_does_not_count(infra: ModuleType, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("old run\n" + STARTED + "x" * 5000 + "\n")
    rotate(log)
    log.write_text("old run, after its rollover\n" + STARTED)
    age(log.with_name("server.log.1"), 60)
    age(log, 30)
    mark = infra.mark_log(log)
    with log.open("a") as f:
        f.write("this run: loading logs\n")
    assert "Kafka Server started" not in infra.written_since(log, mark)
    with log.open("a") as f:
        f.write(STARTED)
    assert infra.written_since(log, mark).count("Kafka Server started") == 1


def test_the_start_line_is_found_when_the_log_rolls_over_after_it(infra: ModuleType, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("old run\n" * 1000)
    mark = infra.mark_log(log)
    with log.open("a") as f:
        f.write("this run\n" + STARTED)
    rotate(log)  # the live file is now new and empty
    with log.open("a") as f:
        f.write("deleting the logs of deleted topics\n" * 50)
    seen = infra.written_since(log, mark)
    assert "Kafka Server started" in seen
    assert "old run" not in seen


def test_the_start_line_is_found_before_the_marks_size_in_a_new_file(
    infra: ModuleType, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    log.write_text("old run\n" * 10)
    mark = infra.mark_log(log)
    with log.open("a") as f:
        f.write("this run, loading\n")
    rotate(log)
    with log.open("a") as f:  # the start line lies before the old size in the new file
        f.write(STARTED + "more\n" * 100)
    assert "Kafka Server started" in infra.written_since(log, mark)


def test_no_log_yet(infra: ModuleType, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    mark = infra.mark_log(log)
    assert infra.written_since(log, mark) == ""
    log.write_text(STARTED)
    assert "Kafka Server started" in infra.written_since(log, mark)
