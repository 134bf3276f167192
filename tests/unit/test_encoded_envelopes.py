"""The embedded pipeline hands the next stage the envelopes it just encoded, only where decoding the bytes
again would give the same envelope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.envelope import Envelope
from watchman.pipeline import EncodedEnvelopes, _json_native, envelope_record


def _env(n: int, payload: dict[str, Any] | None = None) -> Envelope:
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    return Envelope(
        id=f"{n:032x}",
        type="PackageInstalled",
        schema_version=1,
        host="h",
        source="dpkg",
        ts=ts,
        observed_at=ts,
        subject=f"pkg{n}",
        payload={"package": f"pkg{n}", "n": n} if payload is None else payload,
    )


def test_json_native_accepts_only_what_json_gives_back_unchanged() -> None:
    assert _json_native({"a": [1, 2.5, "x", None, True, {"b": []}]})
    assert not _json_native({"a": (1, 2)})  # comes back a list
    assert not _json_native({"a": datetime(2026, 1, 1, tzinfo=UTC)})  # comes back a str
    assert not _json_native({"a": float("nan")})  # comes back null
    assert not _json_native({"a": [float("inf")]})
    assert not _json_native({1: "a"})  # comes back with a str key


def test_the_stage_after_gets_the_envelope_that_was_encoded() -> None:
    known = EncodedEnvelopes(limit=10)
    env = _env(1)
    rec = known.record(env)
    assert rec == envelope_record(env)
    assert known.get(rec.value) is env
    assert known.decode(rec.value) is env
    assert Envelope.from_json(rec.value) == env  # what decoding would have given


def test_an_envelope_json_would_change_is_decoded_from_its_bytes() -> None:
    known = EncodedEnvelopes(limit=10)
    env = _env(2, {"versions": ("1", "2")})
    rec = known.record(env)
    assert known.get(rec.value) is None
    assert known.decode(rec.value).payload == {"versions": ["1", "2"]}


def test_at_most_limit_envelopes_are_kept_oldest_out_first() -> None:
    known = EncodedEnvelopes(limit=2)
    recs = [known.record(_env(n)) for n in range(3)]
    assert known.get(recs[0].value) is None
    assert known.decode(recs[0].value) == _env(0)
    assert known.get(recs[1].value) is not None and known.get(recs[2].value) is not None
