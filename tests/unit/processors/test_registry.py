"""Route.handle: the one decode-and-decide step both hosts (embedded loop, Faust agent) run."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from processors.registry import ROUTES
from processors.routing import DECODE_ERRORS
from processors.tables import MemoryTable
from producers.packages.envelopes import raw_envelope
from schemas.events import PackageChangeObserved

T = datetime(2024, 1, 1, tzinfo=UTC)
ROUTE = ROUTES[0]


def test_a_raw_record_becomes_its_domain_event() -> None:
    obs = PackageChangeObserved(ts=T, action="install", source="dpkg", package="jq", new_version="1.6-2")
    (event,) = ROUTE.handle(raw_envelope("h", obs, T).to_json(), MemoryTable())
    assert event.type == "PackageInstalled"
    assert event.key == "h/jq"


@pytest.mark.parametrize(
    "value",
    [
        b"not json",
        orjson.dumps({"id": "x"}),  # no envelope
        raw_envelope("h", PackageChangeObserved(ts=T, action="install", source="dpkg", package="jq"), T)
        .to_json()
        .replace(b'"PackageChangeObserved"', b'"PackageInstalled"'),  # a type this route does not take
    ],
)
def test_undecodable_records_raise_what_hosts_dead_letter(value: bytes) -> None:
    with pytest.raises(DECODE_ERRORS):
        ROUTE.handle(value, MemoryTable())
