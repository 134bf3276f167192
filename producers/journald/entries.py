"""Turn one journal entry (the dict systemd.journal.Reader returns) into a raw observation (pure).

Entries come from many programs and are not to be trusted: any field may be missing, hold bytes that
are not UTF-8, repeat (the Reader gives a list), or be huge. Every field is decoded leniently and cut
to a bound, so one odd entry can neither crash the producer nor bloat the topics; only an entry
without a cursor or a time (which cannot be placed at all) is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from producers.text import clean
from schemas.envelope import Envelope, event_id
from schemas.events.services import JournalEntryObserved

SOURCE = "journald"
# A log line longer than this is cut: enough for a stack trace's head, not a core dump.
MAX_MESSAGE = 4096
MAX_FIELD = 256


class EntryError(ValueError):
    """The entry cannot be placed (no cursor, no time): it goes to the dead-letter topic."""


def _one(value: Any) -> Any:
    # A field repeated in one entry comes as a list: the first value is the one systemd tools show.
    if isinstance(value, list):
        return value[0] if value else None
    return value


def text(value: Any, limit: int = MAX_FIELD) -> tuple[str | None, bool]:
    """(decoded and bounded text, whether anything was lost)."""
    value = _one(value)
    if value is None:
        return None, False
    lost = False
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        s = raw.decode("utf-8", "replace")
        lost = "\ufffd" in s and b"\xef\xbf\xbd" not in raw
    elif isinstance(value, uuid.UUID):
        s = value.hex
    else:
        s = str(value)
    # NUL and lone surrogates cannot travel in every store; they carry no meaning in a log line.
    if "\x00" in s:
        s, lost = s.replace("\x00", "\ufffd"), True
    s2 = s.encode("utf-8", "replace").decode("utf-8")
    if s2 != s:
        s, lost = s2, True
    if len(s) > limit:
        s, lost = s[:limit], True
    return s, lost


def integer(value: Any) -> int | None:
    value = _one(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("ascii", "replace")
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def timestamp(entry: Mapping[str, Any]) -> datetime:
    """When the entry was written: the source's own time if it gave one, else the journal's."""
    for key in ("_SOURCE_REALTIME_TIMESTAMP", "__REALTIME_TIMESTAMP"):
        v = _one(entry.get(key))
        if isinstance(v, datetime):
            return v if v.tzinfo else v.replace(tzinfo=UTC)
        usec = integer(v)
        if usec is not None and usec > 0:
            return datetime.fromtimestamp(usec / 1_000_000, UTC)
    raise EntryError("entry has no timestamp")


def observe(entry: Mapping[str, Any]) -> JournalEntryObserved:
    cursor, _ = text(entry.get("__CURSOR"), 1024)
    if not cursor:
        raise EntryError("entry has no cursor")
    ts = timestamp(entry)
    lost = False

    def t(key: str, limit: int = MAX_FIELD) -> str | None:
        nonlocal lost
        s, cut = text(entry.get(key), limit)
        lost = lost or cut
        return s

    # A service that colours its output puts terminal escapes in the journal: out before any rule reads it.
    message = clean(t("MESSAGE", MAX_MESSAGE) or "")
    object_unit = t("UNIT") or t("USER_UNIT")
    identifier = t("SYSLOG_IDENTIFIER")
    return JournalEntryObserved(
        ts=ts,
        cursor=cursor,
        message=message,
        priority=integer(entry.get("PRIORITY")),
        # In a user's session the unit that wrote is the user's unit; _SYSTEMD_UNIT is only user@UID.service.
        unit=t("_SYSTEMD_USER_UNIT") or t("_SYSTEMD_UNIT"),
        object_unit=object_unit,
        identifier=identifier,
        pid=integer(entry.get("_PID")) or integer(entry.get("SYSLOG_PID")),
        uid=integer(entry.get("_UID")),
        comm=t("_COMM"),
        transport=t("_TRANSPORT"),
        facility=integer(entry.get("SYSLOG_FACILITY")),
        message_id=(t("MESSAGE_ID") or "").replace("-", "").lower() or None,
        job_type=t("JOB_TYPE"),
        job_result=t("JOB_RESULT"),
        unit_result=t("UNIT_RESULT"),
        exit_code=t("EXIT_CODE"),
        exit_status=t("EXIT_STATUS"),
        n_restarts=integer(entry.get("N_RESTARTS")),
        boot_id=(t("_BOOT_ID") or "").replace("-", "") or None,
        truncated=lost,
    )


def subject(obs: JournalEntryObserved) -> str:
    """The partition key's entity: the unit the entry is about, so one unit's story stays in order."""
    return obs.object_unit or obs.unit or obs.identifier or obs.comm or "journal"


def raw_envelope(host: str, obs: JournalEntryObserved, observed_at: datetime) -> Envelope:
    """The id hashes the journal cursor: reading the entry again (after a crash) gives the same id."""
    return Envelope(
        id=event_id("raw", host, SOURCE, obs.cursor),
        type=obs.TYPE,
        schema_version=obs.VERSION,
        host=host,
        source=SOURCE,
        ts=obs.ts,
        observed_at=observed_at,
        subject=subject(obs),
        payload=obs.model_dump(mode="json"),
    )
