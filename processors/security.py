"""Decide security events from journal entries: logins, sudo and su (pure: no I/O, no clock).

sshd tells one failed attempt in several lines (a PAM "authentication failure", "Invalid user",
"Failed password ... from IP port P"), all from the connection's process. They are folded into ONE
LoginFailed: the first line opens an attempt for that pid (state in the table), later lines re-emit
the event under the same id with the fields they add, and sshd's "Failed <method>" line closes it,
so the next attempt on the same connection is a new event. Failed logins per source IP therefore
count attempts, not lines.

Storms (a brute-force run, a script retrying sudo) are bounded with processors.storms: per source (the
remote address of a login, the user of a sudo refusal) and minute the first FAILURE_LIMIT failures are
their own events; the rest are counted into one AuthFailuresAggregated per source and minute (id from
source and minute). It is emitted at its first failure, then brought up to date by the next line of
the same partition (host/unit) FLUSH_EVERY after its last emission or in a later minute: the count in
the graph is exact once the minute is over and a later line came, and at most FLUSH_EVERY behind
before; the events are bounded by sources x minutes, not by lines. BRUTE_FORCE_THRESHOLD failed
logins from one address within BRUTE_FORCE_WINDOW raise one BruteForceDetected alert per window.
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
from schemas.events.security import (
    EVENTS_SECURITY,
    AuthFailuresAggregated,
    BruteForceDetected,
    LoginFailed,
    LoginSucceeded,
    SecurityEvent,
    SudoCommandRun,
    SuUsed,
)
from schemas.events.services import RAW_JOURNAL, JournalEntryObserved

SOURCE = "processors.security"
# Lines of one attempt arrive within moments; an older open attempt of a (reused) pid is another one.
ATTEMPT_SLACK = timedelta(seconds=30)
FAILURE_LIMIT = 5  # failures per source and minute with their own event; the rest are aggregated
USERS_SAMPLE = 10  # user names an aggregate or an alert lists (attackers choose them: bounded)
# A growing aggregate is re-emitted with its count at most this often (by the next line of its unit):
# the domain topic gets ~8 records per source and minute of a storm, the graph one node.
FLUSH_EVERY = timedelta(seconds=10)
BRUTE_FORCE_THRESHOLD = 20
BRUTE_FORCE_WINDOW = timedelta(minutes=5)
# A source's state is dropped after this long without failures (it outlives the alert window).
SOURCE_IDLE = BRUTE_FORCE_WINDOW + timedelta(minutes=1)

_IP = r"(?P<ip>[0-9A-Fa-f:.]+)"
_SSH_FAILED = re.compile(
    rf"^Failed (?P<method>\S+) for (?P<invalid>invalid user )?(?P<user>.*?) from {_IP} port (?P<port>\d+)"
)
_SSH_INVALID = re.compile(rf"^Invalid user (?P<user>.*?) from {_IP}(?: port (?P<port>\d+))?")
_SSH_ACCEPTED = re.compile(rf"^Accepted (?P<method>\S+) for (?P<user>\S+) from {_IP} port (?P<port>\d+)")
_PAM_FAILURE = re.compile(r"^pam_unix\((?P<service>[^:]+):auth\): authentication failure;(?P<rest>.*)$")
_PAM_KV = re.compile(r"(\w+)=(\S*)")
_LOGIN_FAILED = re.compile(
    r"^FAILED LOGIN \(?\d+\)? (?:ON|FROM) '?(?P<tty>[^' ]+)'? FOR '?(?P<user>[^',]+)'?, (?P<why>.*)$"
)
_SU = re.compile(r"^(?P<failed>FAILED SU )?\(to (?P<target>[^)]+)\) (?P<user>\S+) on (?P<tty>\S+)")
_SUDO = re.compile(r"^\s*(?P<user>\S+) : (?P<rest>.*)$")

_SSH = frozenset({"sshd", "sshd-session"})


class _Storms:
    """The partition's index of failure sources (loaded once per line, written back only if changed):
    `pending` aggregates whose last count is not emitted yet (key -> time of their last emission) and
    `active` sources (key -> minute of their last failure), pruned after SOURCE_IDLE."""

    def __init__(self, raw: Envelope, table: Table) -> None:
        self.raw, self.table = raw, table
        self.key = f"storms/{raw.host}/{raw.subject}"
        self.idx: dict[str, Any] = table.get(self.key) or {"pending": {}, "active": {}, "pruned": ""}
        self.dirty = False

    def save(self) -> None:
        if self.dirty:
            self.table.set(self.key, self.idx)

    def flush(self) -> list[Envelope]:
        """Bring aggregates up to date that were last emitted FLUSH_EVERY ago, or whose minute is over;
        drop idle sources."""
        raw, table = self.raw, self.table
        out: list[Envelope] = []
        minute = storms.minute_of(raw.ts)
        pending: dict[str, str] = self.idx["pending"]
        due = self.idx.get("due")
        # Most lines find nothing due: one comparison instead of a look at every pending source.
        if pending and (due is None or raw.ts >= storms.parse(due)):
            for skey, since in list(pending.items()):
                if raw.ts >= _due(storms.parse(since)):
                    st = table.get(skey)
                    storm = st.get("storm") if st else None
                    if st is not None and storm and storm.get("emitted") != storm["suppressed"]:
                        out.append(_aggregate(raw, storm))
                        table.set(skey, st)
                    del pending[skey]
            self.idx["due"] = (
                storms.iso(min(_due(storms.parse(t)) for t in pending.values())) if pending else None
            )
            self.dirty = True
        if self.idx["pruned"] != storms.iso(minute):
            active: dict[str, str] = self.idx["active"]
            for skey, last in list(active.items()):
                if raw.ts - storms.parse(last) >= SOURCE_IDLE:
                    table.delete(skey)
                    del active[skey]
                    pending.pop(skey, None)
            self.idx["pruned"] = storms.iso(minute)
            self.dirty = True
        return out

    def count(
        self, obs: JournalEntryObserved, kind: str, source_ip: str | None, user: str | None, service: str
    ) -> tuple[bool, list[Envelope]]:
        """Count one failure of its source: (whether it gets its own event, the events it causes)."""
        raw, table = self.raw, self.table
        src = source_ip or f"user:{user or '?'}"
        skey = f"storm/{raw.host}/{raw.subject}/{kind}/{src}"
        st: dict[str, Any] = table.get(skey) or {}
        adm = storms.admit(
            st.get("storm"),
            raw.ts,
            FAILURE_LIMIT,
            lambda minute: event_id("security", "storm", raw.host, kind, src, minute),
        )
        out: list[Envelope] = []
        closed = adm.closed
        if closed is not None and closed.get("emitted") != closed["suppressed"]:
            out.append(_aggregate(raw, closed))  # the closed minute's final count
        storm = adm.storm
        users: list[str] = st.setdefault("users", [])
        if user and user not in users and len(users) < USERS_SAMPLE:
            users.append(user)
        if not adm.passed:
            if storm["suppressed"] == 1:
                storm.update(kind=kind, source_ip=source_ip, service=service, unit=obs.unit, users=[])
                storm["user"] = user if kind == "sudo" else None
            if user and user not in storm["users"] and len(storm["users"]) < USERS_SAMPLE:
                storm["users"].append(user)
            if storm["suppressed"] == 1:
                out.append(_aggregate(raw, storm))  # the aggregate shows at once
            elif skey not in self.idx["pending"]:
                # pending since its last emission (the first failure's time stands in for it)
                since = storm.get("emitted_at") or storms.iso(raw.ts)
                self.idx["pending"][skey] = since
                due = self.idx.get("due")
                if due is None or _due(storms.parse(since)) < storms.parse(due):
                    self.idx["due"] = storms.iso(_due(storms.parse(since)))
                self.dirty = True
        st["storm"] = storm
        if kind == "login" and source_ip:
            n = storms.window_alert(
                st, "failures", raw.ts, BRUTE_FORCE_WINDOW, BRUTE_FORCE_THRESHOLD, keep=BRUTE_FORCE_THRESHOLD
            )
            if n is not None:
                minutes = int(BRUTE_FORCE_WINDOW.total_seconds() // 60)
                alert = BruteForceDetected(
                    service=service,
                    unit=obs.unit,
                    source_ip=source_ip,
                    failures=n,
                    window_minutes=minutes,
                    users=tuple(users),
                    message=f"{n} failed logins from {source_ip} within {minutes} min "
                    f"(users tried: {', '.join(users) or '?'})",
                )
                out.append(_envelope(raw, alert, event_id("security", raw.id, "brute-force"), source_ip))
        table.set(skey, st)
        minute = storms.iso(storms.minute_of(raw.ts))
        if self.idx["active"].get(skey) != minute:
            self.idx["active"][skey] = minute
            self.dirty = True
        return adm.passed, out


def _envelope(raw: Envelope, payload: SecurityEvent, eid: str, subject: str) -> Envelope:
    return Envelope(
        id=eid,
        type=payload.TYPE,
        schema_version=payload.VERSION,
        host=raw.host,
        source=SOURCE,
        ts=raw.ts,
        observed_at=raw.observed_at,
        subject=subject,
        causation_id=raw.id,
        correlation_id=raw.correlation_id,
        payload=payload.model_dump(mode="json"),
    )


def _due(since: datetime) -> datetime:
    """When an aggregate emitted at `since` is to be brought up to date: FLUSH_EVERY later, or when
    its minute is over, whichever comes first."""
    return min(since + FLUSH_EVERY, storms.minute_of(since) + timedelta(minutes=1))


def _aggregate(raw: Envelope, storm: dict[str, Any]) -> Envelope:
    """The aggregate of one source's storm minute with its count so far (recorded as emitted)."""
    storm["emitted"] = storm["suppressed"]
    storm["emitted_at"] = storms.iso(raw.ts)
    payload = AuthFailuresAggregated(
        service=storm["service"],
        unit=storm["unit"],
        kind=storm["kind"],
        source_ip=storm["source_ip"],
        user=storm["user"],
        users=tuple(storm["users"]),
        minute=storms.parse(storm["minute"]),
        count=storm["suppressed"],
        limit=FAILURE_LIMIT,
    )
    subject = storm["source_ip"] or storm["user"] or "unknown"
    env = _envelope(raw, payload, storm["sid"], subject)
    return env.model_copy(update={"ts": storms.parse(storm["first_suppressed"])})


def program(obs: JournalEntryObserved) -> str | None:
    return obs.identifier or obs.comm


def parse_sudo(message: str) -> dict[str, Any] | None:
    """`alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/apt update`; refusals put a
    reason first (`3 incorrect password attempts ; ...`, `user NOT in sudoers ; ...`)."""
    m = _SUDO.match(message)
    if m is None or ("COMMAND=" not in m["rest"] and "USER=" not in m["rest"]):
        return None
    rest = m["rest"]
    command = None
    if "COMMAND=" in rest:
        # the command is last and may itself contain " ; "
        rest, command = rest.split("COMMAND=", 1)
    fields: dict[str, str] = {}
    reasons: list[str] = []
    for part in (p.strip() for p in rest.split(" ; ")):
        if not part:
            continue
        k, sep, v = part.partition("=")
        if sep and k.isupper():
            fields[k] = v
        else:
            reasons.append(part)
    return {
        "user": m["user"],
        "target_user": fields.get("USER"),
        "command": command.strip() if command else None,
        "cwd": fields.get("PWD"),
        "tty": fields.get("TTY"),
        "allowed": not reasons,
        "reason": "; ".join(reasons),
    }


def _attempt(
    raw: Envelope,
    obs: JournalEntryObserved,
    table: Table,
    st: _Storms,
    fields: dict[str, Any],
    *,
    close: bool,
) -> list[Envelope]:
    """Fold one sshd/PAM line into the open failed attempt of its process (or open a new one)."""
    # One key per host holding the open attempts by pid, pruned as they age: pids are many and reused.
    key = f"attempts/{raw.host}/{raw.subject}"
    attempts: dict[str, dict[str, Any]] = table.get(key) or {}
    attempts = {
        pid: a for pid, a in attempts.items() if raw.ts - datetime.fromisoformat(a["ts"]) <= ATTEMPT_SLACK
    }
    open_: dict[str, Any] | None = attempts.get(str(obs.pid))
    if open_ is not None and raw.ts - datetime.fromisoformat(open_["ts"]) > ATTEMPT_SLACK:
        open_ = None
    out: list[Envelope] = []
    if open_ is None:
        open_ = {"id": event_id("security", raw.id), "ts": raw.ts.isoformat(), "fields": {}}
        # An attempt counts once, when it opens; past the source's limit it lives only in the aggregate.
        passed, out = st.count(
            obs, "login", fields.get("source_ip"), fields.get("user"), program(obs) or "sshd"
        )
        if not passed:
            open_["aggregated"] = True
    merged = dict(open_["fields"])
    for k, v in fields.items():
        if v is not None and (k not in merged or merged[k] in (None, "", False)):
            merged[k] = v
    open_["fields"] = merged
    if close:
        attempts.pop(str(obs.pid), None)
    else:
        attempts[str(obs.pid)] = open_
    table.set(key, attempts)
    if open_.get("aggregated"):
        return out
    payload = LoginFailed(service=program(obs) or "sshd", unit=obs.unit, **merged)
    env = _envelope(raw, payload, open_["id"], payload.user or "unknown")
    # The attempt's time is its first line's.
    return [env.model_copy(update={"ts": datetime.fromisoformat(open_["ts"])}), *out]


def _failure(
    raw: Envelope,
    obs: JournalEntryObserved,
    st: _Storms,
    event: SecurityEvent,
    kind: str,
    source_ip: str | None,
    user: str | None,
) -> list[Envelope]:
    """One failure told in one line (PAM, login, sudo): its own event unless past its source's limit."""
    passed, out = st.count(obs, kind, source_ip, user, event.service)
    if not passed:
        return out
    return [_envelope(raw, event, event_id("security", raw.id), user or "unknown"), *out]


def _decide(raw: Envelope, obs: JournalEntryObserved, table: Table, st: _Storms) -> list[Envelope]:
    prog = program(obs)
    msg = obs.message
    eid = event_id("security", raw.id)
    if prog in _SSH:
        if m := _SSH_FAILED.match(msg):
            fields = {
                "user": m["user"],
                "source_ip": m["ip"],
                "port": int(m["port"]),
                "method": m["method"],
                "invalid_user": bool(m["invalid"]),
                "reason": f"failed {m['method']}",
            }
            return _attempt(raw, obs, table, st, fields, close=True)
        if m := _SSH_INVALID.match(msg):
            fields = {
                "user": m["user"],
                "source_ip": m["ip"],
                "port": int(m["port"]) if m["port"] else None,
                "invalid_user": True,
                "reason": "invalid user",
            }
            return _attempt(raw, obs, table, st, fields, close=False)
        if m := _SSH_ACCEPTED.match(msg):
            ok = LoginSucceeded(
                service=prog,
                unit=obs.unit,
                user=m["user"],
                source_ip=m["ip"],
                port=int(m["port"]),
                method=m["method"],
            )
            return [_envelope(raw, ok, eid, ok.user)]
    if m := _PAM_FAILURE.match(msg):
        kv = dict(_PAM_KV.findall(m["rest"]))
        fields = {
            "user": kv.get("user") or None,
            "source_ip": kv.get("rhost") or None,
            "reason": "authentication failure (pam)",
        }
        if m["service"] in _SSH:
            return _attempt(raw, obs, table, st, fields, close=False)
        if m["service"] in ("sudo", "su"):
            return []  # sudo and su report their own refusals below
        failed = LoginFailed(service=m["service"], unit=obs.unit, **fields)
        return _failure(raw, obs, st, failed, "login", failed.source_ip, failed.user)
    if prog == "login" and (m := _LOGIN_FAILED.match(msg)):
        failed = LoginFailed(service="login", unit=obs.unit, user=m["user"], reason=m["why"])
        return _failure(raw, obs, st, failed, "login", None, failed.user)
    if prog == "sudo" and (sudo_fields := parse_sudo(msg)) is not None:
        sudo = SudoCommandRun(service="sudo", unit=obs.unit, **sudo_fields)
        if not sudo.allowed:
            return _failure(raw, obs, st, sudo, "sudo", None, sudo.user)
        return [_envelope(raw, sudo, eid, sudo.user)]
    if prog == "su" and (m := _SU.match(msg)):
        su = SuUsed(
            service="su",
            unit=obs.unit,
            user=m["user"],
            target_user=m["target"],
            tty=m["tty"],
            success=not m["failed"],
        )
        return [_envelope(raw, su, eid, su.target_user)]
    return []


def _stateful(obs: JournalEntryObserved) -> bool:
    """Whether the entry may count a failure or close an attempt (else it is decided from itself alone)."""
    prog = program(obs)
    return prog in _SSH or prog in ("sudo", "login") or obs.message.startswith("pam_unix(")


def decide(raw: Envelope, obs: JournalEntryObserved, table: Table) -> list[Envelope]:
    """The security events of one journal entry: a login, sudo, su, a failure, an aggregate, an alert."""
    if obs.object_unit is not None or obs.transport == "kernel":
        return []  # the service manager's and the kernel's messages are not about logins
    if not _stateful(obs):
        return _decide(raw, obs, table, _Storms(raw, table))  # a function of the entry alone
    # Attempts and storms are state: remember the decisions, keyed like the partition (host/unit), so a
    # re-delivered line repeats its decision instead of counting it again.
    key = f"{raw.host}/{raw.subject}"
    again = recall(table, key, raw.id)
    if again is not None:
        return again
    st = _Storms(raw, table)
    out = st.flush()
    out += _decide(raw, obs, table, st)
    st.save()
    return remember(table, key, raw.id, out)


# Which raw event types this domain decides, and where the decisions go (processors/registry.py collects it).
ROUTES: tuple[Route, ...] = (
    Route(
        name=SOURCE,
        source=RAW_JOURNAL,
        sink=EVENTS_SECURITY,
        table="security",
        decide={JournalEntryObserved.TYPE: typed(JournalEntryObserved, decide)},
    ),
)
