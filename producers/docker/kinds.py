"""The Docker kind of `watchman parse`: `docker events --format '{{json .}}'`, one event per line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from producers.docker.convert import event_observation, is_noise, raw_envelope
from producers.parse_kind import BadRecord, Parsed, ParseKind, ParseOptions, excerpt, lines
from schemas.events.containers import RAW_CONTAINERS


def _events(path: Path, opts: ParseOptions) -> Iterator[Parsed]:
    for item in lines(path, opts):
        if isinstance(item, BadRecord):
            yield item
            continue
        offset, raw = item
        if not raw.strip():
            continue
        try:
            event = json.loads(raw)
            if not isinstance(event, dict):
                raise ValueError("not a JSON object")
            if is_noise(event):
                continue  # health-check execs: the running source drops them too
            yield raw_envelope(opts.host, event_observation(event), opts.now)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            yield BadRecord(
                f"offset {offset}", f"not a docker event: {type(exc).__name__}: {exc}", excerpt(raw)
            )


KINDS: tuple[ParseKind, ...] = (
    ParseKind("docker-events", "docker events --format '{{json .}}'", RAW_CONTAINERS, _events),
)
