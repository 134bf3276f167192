"""The runners projection (pure), and the four named questions answered by a real LadybugDB graph built
from the runners' sample logs (tests/data/runners) through the real processor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from processors.registry import ROUTES
from processors.runners import SOURCE
from processors.tables import MemoryTable
from producers.kinds import KINDS
from producers.parse_kind import ParseOptions
from producers.runners.envelopes import api_envelope, scan_envelope
from projections.catalog import resolve
from projections.graph_ops import UpsertNode, UpsertRel, fold
from projections.registry import PROJECTORS
from projections.stores.ladybug import LadybugStore
from schemas.envelope import Envelope
from schemas.events import decode_payload
from schemas.events.runners import JOB_EVENTS, RUNNER_EVENTS, RunnerApiObserved, RunnerObserved

DATA = Path(__file__).resolve().parents[2] / "data" / "runners"
ROUTE = next(r for r in ROUTES if r.name == SOURCE)
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_every_domain_type_has_a_projector() -> None:
    for cls in (*RUNNER_EVENTS, *JOB_EVENTS):
        assert cls.TYPE in PROJECTORS


def _decided() -> list[Envelope]:
    opts = ParseOptions(host="vm", tz=None, now=NOW)
    raws: list[Envelope] = []
    found = RunnerObserved(
        ts=datetime(2026, 12, 4, 10, 0, tzinfo=UTC),
        change="added",
        provider="github",
        runner="runner-01",
        runner_id=17,
        repo="octo-org/octo-app",
        path="/opt/actions-runner",
        service="actions.runner.octo-org-octo-app.runner-01.service",
        service_state="active",
        process=True,
    )
    raws.append(scan_envelope("vm", found, found.ts))
    diag = DATA / "github" / "_diag"
    for name in ("Runner_20261204-101500-utc.log", "Worker_20261204-101611-utc.log"):
        raws += [e for e in KINDS["github-runner-diag"].parse(diag / name, opts) if isinstance(e, Envelope)]
    # A Listener file and a Worker file are read one after the other: order them as the source does
    # within one poll (the message of the job then comes before its end).
    raws.sort(key=lambda e: e.ts)
    # The provider's API: the runner online, and a newer runner release offered.
    api = RunnerApiObserved(
        ts=NOW, provider="github", runner="runner-01", runner_id=17, status="online", latest_version="2.337.0"
    )
    raws.append(api_envelope("vm", api, NOW))
    gl = KINDS["gitlab-runner-log"].parse(DATA / "gitlab" / "gitlab-runner.log", opts)
    raws += [e for e in gl if isinstance(e, Envelope)]
    table = MemoryTable()
    return [d for r in raws for d in ROUTE.handle(r.to_json(), table)]


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LadybugStore]:
    store = LadybugStore(tmp_path_factory.mktemp("graph") / "g")
    store.ensure_schema()
    ops = []
    for e in _decided():
        ops += PROJECTORS[e.type](e, decode_payload(e.type, e.schema_version, e.payload))
    # The services domain's per-minute metrics of the runner's unit during the first job (10:16:10-10:16:42).
    from schemas.events.services import ServiceMetricsSampled

    minute = datetime(2026, 12, 4, 10, 16, tzinfo=UTC)
    sample = ServiceMetricsSampled(
        unit="actions.runner.octo-org-octo-app.runner-01.service",
        minute=minute,
        cpu_percent=87.5,
        rss_bytes=512 * 2**20,
        processes=4,
        samples=4,
    )
    metrics = Envelope(
        id="m" * 32,
        type=sample.TYPE,
        schema_version=1,
        host="vm",
        source="processors.services",
        ts=minute,
        observed_at=minute,
        subject=sample.unit,
        payload=sample.model_dump(mode="json"),
    )
    ops += PROJECTORS[metrics.type](metrics, sample)
    store.apply(ops, {})
    store.apply(ops, {})  # idempotent: a replay changes nothing
    yield store
    store.close()


def ask(store: LadybugStore, name: str, now: datetime = NOW, **params: str | int) -> list[dict[str, object]]:
    cypher, p = resolve(name, params, now)
    result = store.query(cypher, p, read_only=True)
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def test_the_projection_links_jobs_to_runners() -> None:
    events = _decided()
    done = next(e for e in events if e.type == "JobCompleted" and e.payload["provider"] == "github")
    ops = PROJECTORS[done.type](done, decode_payload(done.type, 1, done.payload))
    rels = {(o.type, o.from_label, o.to_label) for o in ops if isinstance(o, UpsertRel)}
    assert ("RAN_ON", "CIJob", "GitRunner") in rels and ("INSTALLED_ON", "GitRunner", "Host") in rels
    job = next(o for o in ops if isinstance(o, UpsertNode) and o.label == "CIJob")
    assert job.props["status"] == "succeeded" and job.props["workflow"] == "CI"
    fold(ops)  # every op is in the declared schema


def test_failed_jobs_last_week(graph: LadybugStore) -> None:
    rows = ask(graph, "ci-jobs-failed")
    assert sorted((r["runner"], r["job"], r["result"]) for r in rows) == [
        ("gl-runner-01", "9912", "failed"),
        ("runner-01", "test (3.12)", "failed"),
    ]
    assert ask(graph, "ci-jobs-failed", now=NOW + timedelta(days=8)) == []


def test_jobs_completed_today(graph: LadybugStore) -> None:
    (row,) = ask(graph, "runner-jobs-today", runner="runner-01")
    assert (row["jobs"], row["succeeded"]) == (2, 1)
    (row,) = ask(graph, "runner-jobs-today", now=NOW + timedelta(days=1), runner="runner-01")
    assert row["jobs"] == 0
    got = graph.query(
        "MATCH (r:GitRunner) WHERE r.name = $n RETURN r.jobs_completed, r.version, r.status",
        {"n": "runner-01"},
        read_only=True,
    )
    assert list(got.rows[0]) == [2, "2.336.0", "online"]


def test_average_duration(graph: LadybugStore) -> None:
    rows = {r["repo"]: r for r in ask(graph, "ci-job-duration")}
    assert rows["octo-org/octo-app"]["jobs"] == 2
    assert rows["octo-org/octo-app"]["average_seconds"] == pytest.approx((32 + 72) / 2)
    assert rows["platform/api"]["average_seconds"] == pytest.approx((41.823155 + 7.5) / 2)


def test_no_runner_is_busy_after_the_logs(graph: LadybugStore) -> None:
    assert ask(graph, "runners-running-jobs") == []


def test_outdated_runners(graph: LadybugStore) -> None:
    rows = ask(graph, "runners-outdated")
    assert [(r["runner"], r["version"], r["latest_version"]) for r in rows] == [
        ("runner-01", "2.336.0", "2.337.0")
    ]


def test_resources_per_job_from_the_runner_services_metrics(graph: LadybugStore) -> None:
    rows = ask(graph, "ci-job-resources")
    assert [(r["job"], r["max_cpu_percent"], r["max_rss_bytes"], r["minutes"]) for r in rows] == [
        ("build", 87.5, 512 * 2**20, 1)
    ]


def test_a_log_line_in_the_same_second_as_a_scan_still_wins(tmp_path: Path) -> None:
    """Regression (CI, 2026-12-04): a scan at 21:17:29.000542 found no process (offline); the Listener
    started and wrote "Listening for Jobs" stamped 21:17:29 (whole seconds), read 0.3 s later. Ordered by
    the told times the online status was older than the offline one and never applied: the graph said
    offline for good while the processor knew the runner online."""
    from producers.runners.envelopes import log_envelope
    from schemas.events.runners import RunnerLogObserved

    scan_at = datetime(2026, 12, 4, 21, 17, 29, 542, tzinfo=UTC)
    scan = RunnerObserved(
        ts=scan_at,
        change="added",
        provider="github",
        runner="runner-01",
        runner_id=17,
        repo="octo-org/octo-app",
        path="/opt/actions-runner",
        service="actions.runner.octo-org-octo-app.runner-01.service",
        service_state="active",
        process=False,
    )
    line = RunnerLogObserved(
        ts=scan_at.replace(microsecond=0),
        provider="github",
        runner="runner-01",
        kind="listening",
        file="/opt/actions-runner/_diag/Runner_20261204-211729-utc.log",
    )
    raws = [
        scan_envelope("vm", scan, scan_at),
        log_envelope("vm", line, "240", scan_at + timedelta(seconds=0.3)),
    ]
    table = MemoryTable()
    decided = [d for r in raws for d in ROUTE.handle(r.to_json(), table)]
    assert [d.payload.get("status") for d in decided if d.type == "RunnerStatusChanged"] == [
        "offline",
        "online",
    ]
    for one_batch in (True, False):
        store = LadybugStore(tmp_path / f"g{one_batch}")
        store.ensure_schema()
        batches = [decided] if one_batch else [[d] for d in decided]
        for batch in batches:
            ops = [op for e in batch for op in PROJECTORS[e.type](e, decode_payload(e.type, 1, e.payload))]
            store.apply(ops, {})
        result = store.query("MATCH (r:GitRunner) RETURN r.status", {}, read_only=True)
        assert result.rows == [["online"]], one_batch
        store.close()
