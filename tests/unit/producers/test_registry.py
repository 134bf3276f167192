"""The registry the producer and the CLI choose parsers from."""

from __future__ import annotations

from datetime import UTC

import pytest

from producers.packages import KINDS, PARSERS, SNAPSHOT_KINDS, LogParser, brew, make_parser


def test_every_kind_is_registered() -> None:
    assert set(KINDS) == {"apt", "dpkg", "dnf-rpm", "dnf", "dnf5", "brew"}
    assert set(PARSERS) | set(SNAPSHOT_KINDS) == set(KINDS)
    assert SNAPSHOT_KINDS["brew"] is brew.parse_dir


@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_factories_make_fresh_parsers_named_after_their_kind(kind: str) -> None:
    parser = make_parser(kind, tz=UTC)
    assert isinstance(parser, LogParser)
    assert parser.source == kind
    assert parser is not make_parser(kind)
    assert parser.pending_start() is None
    assert parser.flush() == []


def test_unknown_kind() -> None:
    with pytest.raises(KeyError, match="known: apt"):
        make_parser("pacman")
