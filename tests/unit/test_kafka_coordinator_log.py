"""A fresh Kafka's first group-coordinator lookup fails and aiokafka retries it: not an ERROR line."""

from __future__ import annotations

import logging

import pytest
from aiokafka import errors

import watchman.bus.kafka  # noqa: F401  (installs the filter on aiokafka's logger)

AIOKAFKA = logging.getLogger("aiokafka.consumer.group_coordinator")
MESSAGE = (
    "Group Coordinator Request failed: %s"  # aiokafka/consumer/group_coordinator.py, ensure_coordinator_known
)


def test_a_retriable_lookup_failure_is_told_at_info(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        AIOKAFKA.error(MESSAGE, errors.GroupCoordinatorNotAvailableError())
    assert [(r.name, r.levelno) for r in caplog.records] == [("watchman.bus.kafka_clients", logging.INFO)]
    assert "retrying" in caplog.records[0].getMessage()


def test_a_lookup_that_fails_for_good_stays_an_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        AIOKAFKA.error(MESSAGE, errors.GroupAuthorizationFailedError("g"))
        AIOKAFKA.error("Heartbeat failed: %r", errors.GroupCoordinatorNotAvailableError())
    assert [(r.name, r.levelno) for r in caplog.records] == [
        ("aiokafka.consumer.group_coordinator", logging.ERROR),
        ("aiokafka.consumer.group_coordinator", logging.ERROR),
    ]
