"""The services processor: lifecycle from the service manager's messages, windows, log storms, metrics
downsampling, health changes and the auto-restart policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from processors import services
from processors.registry import ROUTES
from processors.tables import MemoryTable
from producers.journald.entries import raw_envelope
from schemas.envelope import Envelope, event_id
from schemas.events import RestartService, decode_payload
from schemas.events.commands import COMMANDS
from schemas.events.services import (
    EVENTS_SERVICES,
    RAW_JOURNAL,
    RAW_SERVICES,
    HealthCheckObserved,
    JournalEntryObserved,
    ServiceMetricsObserved,
)

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
JOURNAL = next(r for r in ROUTES if r.source == RAW_JOURNAL and r.sink == EVENTS_SERVICES)
HEALTH = next(r for r in ROUTES if r.source == RAW_SERVICES)
_seq = iter(range(1, 10**9))


def jentry(ts: datetime, message: str, **fields: Any) -> Envelope:
    obs = JournalEntryObserved(ts=ts, cursor=f"s=x;i={next(_seq)}", message=message, **fields)
    return raw_envelope("h", obs, ts)


def pid1(ts: datetime, message: str, unit: str, message_id: str | None, **fields: Any) -> Envelope:
    return jentry(
        ts,
        message,
        identifier="systemd",
        pid=1,
        unit="init.scope",
        object_unit=unit,
        message_id=message_id,
        **fields,
    )


def run(route: Any, raws: list[Envelope], table: MemoryTable | None = None) -> list[Envelope]:
    table = table if table is not None else MemoryTable()
    return [out for raw in raws for out in route.handle(raw.to_json(), table)]


def payloads(outs: list[Envelope]) -> list[tuple[str, dict[str, Any]]]:
    return [(o.type, o.payload) for o in outs]


def test_lifecycle_by_message_id_with_exit_status_on_failure() -> None:
    outs = run(
        JOURNAL,
        [
            pid1(
                T0,
                "Started nginx.service.",
                "nginx.service",
                services.UNIT_STARTED,
                job_type="start",
                job_result="done",
            ),
            pid1(T0, "Reloaded nginx.service.", "nginx.service", services.UNIT_RELOADED, job_result="done"),
            pid1(
                T0,
                "nginx.service: Main process exited, code=exited, status=1/FAILURE",
                "nginx.service",
                services.UNIT_PROCESS_EXIT,
                exit_code="exited",
                exit_status="1",
            ),
            pid1(
                T0,
                "nginx.service: Failed with result 'exit-code'.",
                "nginx.service",
                services.UNIT_RESULT,
                unit_result="exit-code",
            ),
            pid1(T0, "restart", "nginx.service", services.UNIT_RESTART_SCHEDULED, n_restarts=4),
            pid1(T0, "oom", "nginx.service", services.UNIT_OUT_OF_MEMORY),
            pid1(T0, "Stopped nginx.service.", "nginx.service", services.UNIT_STOPPED),
        ],
    )
    types = [o.type for o in outs]
    assert types == [
        "ServiceStarted",
        "ServiceReloaded",
        "ServiceFailed",
        "ServiceRestartScheduled",
        "ServiceOOMKilled",
        "ServiceStopped",
    ]
    failed = outs[2].payload
    assert (failed["result"], failed["exit_code"], failed["exit_status"]) == ("exit-code", "exited", "1")
    assert outs[3].payload["counter"] == 4
    assert all(o.subject == "nginx.service" and o.key == "h/nginx.service" for o in outs)
    for o in outs:  # every output decodes as its registered type
        decode_payload(o.type, o.schema_version, o.payload)


def test_lifecycle_from_text_without_message_id_and_kernel_oom() -> None:
    outs = run(
        JOURNAL,
        [
            pid1(T0, "foo.service: Main process exited, code=killed, status=9/KILL", "foo.service", None),
            pid1(T0, "foo.service: Failed with result 'signal'.", "foo.service", None),
            pid1(T0, "foo.service: Scheduled restart job, restart counter is at 2.", "foo.service", None),
            jentry(
                T0,
                "Memory cgroup out of memory: oom-kill:constraint=CONSTRAINT_MEMCG,task_memcg=/system.slice/"
                "postgresql.service,task=postgres,pid=4321,uid=110",
                transport="kernel",
                priority=3,
            ),
        ],
    )
    assert payloads(outs)[0][0] == "ServiceFailed"
    assert outs[0].payload["result"] == "signal" and outs[0].payload["exit_status"] == "9/KILL"
    assert outs[1].payload["counter"] == 2
    assert (outs[2].type, outs[2].payload["unit"], outs[2].payload["pid"]) == (
        "ServiceOOMKilled",
        "postgresql.service",
        4321,
    )


def test_failure_alert_after_n_failures_in_the_window_once() -> None:
    raws = [
        pid1(
            T0 + timedelta(minutes=2 * i),
            "failed",
            "db.service",
            services.UNIT_RESULT,
            unit_result="exit-code",
        )
        for i in range(8)
    ]
    outs = run(JOURNAL, raws)
    alerts = [o for o in outs if o.type == "ServiceFailureAlert"]
    # a failure every 2 min: alert at the 3rd (+4 min); the next alert only a window later (+14 min)
    assert len(alerts) == 2
    assert alerts[0].payload["failures"] == services.FAILURE_THRESHOLD
    assert [a.ts for a in alerts] == [T0 + timedelta(minutes=4), T0 + timedelta(minutes=14)]


def test_spread_out_failures_raise_no_alert() -> None:
    raws = [
        pid1(
            T0 + timedelta(minutes=6 * i),
            "failed",
            "db.service",
            services.UNIT_RESULT,
            unit_result="exit-code",
        )
        for i in range(5)
    ]
    assert not [o for o in run(JOURNAL, raws) if o.type == "ServiceFailureAlert"]


def test_flapping_after_many_starts() -> None:
    raws = [
        pid1(
            T0 + timedelta(seconds=30 * i), "Started", "app.service", services.UNIT_STARTED, job_result="done"
        )
        for i in range(services.FLAP_THRESHOLD)
    ]
    outs = run(JOURNAL, raws)
    flaps = [o for o in outs if o.type == "ServiceFlapping"]
    assert len(flaps) == 1 and flaps[0].payload["starts"] == services.FLAP_THRESHOLD


def test_errors_and_warnings_by_priority_and_words() -> None:
    raws = [
        jentry(T0, "plain info", unit="nginx.service", priority=6),
        jentry(T0, "prio 3", unit="nginx.service", priority=3),
        jentry(T0, "prio 4", unit="nginx.service", priority=4),
        jentry(T0, "2026/05/01 [error] 7#0: open() failed", unit="nginx.service", priority=6),
        jentry(T0, "WARNING: low disk", unit="nginx.service", priority=6),
        jentry(T0, "an error: from a scope", unit=None, identifier="bash", priority=3),
    ]
    outs = run(JOURNAL, raws)
    assert [(o.payload["message"], o.payload["level"]) for o in outs] == [
        ("prio 3", "error"),
        ("prio 4", "warning"),
        ("2026/05/01 [error] 7#0: open() failed", "error"),
        ("WARNING: low disk", "warning"),
    ]


def test_a_log_storm_is_rate_limited_to_one_node_per_minute() -> None:
    # 3000 errors over 3 minutes (1000 per minute), then one more in minute 4
    raws = [
        jentry(T0 + timedelta(seconds=i * 0.06), f"ERROR request {i} failed", unit="api.service", priority=3)
        for i in range(3000)
    ]
    raws.append(jentry(T0 + timedelta(minutes=4), "ERROR last", unit="api.service", priority=3))
    outs = run(JOURNAL, raws)
    plain = [o for o in outs if o.payload["suppressed"] == 0]
    summary = [o for o in outs if o.payload["suppressed"] > 0]
    assert len(plain) == 3 * services.LOG_LIMIT + 1
    # per minute: emitted at 1, 10, 100, and final (980) when the next minute starts: 3 ids in all
    ids = {o.id for o in summary}
    assert len(ids) == 3
    finals = {}
    for o in summary:
        finals[o.id] = o.payload["suppressed"]
    assert sorted(finals.values()) == [1000 - services.LOG_LIMIT] * 3
    assert len(outs) < 3 * services.LOG_LIMIT + 20


def test_a_redelivered_entry_repeats_its_decision_without_counting_twice() -> None:
    table = MemoryTable()
    raws = [
        pid1(T0 + timedelta(minutes=i), "failed", "db.service", services.UNIT_RESULT, unit_result="exit-code")
        for i in range(2)
    ]
    first = run(JOURNAL, raws, table)
    again = run(JOURNAL, raws[-1:], table)
    assert again == first[-1:]
    third = run(JOURNAL, [pid1(T0 + timedelta(minutes=2), "f", "db.service", services.UNIT_RESULT)], table)
    assert [o.type for o in third] == ["ServiceFailed", "ServiceFailureAlert"]


def metrics(ts: datetime, cpu: float, rss: int) -> Envelope:
    obs = ServiceMetricsObserved(
        ts=ts, unit="postgresql.service", cpu_percent=cpu, rss_bytes=rss, processes=3
    )
    return Envelope(
        id=event_id("raw", ts.isoformat()),
        type=obs.TYPE,
        schema_version=1,
        host="h",
        source="t",
        ts=ts,
        observed_at=ts,
        subject=obs.unit,
        payload=obs.model_dump(mode="json"),
    )


def test_metrics_are_downsampled_to_one_event_id_per_minute() -> None:
    raws = [metrics(T0 + timedelta(seconds=15 * i), cpu=10.0 * i, rss=1000 + i) for i in range(8)]
    outs = run(HEALTH, raws)
    by_id: dict[str, dict[str, Any]] = {}
    for o in outs:
        by_id[o.id] = o.payload
    assert len(by_id) == 2  # two minutes
    first = by_id[outs[0].id]
    assert (first["samples"], first["cpu_percent"], first["rss_bytes"]) == (4, 30.0, 1003)
    assert len(outs) == 3  # minute 1 at its start and final, minute 2 at its start


def health(ts: datetime, healthy: bool, **kw: Any) -> Envelope:
    obs = HealthCheckObserved(
        ts=ts, check="web", unit="nginx.service", kind="http", healthy=healthy, detail="HTTP 503", **kw
    )
    return Envelope(
        id=event_id("raw", "health", ts.isoformat()),
        type=obs.TYPE,
        schema_version=1,
        host="h",
        source="t",
        ts=ts,
        observed_at=ts,
        subject=obs.unit,
        payload=obs.model_dump(mode="json"),
    )


def test_health_changes_only_on_transitions() -> None:
    outs = run(
        HEALTH,
        [
            health(T0, True),
            health(T0 + timedelta(seconds=30), True),
            health(T0 + timedelta(seconds=60), False),
            health(T0 + timedelta(seconds=90), True),
        ],
    )
    assert [(o.payload["status"], o.payload["previous"]) for o in outs] == [
        ("healthy", None),
        ("unhealthy", "healthy"),
        ("healthy", "unhealthy"),
    ]


def test_auto_restart_issues_commands_within_limits_and_audits_suppression() -> None:
    policy = {"auto_restart": True, "max_restarts": 2, "window_minutes": 30, "cooldown_seconds": 60}
    raws = [health(T0 + timedelta(seconds=30 * i), False, **policy) for i in range(12)]
    outs = run(HEALTH, raws)
    commands = [o for o in outs if o.type == RestartService.TYPE]
    issued = [o for o in outs if o.type == "AutoRestartIssued"]
    suppressed = [o for o in outs if o.type == "AutoRestartSuppressed"]
    # at 0 s and 60 s (cooldown skips 30 s); then the limit: one suppression audit for the window
    assert [c.ts for c in commands] == [T0, T0 + timedelta(seconds=60)]
    assert all(JOURNAL.sink_for(c) == COMMANDS for c in commands)
    assert [i.payload["command_id"] for i in issued] == [c.id for c in commands]
    assert (
        commands[0].payload["unit"] == "nginx.service"
        and commands[0].payload["issued_by"] == "policy:auto-restart"
    )
    assert len(suppressed) == 1 and "limit" in suppressed[0].payload["reason"]
    # a command's id comes from the observation: deciding again gives the same command
    assert run(HEALTH, raws[:1])[1].id == commands[0].id


def test_no_restart_without_auto_restart() -> None:
    outs = run(HEALTH, [health(T0, False), health(T0 + timedelta(minutes=5), False)])
    assert [o.type for o in outs] == ["ServiceHealthChanged"]
