"""dnf (both logs) and Homebrew through the whole embedded pipeline, with real files."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from tests.support.instance import Instance

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "packages"


def _receipt(cellar: Path, name: str, version: str, ts: int, *, on_request: bool = True) -> None:
    keg = cellar / name / version
    keg.mkdir(parents=True)
    receipt = json.loads((FIXTURES / "brew" / "htop_INSTALL_RECEIPT.json").read_text())
    receipt.update(
        {"time": ts, "installed_on_request": on_request, "installed_as_dependency": not on_request}
    )
    (keg / "INSTALL_RECEIPT.json").write_text(json.dumps(receipt))


def test_dnf_log_and_rpm_log_become_one_event_per_change(instance: Instance) -> None:
    logs = instance.root / "logs"
    logs.mkdir(parents=True)
    shutil.copy(FIXTURES / "dnf_rpm.log", logs / "dnf.rpm.log")
    shutil.copy(FIXTURES / "dnf.log", logs / "dnf.log")
    instance.cli("run", "--once")
    rows = instance.query(
        "MATCH (e:Event) WHERE e.ecosystem = 'rpm' RETURN e.package_name AS p, e.action AS a, "
        "e.version AS v, e.source AS s, e.commandline AS c ORDER BY p, a"
    )
    enriched = [r for r in rows if r["s"] == "dnf,dnf-rpm"]
    assert len(enriched) >= 5, rows
    # no change may stay twice, once per log
    sources: dict[tuple[object, ...], set[object]] = {}
    for r in rows:
        sources.setdefault((r["p"], r["a"], r["v"]), set()).add(r["s"])
    assert not [k for k, s in sources.items() if {"dnf", "dnf-rpm"} <= s or len(s) > 1]
    assert all(r["c"] for r in enriched)


def test_brew_cellar_changes_are_seen_while_running(instance: Instance) -> None:
    cellar = instance.brew_prefix / "Cellar"
    _receipt(cellar, "jq", "1.7", 1_705_314_225)
    _receipt(cellar, "oniguruma", "6.9.9", 1_705_314_200, on_request=False)
    proc = instance.start()
    try:
        instance.wait_ready(proc)
        deadline = time.monotonic() + 30
        rows: list[dict[str, object]] = []
        while time.monotonic() < deadline and len(rows) < 2:
            rows = instance.query("MATCH (s:Software) WHERE s.ecosystem = 'brew' RETURN s.name AS n")
            time.sleep(0.1)
        assert {r["n"] for r in rows} == {"jq", "oniguruma"}
        # brew upgrade jq: the old keg goes, a new one arrives
        shutil.rmtree(cellar / "jq" / "1.7")
        _receipt(cellar, "jq", "1.7.1", 1_705_400_000)
        while time.monotonic() < deadline:
            rows = instance.query(
                "MATCH (s:Software) WHERE s.name = 'jq' RETURN s.version AS v, s.automatic AS auto"
            )
            if rows and rows[0]["v"] == "1.7.1":
                break
            time.sleep(0.1)
        assert rows == [{"v": "1.7.1", "auto": False}]
        history = instance.query("package-history", "-p", "name=jq")
        assert [r["action"] for r in history] == ["upgrade", "install"]
    finally:
        assert instance.stop(proc) == 0
