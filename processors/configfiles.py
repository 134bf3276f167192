"""Decide the configfiles domain's events from the config scanner's observations (pure: no I/O, no clock).

The scanner already diffs against its cursor, so most decisions are translations; the table keeps, per
conffile, whether it was last found modified, so a conffile seen unchanged from its package for the first
time decides nothing and a modified one that is put back decides ConffileRestored. Event ids derive from
the raw id: a redelivered observation decides the same events under the same ids.
"""

from __future__ import annotations

from processors.routing import Route, typed
from processors.tables import Table
from schemas.envelope import Envelope, event_id
from schemas.events.base import EventPayload
from schemas.events.configfiles import (
    EVENTS_CONFIGFILES,
    RAW_CONFIGFILES,
    ConffileModified,
    ConffileObserved,
    ConffileRestored,
    ConfigDrifted,
    ConfigDriftObserved,
    ConfigDriftResolved,
    ConfigFileChanged,
    ConfigFileDiscovered,
    ConfigFileObserved,
    ConfigFileRemoved,
    ConfigInvalid,
    ConfigValidated,
    ConfigValidationObserved,
)

SOURCE = "processors.configfiles"


def _event(raw: Envelope, payload: EventPayload, subject: str) -> Envelope:
    return Envelope(
        id=event_id("configfiles", raw.id, payload.TYPE),
        type=payload.TYPE,
        schema_version=payload.VERSION,
        host=raw.host,
        source=SOURCE,
        ts=raw.ts,
        observed_at=raw.observed_at,
        subject=subject,
        causation_id=raw.id,
        payload=payload.model_dump(mode="json"),
    )


def decide_file(raw: Envelope, obs: ConfigFileObserved, table: Table) -> list[Envelope]:
    common = {"ts": obs.ts, "path": obs.path, "app": obs.app, "rev": obs.rev, "via": obs.via}
    payload: EventPayload
    if obs.change == "removed":
        payload = ConfigFileRemoved(**common, old_sha256=obs.old_sha256, caused_by=obs.caused_by)
    else:
        fields = {
            **common,
            "owner": obs.owner,
            "group": obs.group,
            "mode": obs.mode,
            "sha256": obs.sha256,
            "size": obs.size,
            "secret": obs.secret,
            "package": obs.package,
            "package_ecosystem": obs.package_ecosystem,
        }
        if obs.change == "added":
            payload = ConfigFileDiscovered(**fields, caused_by=obs.caused_by)
        else:
            payload = ConfigFileChanged(
                **fields,
                old_sha256=obs.old_sha256,
                lines_added=obs.lines_added,
                lines_removed=obs.lines_removed,
                caused_by=obs.caused_by,
            )
    return [_event(raw, payload, obs.path)]


def decide_validation(raw: Envelope, obs: ConfigValidationObserved, table: Table) -> list[Envelope]:
    cls = ConfigValidated if obs.ok else ConfigInvalid
    payload = cls(ts=obs.ts, path=obs.path, sha256=obs.sha256, checker=obs.checker, message=obs.message)
    return [_event(raw, payload, obs.path)]


def decide_drift(raw: Envelope, obs: ConfigDriftObserved, table: Table) -> list[Envelope]:
    cls = ConfigDrifted if obs.drifted else ConfigDriftResolved
    payload = cls(
        ts=obs.ts,
        path=obs.path,
        desired_from=obs.desired_from,
        actual_sha256=obs.actual_sha256,
        desired_sha256=obs.desired_sha256,
        diff=obs.diff,
    )
    return [_event(raw, payload, obs.path)]


def decide_conffile(raw: Envelope, obs: ConffileObserved, table: Table) -> list[Envelope]:
    key = f"conffile/{raw.host}/{obs.path}"
    state = table.get(key) or {}
    if state.get("raw") == raw.id:
        prev = state.get("prev")  # a redelivery decides what it decided the first time
    else:
        prev = state.get("modified")
        table.set(key, {"modified": obs.modified, "raw": raw.id, "prev": prev})
    if not obs.modified and not prev:
        return []
    cls = ConffileModified if obs.modified else ConffileRestored
    payload = cls(
        ts=obs.ts,
        path=obs.path,
        package=obs.package,
        ecosystem=obs.ecosystem,
        default_digest=obs.default_digest,
        actual_digest=obs.actual_digest,
    )
    return [_event(raw, payload, obs.path)]


ROUTES: tuple[Route, ...] = (
    Route(
        name=SOURCE,
        source=RAW_CONFIGFILES,
        sink=EVENTS_CONFIGFILES,
        table="configfiles",
        decide={
            ConfigFileObserved.TYPE: typed(ConfigFileObserved, decide_file),
            ConfigValidationObserved.TYPE: typed(ConfigValidationObserved, decide_validation),
            ConfigDriftObserved.TYPE: typed(ConfigDriftObserved, decide_drift),
            ConffileObserved.TYPE: typed(ConffileObserved, decide_conffile),
        },
    ),
)
