"""The journal kinds of `watchman parse`: journalctl's json, json-pretty and export outputs (pure parsing).

- `-o json`: one object per line. A value is a string, an array of byte values (a field that is not
  valid UTF-8 or holds control characters), an array of such values (a field repeated in one entry),
  or null (too large, unless --all).
- `-o json-pretty`: the same objects, indented, one after another.
- `-o export` (systemd's "Journal Export Format"): `FIELD=value` lines, or for binary values the field
  name, a newline, a little-endian 64-bit length and the raw bytes; a blank line ends an entry.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from producers.journald.entries import EntryError, observe, raw_envelope
from producers.parse_kind import BadRecord, Parsed, ParseKind, ParseOptions, excerpt, open_input
from schemas.events.services import RAW_JOURNAL

MAX_FIELD_BYTES = 64 * 1024 * 1024  # an export-format binary field longer than this is a broken file


def json_value(value: Any) -> Any:
    """journalctl's JSON value as the Reader would give it: str, bytes, or a list for a repeated field."""
    if isinstance(value, list):
        if all(isinstance(v, int) and 0 <= v < 256 for v in value):
            return bytes(value)
        return [json_value(v) for v in value if v is not None]
    return value


def _entry(obj: Any, position: str, opts: ParseOptions) -> Parsed:
    if not isinstance(obj, dict):
        return BadRecord(position, "not a JSON object", excerpt(json.dumps(obj)[:300]))
    entry = {str(k): json_value(v) for k, v in obj.items() if v is not None}
    try:
        obs = observe(entry)
    except (EntryError, ValueError) as exc:
        return BadRecord(position, str(exc), excerpt(json.dumps(obj)[:300]))
    return raw_envelope(opts.host, obs, opts.now)


def parse_json_lines(fh: IO[bytes], opts: ParseOptions) -> Iterator[Parsed]:
    for n, raw in enumerate(fh, 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            yield BadRecord(f"line {n}", f"invalid JSON: {exc}", excerpt(raw))
            continue
        yield _entry(obj, f"line {n}", opts)


def parse_json_pretty(text: str, opts: ParseOptions) -> Iterator[Parsed]:
    decoder = json.JSONDecoder()
    pos, n = 0, 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return
        n += 1
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except ValueError as exc:
            yield BadRecord(
                f"entry {n} (character {pos})", f"invalid JSON: {exc}", excerpt(text[pos : pos + 300])
            )
            return  # the rest cannot be split into entries any more
        yield _entry(obj, f"entry {n}", opts)


def export_entries(fh: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(entry number, fields) of an export-format stream, or (number, error) for a broken entry."""
    entry: dict[str, Any] = {}
    n = 1
    while True:
        line = fh.readline()
        if not line:
            if entry:
                yield n, entry
            return
        if line == b"\n":
            if entry:
                yield n, entry
                n += 1
            entry = {}
            continue
        body = line.rstrip(b"\n")
        name, eq, value = body.partition(b"=")
        if eq:
            _add(entry, name.decode("ascii", "replace"), value)
            continue
        size_raw = fh.read(8)
        if len(size_raw) < 8:
            yield n, f"field {excerpt(body, 60)!r} without its size"
            return
        (size,) = struct.unpack("<Q", size_raw)
        if size > MAX_FIELD_BYTES:
            yield n, f"field {excerpt(body, 60)!r} claims {size} bytes"
            return
        data = fh.read(size)
        if len(data) < size or fh.read(1) != b"\n":
            yield n, f"field {excerpt(body, 60)!r} is cut short"
            return
        _add(entry, body.decode("ascii", "replace"), data)


def _add(entry: dict[str, Any], name: str, value: bytes) -> None:
    # Bytes, as the Reader gives fields it cannot decode: observe() decodes and flags them leniently.
    if name in entry:
        old = entry[name]
        entry[name] = [*old, value] if isinstance(old, list) else [old, value]
    else:
        entry[name] = value


def _json(path: Path, opts: ParseOptions) -> Iterator[Parsed]:
    with open_input(path) as fh:
        yield from parse_json_lines(fh, opts)


def _json_pretty(path: Path, opts: ParseOptions) -> Iterator[Parsed]:
    with open_input(path) as fh:
        text = fh.read().decode("utf-8", "replace")
    yield from parse_json_pretty(text, opts)


def _export(path: Path, opts: ParseOptions) -> Iterator[Parsed]:
    with open_input(path) as fh:
        for n, got in export_entries(fh):
            if isinstance(got, str):
                yield BadRecord(f"entry {n}", got)
                continue
            try:
                yield raw_envelope(opts.host, observe(got), opts.now)
            except (EntryError, ValueError) as exc:
                yield BadRecord(f"entry {n}", str(exc), excerpt(repr(got)))


KINDS: tuple[ParseKind, ...] = (
    ParseKind("journal-json", "journalctl -o json", RAW_JOURNAL, _json),
    ParseKind("journal-json-pretty", "journalctl -o json-pretty", RAW_JOURNAL, _json_pretty),
    ParseKind("journal-export", "journalctl -o export", RAW_JOURNAL, _export),
)
