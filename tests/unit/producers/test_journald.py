"""The journald entry parser: odd bytes, huge fields, repeated and missing fields never crash it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.journald.entries import MAX_MESSAGE, EntryError, observe, raw_envelope, subject
from producers.services.cgroup import unit_of
from schemas.envelope import Envelope

TS = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
CURSOR = "s=abc;i=1;b=def;m=1;t=2;x=3"


def entry(**fields: object) -> dict[str, object]:
    return {"__CURSOR": CURSOR, "__REALTIME_TIMESTAMP": TS, **fields}


def test_reader_converted_fields_become_an_observation() -> None:
    obs = observe(
        entry(
            MESSAGE="Started nginx.service.",
            PRIORITY=6,
            _SYSTEMD_UNIT="init.scope",
            UNIT="nginx.service",
            SYSLOG_IDENTIFIER="systemd",
            _PID=1,
            MESSAGE_ID=uuid.UUID("39f53479-d3a0-45ac-8e11-786248231fbf"),
            _BOOT_ID=uuid.UUID("7a1f0c3e-2b4d-4e5f-8a9b-0c1d2e3f4a5b"),
            JOB_TYPE="start",
            N_RESTARTS="3",
        )
    )
    assert obs.ts == TS
    assert obs.object_unit == "nginx.service" and obs.unit == "init.scope"
    assert obs.message_id == "39f53479d3a045ac8e11786248231fbf"
    assert obs.n_restarts == 3 and obs.pid == 1 and obs.priority == 6
    assert not obs.truncated
    assert subject(obs) == "nginx.service"


def test_odd_bytes_are_replaced_and_flagged() -> None:
    obs = observe(entry(MESSAGE=b"bad \xff\xfe bytes \x00 here", _SYSTEMD_UNIT=b"x\xff.service"))
    assert obs.message.startswith("bad ") and "\x00" not in obs.message
    assert "\ufffd" in obs.message and obs.truncated
    assert obs.unit is not None and obs.unit.endswith(".service")
    # and it travels as JSON
    env = raw_envelope("h", obs, TS)
    assert Envelope.from_json(env.to_json()).payload["message"] == obs.message


def test_huge_fields_are_cut() -> None:
    obs = observe(entry(MESSAGE="x" * 1_000_000, SYSLOG_IDENTIFIER="y" * 10_000))
    assert len(obs.message) == MAX_MESSAGE and obs.truncated
    assert obs.identifier is not None and len(obs.identifier) <= 256


def test_missing_fields_are_none_and_repeated_fields_take_the_first() -> None:
    obs = observe(entry(MESSAGE=["first", "second"], PRIORITY="not a number"))
    assert obs.message == "first"
    assert obs.priority is None and obs.unit is None and obs.pid is None
    assert subject(obs) == "journal"


def test_microsecond_timestamps_as_text_are_read() -> None:
    obs = observe({"__CURSOR": CURSOR, "__REALTIME_TIMESTAMP": str(int(TS.timestamp() * 1_000_000))})
    assert obs.ts == TS


@pytest.mark.parametrize("bad", [{"__REALTIME_TIMESTAMP": TS}, {"__CURSOR": CURSOR}, {}])
def test_an_entry_that_cannot_be_placed_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(EntryError):
        observe(bad)


def test_the_id_is_the_cursor_so_rereading_gives_the_same_id() -> None:
    a = raw_envelope("h", observe(entry(MESSAGE="one")), TS)
    b = raw_envelope("h", observe(entry(MESSAGE="one")), datetime.now(UTC))
    c = raw_envelope("h", observe({**entry(MESSAGE="one"), "__CURSOR": CURSOR + "0"}), TS)
    assert a.id == b.id != c.id


values = st.one_of(
    st.none(),
    st.binary(max_size=300),
    st.text(max_size=300),
    st.integers(),
    st.lists(st.binary(max_size=20), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "MESSAGE",
                "PRIORITY",
                "_PID",
                "UNIT",
                "_SYSTEMD_UNIT",
                "N_RESTARTS",
                "MESSAGE_ID",
                "SYSLOG_IDENTIFIER",
                "EXIT_STATUS",
                "_UID",
            ]
        ),
        values,
    )
)
def test_any_field_values_never_crash_the_parser(fields: dict[str, object]) -> None:
    obs = observe(entry(**fields))
    Envelope.from_json(raw_envelope("h", obs, TS).to_json())


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("0::/system.slice/nginx.service\n", "nginx.service"),
        ("9:name=systemd:/system.slice/postgresql@15-main.service\n0::/\n", "postgresql@15-main.service"),
        ("0::/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service\n", "foo.service"),
        ("0::/system.slice/docker-0123.scope\n", None),
        ("0::/\n", None),
        ("garbage", None),
    ],
)
def test_unit_of_cgroup(text: str, unit: str | None) -> None:
    assert unit_of(text) == unit
