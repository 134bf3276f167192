"""deb and rpm version ordering, and the upgrade/downgrade/reinstall call made from it."""

from __future__ import annotations

import pytest

from producers.packages.versions import classify, compare_brew, compare_deb, compare_rpm, split_deb_epoch


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.0-1", "1.0-1", 0),
        ("1.0-2", "1.0-1", 1),
        ("1:1.0-1", "2.0-1", 1),  # the epoch wins
        ("1.0~rc1-1", "1.0-1", -1),  # tilde sorts before everything
        ("7.88.1-10", "7.88.1-10+deb12u5", -1),
        ("20.20.2-1nodesource1+repack1", "20.20.2-1nodesource1", 1),
        ("0:1.0", "1.0", 0),
    ],
)
def test_compare_deb(a: str, b: str, expected: int) -> None:
    assert compare_deb(a, b) == expected
    assert compare_deb(b, a) == -expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("3.1.1-4.fc39", "3.1.1-1.fc39", 1),
        ("1:3.1.1-1.fc39", "3.2.0-1.fc39", 1),
        ("0:3.1.1-1.fc39", "3.1.1-1.fc39", 0),
        ("1.0~rc1-1", "1.0-1", -1),
        ("2.38-16.fc39", "2.38-14.fc39", 1),
        ("8.2.1-1.fc39", "8.2.1-3.fc39", -1),
        ("1.10-1", "1.9-1", 1),
        ("1.0", "1.0-5", 0),  # no release on one side: releases are not compared
    ],
)
def test_compare_rpm(a: str, b: str, expected: int) -> None:
    assert compare_rpm(a, b) == expected
    assert compare_rpm(b, a) == -expected


def test_compare_rpm_rejects_a_non_numeric_epoch() -> None:
    with pytest.raises(ValueError):
        compare_rpm("x:1.0-1", "1.0-1")


def test_compare_brew() -> None:
    assert compare_brew("3.3.0", "3.2.2") == 1
    assert compare_brew("1.2.3_1", "1.2.3") == 1
    assert compare_brew("2024.01.15", "2023.12.31") == 1


def test_classify_and_split_epoch() -> None:
    assert [classify(1), classify(-1), classify(0)] == ["upgrade", "downgrade", "reinstall"]
    assert split_deb_epoch("1:2.39.5-0+deb12u2") == "1"
    assert split_deb_epoch("2.39.5-0+deb12u2") is None
    assert split_deb_epoch(None) is None
    assert split_deb_epoch("x:1") is None
