"""Decide service events from journal entries, metrics samples and health results (pure: no I/O, no clock).

- Journal: the service manager's messages about units (by their catalog MESSAGE_ID, or their text on
  systems that write none) become Started/Finished/Stopped/Reloaded/Failed/RestartScheduled/OOMKilled; a
  failure carries the result and the exit status of the main process, which systemd logs one message
  earlier. The unit's type decides what a done start job means: only services and scopes start and stop
  (a target reached, a slice created, a socket listening, a mount mounted are not services that started);
  a oneshot service's "Finished X." is ServiceFinished; a start skipped on a condition is nothing. Every
  unit type can fail: "Failed with result", or a start job's own failure ("Failed to start X.",
  "Dependency failed for X.") when the unit told none just before it.
  Errors and warnings a service logs (priority <= 4, or an ERROR/WARN word) become ServiceLogged, at most
  LOG_LIMIT per service and minute; the rest of that minute is one ServiceLogged with `suppressed` = K,
  re-emitted under its id as K grows (at 1, 10, 100, ...) and once final, so a storm costs one node.
- Windows in the unit's state: FAILURE_THRESHOLD failures within FAILURE_WINDOW raise one
  ServiceFailureAlert; FLAP_THRESHOLD starts within FLAP_WINDOW raise one ServiceFlapping (once per window).
- Metrics: samples are downsampled to one ServiceMetricsSampled per unit and minute (max CPU, max RSS,
  last IO counters): emitted at the minute's first sample and again, final, when the next minute begins.
- Health: a change of a check's status is a ServiceHealthChanged. The auto-restart policy: while a unit
  with auto_restart is unhealthy, issue a RestartService command (to the command topic) plus an
  AutoRestartIssued audit event, at most max_restarts per window and not within cooldown of the last;
  past the limit, one AutoRestartSuppressed audit event per window says why.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from processors import storms
from processors.memo import recall, remember
from processors.routing import Route, typed
from processors.tables import Table
from schemas.envelope import Envelope, event_id
from schemas.events import RestartService, command_envelope
from schemas.events.services import (
    EVENTS_SERVICES,
    PROCESS_UNIT_TYPES,
    RAW_JOURNAL,
    RAW_SERVICES,
    AutoRestartIssued,
    AutoRestartSuppressed,
    HealthCheckObserved,
    JournalEntryObserved,
    ServiceEvent,
    ServiceFailed,
    ServiceFailureAlert,
    ServiceFinished,
    ServiceFlapping,
    ServiceHealthChanged,
    ServiceLogged,
    ServiceMetricsObserved,
    ServiceMetricsSampled,
    ServiceOOMKilled,
    ServiceReloaded,
    ServiceRestartScheduled,
    ServiceStarted,
    ServiceStateObserved,
    ServiceStopped,
    UnitStateObserved,
    unit_type,
)
from schemas.journal import ERROR_WORDS, WARN_WORDS

SOURCE = "processors.services"
HEALTH_SOURCE = "processors.services.health"

# systemd's catalog ids of the service manager's messages about units (sd-messages.h).
UNIT_STARTED = "39f53479d3a045ac8e11786248231fbf"  # a start job done: also targets reached, skips
UNIT_FAILED = "be02cf6855d2428ba40df7e9d022f03d"  # a start job failed: "Failed to start X."
UNIT_STOPPED = "9d1aaa27d60140bd96365438aad20286"
UNIT_RELOADED = "7b05ebc668384222baa8881179cfda54"
UNIT_RESULT = "d9b373ed55a64feb8242e02dbe79a49c"
UNIT_PROCESS_EXIT = "98e322203f7a4ed290d09fe03c09fe15"
UNIT_RESTART_SCHEDULED = "5eb03494b6584870a536b337290809b3"
UNIT_OUT_OF_MEMORY = "fe6faa94e7774663a0da52717891d8ef"

LOG_LIMIT = 20  # ServiceLogged per service and minute before suppression
FAILURE_THRESHOLD = 3
FAILURE_WINDOW = timedelta(minutes=10)
FLAP_THRESHOLD = 5
FLAP_WINDOW = timedelta(minutes=10)

# A start job that was done without running anything (systemd >= 250 names the condition; older: generic).
_SKIPPED_TEXT = re.compile(
    r" was skipped because (?:of an unmet condition check|no trigger condition checks were met)"
    r"|^Condition check resulted in .* being skipped\.?$"
)
_JOB_FAILED_TEXT = {
    "Failed to start ": "failed",
    "Dependency failed for ": "dependency",
    "Timed out starting ": "timeout",
    "Assertion failed for ": "assert",
}
# Start-job results that are not failures of the unit (a job merged away or cancelled).
_NOT_FAILURES = frozenset({"done", "canceled", "collected", "skipped"})
# A start job's failure right after the unit's own "Failed with result" is the same failure told twice.
FAILURE_RETOLD = timedelta(seconds=60)
_FAILED_TEXT = re.compile(r"^(?P<unit>\S+?): Failed with result '(?P<result>[^']+)'")
_EXIT_TEXT = re.compile(
    r"^(?P<unit>\S+?): Main process exited, code=(?P<code>[\w-]+), status=(?P<status>\S+)"
)
_RESTART_TEXT = re.compile(r"^(?P<unit>\S+?): Scheduled restart job, restart counter is at (?P<n>\d+)")
_OOM_KERNEL = re.compile(r"oom-kill:.*task_memcg=(?P<cg>[^,\s]+).*?(?:pid=(?P<pid>\d+))?")
_OOM_PID = re.compile(r"\bpid=(\d+)")


_iso = storms.iso
_ts = storms.parse


def unit_key(host: str, unit: str) -> str:
    return f"{host}/{unit}"


def envelope(raw: Envelope, payload: ServiceEvent, eid: str, *, ts: datetime | None = None) -> Envelope:
    return Envelope(
        id=eid,
        type=payload.TYPE,
        schema_version=payload.VERSION,
        host=raw.host,
        source=SOURCE,
        ts=ts or raw.ts,
        observed_at=raw.observed_at,
        subject=payload.unit,
        causation_id=raw.id,
        correlation_id=raw.correlation_id,
        payload=payload.model_dump(mode="json"),
    )


# -- journal ----------------------------------------------------------------------------------------


def _start_done(unit: str, message: str, job_type: str | None) -> tuple[str, str, dict[str, Any]] | None:
    """A start job that finished: a skip, a oneshot's end, or a start, by the unit's type and the text."""
    if _SKIPPED_TEXT.search(message):
        return None  # the unit never ran
    kind = unit_type(unit) or "service"
    if kind not in PROCESS_UNIT_TYPES:
        return None  # "Reached target", "Created slice", "Listening on", "Mounted": nothing started running
    if kind == "service" and message.startswith("Finished "):
        return "finished", unit, {}
    return "started", unit, {"job_type": job_type}


def _lifecycle(obs: JournalEntryObserved) -> tuple[str, str, dict[str, Any]] | None:
    """(kind, unit, details) of a service-manager message about a unit, else None."""
    mid, unit, msg = obs.message_id, obs.object_unit, obs.message
    if unit is not None and mid is not None:
        if mid == UNIT_STARTED and obs.job_result in (None, "done"):
            return _start_done(unit, msg, obs.job_type)
        if mid == UNIT_FAILED and obs.job_result not in _NOT_FAILURES:
            return "job-failed", unit, {"result": obs.job_result or "failed"}
        if mid == UNIT_STOPPED:
            return ("stopped", unit, {}) if unit_type(unit) in PROCESS_UNIT_TYPES else None
        if mid == UNIT_RELOADED and obs.job_result in (None, "done"):
            return "reloaded", unit, {}
        if mid == UNIT_RESULT:
            return "failed", unit, {"result": obs.unit_result}
        if mid == UNIT_PROCESS_EXIT:
            return "exit", unit, {"code": obs.exit_code, "status": obs.exit_status}
        if mid == UNIT_RESTART_SCHEDULED:
            return "restart", unit, {"counter": obs.n_restarts}
        if mid == UNIT_OUT_OF_MEMORY:
            return "oom", unit, {}
        return None
    if obs.identifier == "systemd" or obs.pid == 1:
        # Older systemd (or a relayed syslog) writes no MESSAGE_ID: the texts are stable enough.
        if m := _FAILED_TEXT.match(msg):
            return "failed", m["unit"], {"result": m["result"]}
        if m := _EXIT_TEXT.match(msg):
            return "exit", m["unit"], {"code": m["code"], "status": m["status"]}
        if m := _RESTART_TEXT.match(msg):
            return "restart", m["unit"], {"counter": int(m["n"])}
        if unit is not None:
            if _SKIPPED_TEXT.search(msg) or msg.startswith(("Started ", "Finished ")):
                return _start_done(unit, msg, None)
            for prefix, result in _JOB_FAILED_TEXT.items():
                if msg.startswith(prefix):
                    return "job-failed", unit, {"result": result}
            if msg.startswith("Stopped "):
                return ("stopped", unit, {}) if unit_type(unit) in PROCESS_UNIT_TYPES else None
            if msg.startswith("Reloaded "):
                return "reloaded", unit, {}
    if obs.transport == "kernel" and (m := _OOM_KERNEL.search(msg)):
        service = next((p for p in reversed(m["cg"].split("/")) if p.endswith(".service")), None)
        if service is not None:
            pid = _OOM_PID.search(msg)
            return "oom", service, {"pid": int(pid[1]) if pid else None}
    return None


def log_level(obs: JournalEntryObserved) -> str | None:
    """ "error", "warning" or None (not worth a LogEvent)."""
    if obs.priority is not None and obs.priority <= 3:
        return "error"
    if obs.priority == 4:
        return "warning"
    if ERROR_WORDS.search(obs.message):
        return "error"
    if WARN_WORDS.search(obs.message):
        return "warning"
    return None


_trim = storms.trim
_window_alert = storms.window_alert


def _journal_lifecycle(
    raw: Envelope,
    obs: JournalEntryObserved,
    kind: str,
    unit: str,
    info: dict[str, Any],
    state: dict[str, Any],
) -> list[Envelope]:
    ts = raw.ts
    eid = event_id("services", raw.id)
    out: list[Envelope] = []
    if kind == "exit":
        state["exit"] = {"code": info["code"], "status": info["status"]}
        return out
    if kind == "finished":
        out.append(envelope(raw, ServiceFinished(unit=unit, message=obs.message), eid))
        return out
    if kind == "started":
        state.pop("failed_at", None)
        out.append(
            envelope(raw, ServiceStarted(unit=unit, message=obs.message, job_type=info["job_type"]), eid)
        )
        n = _window_alert(state, "starts", ts, FLAP_WINDOW, FLAP_THRESHOLD)
        if n is not None:
            minutes = int(FLAP_WINDOW.total_seconds() // 60)
            flap = ServiceFlapping(
                unit=unit,
                message=f"{unit} started {n} times in {minutes} min",
                starts=n,
                window_minutes=minutes,
            )
            out.append(envelope(raw, flap, event_id("services", raw.id, "flapping")))
    elif kind == "stopped":
        out.append(envelope(raw, ServiceStopped(unit=unit, message=obs.message), eid))
    elif kind == "reloaded":
        out.append(envelope(raw, ServiceReloaded(unit=unit, message=obs.message), eid))
    elif kind == "restart":
        payload = ServiceRestartScheduled(unit=unit, message=obs.message, counter=info["counter"])
        out.append(envelope(raw, payload, eid))
    elif kind == "oom":
        out.append(envelope(raw, ServiceOOMKilled(unit=unit, message=obs.message, pid=info.get("pid")), eid))
    elif kind == "job-failed":
        told = state.get("failed_at")
        if told is not None and ts - _ts(told) <= FAILURE_RETOLD:
            return out  # "Failed to start X." after X's own "Failed with result": one failure
        out += _failed(raw, obs, unit, info["result"], state, eid)
    elif kind == "failed":
        out += _failed(raw, obs, unit, info["result"], state, eid)
    return out


def _failed(
    raw: Envelope, obs: JournalEntryObserved, unit: str, result: str | None, state: dict[str, Any], eid: str
) -> list[Envelope]:
    """One ServiceFailed (with the exit status systemd logged just before, if any) and the failure window."""
    ts = raw.ts
    out: list[Envelope] = []
    state["failed_at"] = _iso(ts)
    exit_ = state.pop("exit", None) or {}
    failed = ServiceFailed(
        unit=unit,
        message=obs.message,
        result=result,
        exit_code=exit_.get("code"),
        exit_status=exit_.get("status"),
    )
    out.append(envelope(raw, failed, eid))
    n = _window_alert(state, "failures", ts, FAILURE_WINDOW, FAILURE_THRESHOLD)
    if n is not None:
        minutes = int(FAILURE_WINDOW.total_seconds() // 60)
        alert = ServiceFailureAlert(
            unit=unit,
            message=f"{unit} failed {n} times in {minutes} min",
            failures=n,
            window_minutes=minutes,
        )
        out.append(envelope(raw, alert, event_id("services", raw.id, "failure-alert")))
    return out


def _suppressed(raw: Envelope, unit: str, log: dict[str, Any]) -> Envelope:
    minute = _ts(log["minute"])
    k = log["suppressed"]
    payload = ServiceLogged(
        unit=unit,
        level="warning" if log.get("level") == "warning" else "error",
        message=f"{k} more error/warning message(s) of {unit} suppressed in this minute (limit {LOG_LIMIT})",
        suppressed=k,
    )
    return envelope(
        raw, payload, log["sid"], ts=_ts(log["first_suppressed"]) if "first_suppressed" in log else minute
    )


def _journal_log(
    raw: Envelope, obs: JournalEntryObserved, unit: str, level: str, state: dict[str, Any]
) -> list[Envelope]:
    out: list[Envelope] = []
    adm = storms.admit(
        state.get("log"),
        raw.ts,
        LOG_LIMIT,
        lambda minute: event_id("services", "suppressed", raw.host, unit, minute),
    )
    if adm.closed is not None:
        out.append(_suppressed(raw, unit, adm.closed))  # the final count of the closed minute
    log = adm.storm
    if adm.passed:
        payload = ServiceLogged(unit=unit, level=level, message=obs.message, priority=obs.priority)
        out.append(envelope(raw, payload, event_id("services", raw.id, "log")))
    else:
        if log["suppressed"] == 1:
            log["level"] = level
        if storms.milestone(log["suppressed"]):
            out.append(_suppressed(raw, unit, log))
    state["log"] = log
    return out


def decide_journal(raw: Envelope, obs: JournalEntryObserved, table: Table) -> list[Envelope]:
    """Service lifecycle events and error/warning logs from one journal entry."""
    found = _lifecycle(obs)
    level: str | None = None
    if found is not None:
        unit = found[1]
    elif obs.unit is not None and obs.object_unit is None and obs.identifier != "systemd":
        unit = obs.unit
        # An ordinary line is decided from itself alone: no state, so no memo to read (most lines).
        level = log_level(obs)
        if level is None:
            return []
    else:
        return []
    key = unit_key(raw.host, unit)
    again = recall(table, key, raw.id)
    if again is not None:
        return again
    state: dict[str, Any] = table.get(key) or {}
    if found is not None:
        out = _journal_lifecycle(raw, obs, found[0], unit, found[2], state)
    else:
        assert level is not None
        out = _journal_log(raw, obs, unit, level, state)
    table.set(key, state)
    return remember(table, key, raw.id, out)


# -- metrics ----------------------------------------------------------------------------------------


def _sampled(raw: Envelope, unit: str, agg: dict[str, Any]) -> Envelope:
    minute = _ts(agg["minute"])
    payload = ServiceMetricsSampled(
        unit=unit,
        minute=minute,
        cpu_percent=agg["cpu"],
        rss_bytes=agg["rss"],
        io_read_bytes=agg["read"],
        io_write_bytes=agg["write"],
        processes=agg["procs"],
        samples=agg["samples"],
        main_pid=agg["pid"],
    )
    return envelope(raw, payload, event_id("services", "metrics", raw.host, unit, agg["minute"]), ts=minute)


def decide_metrics(raw: Envelope, obs: ServiceMetricsObserved, table: Table) -> list[Envelope]:
    key = f"metrics/{unit_key(raw.host, obs.unit)}"
    again = recall(table, key, raw.id)
    if again is not None:
        return again
    minute = obs.ts.replace(second=0, microsecond=0)
    agg: dict[str, Any] | None = table.get(key)
    out: list[Envelope] = []
    if agg is not None and minute <= _ts(agg["minute"]):
        # the same minute (or a late sample): fold it in; the minute's node is final at its end
        agg["cpu"] = max(agg["cpu"], obs.cpu_percent)
        agg["rss"] = max(agg["rss"], obs.rss_bytes)
        agg["read"], agg["write"] = obs.io_read_bytes, obs.io_write_bytes
        agg["procs"], agg["pid"] = obs.processes, obs.main_pid
        agg["samples"] += 1
    else:
        if agg is not None:
            out.append(_sampled(raw, obs.unit, agg))  # the closed minute, final
        agg = {
            "minute": _iso(minute),
            "cpu": obs.cpu_percent,
            "rss": obs.rss_bytes,
            "read": obs.io_read_bytes,
            "write": obs.io_write_bytes,
            "procs": obs.processes,
            "pid": obs.main_pid,
            "samples": 1,
        }
        out.append(_sampled(raw, obs.unit, agg))  # the new minute shows at once
    table.set(key, agg)
    return remember(table, key, raw.id, out)


# -- health and the auto-restart policy --------------------------------------------------------------


def _policy(raw: Envelope, obs: HealthCheckObserved, table: Table) -> list[Envelope]:
    key = f"restarts/{unit_key(raw.host, obs.unit)}"
    state: dict[str, Any] = table.get(key) or {"issued": []}
    ts = obs.ts
    window = timedelta(minutes=obs.window_minutes)
    issued = _trim(state["issued"], ts, window)
    out: list[Envelope] = []
    if issued and ts - _ts(issued[-1]) < timedelta(seconds=obs.cooldown_seconds):
        return out  # a restart was just issued: give it time to take effect
    if len(issued) >= obs.max_restarts:
        last = state.get("suppressed_at")
        if last is None or ts - _ts(last) >= window:
            state["suppressed_at"] = _iso(ts)
            reason = (
                f"limit reached: {len(issued)} restart(s) issued in the last {obs.window_minutes} min "
                f"(max {obs.max_restarts})"
            )
            audit = AutoRestartSuppressed(unit=obs.unit, message=reason, check=obs.check, reason=reason)
            out.append(envelope(raw, audit, event_id("services", raw.id, "restart-suppressed")))
    else:
        cmd = command_envelope(
            RestartService(
                unit=obs.unit,
                issued_by="policy:auto-restart",
                reason=f"health check {obs.check} unhealthy: {obs.detail}"[:500],
            ),
            host=raw.host,
            source=HEALTH_SOURCE,
            issued_at=ts,
            dedup_key=raw.id,
            causation_id=raw.id,
        )
        issued.append(_iso(ts))
        audit_i = AutoRestartIssued(
            unit=obs.unit,
            message=f"restart of {obs.unit} issued: {obs.check} unhealthy ({obs.detail})"[:500],
            check=obs.check,
            command_id=cmd.id,
            restarts_in_window=len(issued),
        )
        out += [cmd, envelope(raw, audit_i, event_id("services", raw.id, "restart-issued"))]
    state["issued"] = issued
    table.set(key, state)
    return out


def decide_health(raw: Envelope, obs: HealthCheckObserved, table: Table) -> list[Envelope]:
    key = f"health/{raw.host}/{obs.check}"
    again = recall(table, key, raw.id)
    if again is not None:
        return again
    prev: dict[str, Any] | None = table.get(key)
    status = "healthy" if obs.healthy else "unhealthy"
    out: list[Envelope] = []
    if prev is None or prev["status"] != status:
        changed = ServiceHealthChanged(
            unit=obs.unit,
            message=f"{obs.check}: {status}" + (f" ({obs.detail})" if obs.detail else ""),
            check=obs.check,
            status=status,
            previous=prev["status"] if prev else None,
        )
        out.append(envelope(raw, changed, event_id("services", raw.id, "health")))
        table.set(key, {"status": status, "since": _iso(obs.ts)})
    if not obs.healthy and obs.auto_restart:
        out += _policy(raw, obs, table)
    return remember(table, key, raw.id, out)


def decide_unit_state(raw: Envelope, obs: UnitStateObserved, table: Table) -> list[Envelope]:
    """The unit inventory: a ServiceStateObserved when the manager reports a state (ActiveState and
    SubState) other than the last one it reported for the unit; a unit no longer loaded is "inactive"."""
    key = f"unitstate/{unit_key(raw.host, obs.unit)}"
    again = recall(table, key, raw.id)
    if again is not None:
        return again
    prev: dict[str, Any] | None = table.get(key)
    state = "inactive" if obs.gone else obs.active_state
    sub = "dead" if obs.gone else obs.sub_state
    out: list[Envelope] = []
    if prev is None or (prev["state"], prev["sub"]) != (state, sub):
        detail = f"{state} ({sub})" + (f", {obs.load_state}" if obs.load_state not in ("", "loaded") else "")
        observed = ServiceStateObserved(
            unit=obs.unit,
            message=("no longer loaded; " if obs.gone else "") + detail,
            state=state,
            sub_state=sub,
            load_state="not-found" if obs.gone else obs.load_state,
            previous=prev["state"] if prev else None,
        )
        out.append(envelope(raw, observed, event_id("services", raw.id, "state")))
        table.set(key, {"state": state, "sub": sub})
    return remember(table, key, raw.id, out)


# Which raw event types this domain decides, and where the decisions go (processors/registry.py collects it).
# The journal feeds two processors (two consumer groups): this one and processors/security.py.
ROUTES: tuple[Route, ...] = (
    Route(
        name=SOURCE,
        source=RAW_JOURNAL,
        sink=EVENTS_SERVICES,
        table="services",
        decide={JournalEntryObserved.TYPE: typed(JournalEntryObserved, decide_journal)},
    ),
    Route(
        name=HEALTH_SOURCE,
        source=RAW_SERVICES,
        sink=EVENTS_SERVICES,
        table="services-health",
        decide={
            ServiceMetricsObserved.TYPE: typed(ServiceMetricsObserved, decide_metrics),
            HealthCheckObserved.TYPE: typed(HealthCheckObserved, decide_health),
            UnitStateObserved.TYPE: typed(UnitStateObserved, decide_unit_state),
        },
    ),
)
