"""The retention endpoints on a real `watchman run` daemon over HTTP (its executor plans through the graph
the daemon lends it): the token is needed, policies and preview answer, a purge without its phrase is
refused, exemptions land in the graph, and the CLI goes through the daemon."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.instance import Instance

pytestmark = pytest.mark.timeout(240)


def wait_done(c: httpx.Client, url: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state: dict[str, Any] = c.get(url).json()
        if state["status"] != "pending":
            return state
        time.sleep(0.1)
    raise AssertionError(f"{url} still pending")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, httpx.Client]]:
    inst = Instance(tmp_path_factory.mktemp("retention-api"))
    inst.write_config()
    with inst.config.open("a") as f:
        f.write(
            f'[retention]\nenforcement_schedule = ""\narchive_url = "file://{inst.root / "archive"}"\n'
            '[retention.policies.logs]\nlabel = "LogEvent"\nretention_days = 7\npurge_strategy = "archive"\n'
            '[retention.policies.events]\nlabel = "Event"\nretention_days = 30\n'
            'purge_strategy = "soft_delete"\n'
        )
    proc = inst.start()
    try:
        inst.wait_ready(proc)
        deadline = time.monotonic() + 30
        while not (inst.data_dir / "api.url").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        url = (inst.data_dir / "api.url").read_text().strip()
        token = (inst.data_dir / "api.token").read_text().strip()
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            yield inst, c
    finally:
        inst.stop(proc)


def test_policies_preview_purge_exempt(daemon: tuple[Instance, httpx.Client]) -> None:
    inst, c = daemon
    assert httpx.get(str(c.base_url.join("/admin/retention/policies"))).status_code == 401
    pol = c.get("/admin/retention/policies").json()
    assert {p["policy"]: (p["label"], p["purge_strategy"]) for p in pol["policies"]} == {
        "logs": ("LogEvent", "archive"),
        "events": ("Event", "soft_delete"),
    }
    prev = c.get("/admin/retention/preview", params={"policy": "logs"}).json()
    assert [(p["policy"], p["records"]) for p in prev["policies"]] == [("logs", 0)]
    assert c.get("/admin/retention/preview", params={"policy": "nope"}).status_code == 400

    assert c.post("/admin/retention/purge", json={}).status_code == 400  # no confirmation
    r = c.post("/admin/retention/purge", json={"confirm": "purge"})
    assert r.status_code == 202, r.text
    state = wait_done(c, r.json()["status_url"])
    assert state["status"] == "succeeded", state
    assert "logs: removed 0 LogEvent" in state["detail"]

    r = c.post(
        "/admin/retention/exempt", json={"label": "LogEvent", "key": "abc", "exemption_reason": "hold"}
    )
    assert wait_done(c, r.json()["status_url"])["status"] == "succeeded"
    deadline = time.monotonic() + 30
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not rows:
        rows = c.post("/query", json={"name": "exempted-records"}).json()["rows"]
        time.sleep(0.1)
    assert [(r["label"], r["record"], r["reason"]) for r in rows] == [("LogEvent", "abc", "hold")]
    runs = c.post("/query", json={"name": "last-retention-purge"}).json()["rows"]
    assert {r["policy"] for r in runs} == {"logs", "events"}

    out = inst.cli("retention", "preview", "--policy", "events").stdout
    assert '"policy": "events"' in out
