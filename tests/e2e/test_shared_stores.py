"""Two daemons with their own data directories but one log or one graph: the second says busy, exit 4."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.instance import Instance

EXIT_BUSY = 4


@pytest.mark.parametrize("shared", [("bus", "graph"), ("graph",), ("bus",)])
def test_a_second_daemon_on_a_shared_store_is_refused_as_busy(
    tmp_path: Path, shared: tuple[str, ...]
) -> None:
    stores = {
        "bus": f"sqlite://{tmp_path / 'shared' / 'log.sqlite'}",
        "graph": f"ladybug://{tmp_path / 'shared' / 'graph'}",
    }
    (tmp_path / "shared").mkdir()
    first, second = Instance(tmp_path / "a"), Instance(tmp_path / "b")
    for inst in (first, second):
        inst.write_config(**{k: stores[k] for k in shared})
    proc = first.start()
    try:
        first.wait_ready(proc)
        out = second.cli("run", "--once", check=False)
        assert out.returncode == EXIT_BUSY, out.stderr
        assert "Traceback" not in out.stderr
        assert "error:" in out.stderr and ("already open" in out.stderr or "is using" in out.stderr)
    finally:
        assert first.stop(proc) == 0
