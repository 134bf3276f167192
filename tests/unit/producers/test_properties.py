"""Property tests: no input, however broken, makes a parser raise or trip its internal safety net."""

from __future__ import annotations

from datetime import UTC

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producers.packages import PARSERS, make_parser, parse_bytes
from producers.packages.base import ParseError
from tests.unit.producers.support import FIXTURES, internal_errors, lines_with_offsets

_FIXTURE_LINES = [
    line
    for name in ("apt_history_edge.log", "dpkg_edge.log", "dnf_rpm.log", "dnf.log", "dnf5.log")
    for _, line in lines_with_offsets((FIXTURES / name).read_bytes())
]

_text_line = st.text(st.characters(blacklist_characters="\n"), max_size=200)


@st.composite
def _mutated_line(draw: st.DrawFn) -> str:
    """A real log line with a few characters replaced, deleted or inserted: reaches the deep paths."""
    line = draw(st.sampled_from(_FIXTURE_LINES))
    for _ in range(draw(st.integers(0, 4))):
        if not line:
            break
        i = draw(st.integers(0, len(line) - 1))
        op = draw(st.sampled_from(["replace", "delete", "insert"]))
        c = draw(st.characters(blacklist_characters="\n"))
        line = (
            line[:i] + c + line[i + 1 :]
            if op == "replace"
            else line[:i] + line[i + 1 :]
            if op == "delete"
            else line[:i] + c + line[i:]
        )
    return line


_lines = st.lists(st.one_of(_text_line, _mutated_line(), st.sampled_from(_FIXTURE_LINES)), max_size=40)
_settings = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _feed_all(kind: str, lines: list[str]) -> list[object]:
    parser = make_parser(kind, tz=UTC)
    out: list[object] = []
    offset = 0
    for line in lines:
        out.extend(parser.feed(line, offset))
        pending = parser.pending_start()
        assert pending is None or 0 <= pending <= offset
        offset += len(line.encode("utf-8", "surrogatepass")) + 1
    out.extend(parser.flush())
    assert parser.pending_start() is None
    return out


def _check(results: list[object]) -> None:
    assert internal_errors(results) == []  # type: ignore[arg-type]
    for r in results:
        if not isinstance(r, ParseError):
            assert r.ts.tzinfo is not None and r.ts.utcoffset().total_seconds() == 0  # type: ignore[attr-defined]


@_settings
@given(lines=_lines)
def test_apt_never_raises(lines: list[str]) -> None:
    _check(_feed_all("apt", lines))


@_settings
@given(lines=_lines)
def test_dpkg_never_raises(lines: list[str]) -> None:
    _check(_feed_all("dpkg", lines))


@_settings
@given(lines=_lines)
def test_dnf_rpm_never_raises(lines: list[str]) -> None:
    _check(_feed_all("dnf-rpm", lines))


@_settings
@given(lines=_lines)
def test_dnf_never_raises(lines: list[str]) -> None:
    _check(_feed_all("dnf", lines))


@_settings
@given(lines=_lines)
def test_dnf5_never_raises(lines: list[str]) -> None:
    _check(_feed_all("dnf5", lines))


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes_decoded_with_replacement_never_raise(data: bytes) -> None:
    for kind in PARSERS:
        _check(parse_bytes(make_parser(kind, tz=UTC), data))  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=300), prefix=st.sampled_from(_FIXTURE_LINES))
def test_real_lines_followed_by_binary_garbage(data: bytes, prefix: str) -> None:
    blob = prefix.encode() + b"\n" + data
    for kind in PARSERS:
        _check(parse_bytes(make_parser(kind, tz=UTC), blob))  # type: ignore[arg-type]
