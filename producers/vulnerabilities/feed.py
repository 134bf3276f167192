"""Reading an advisory file (I/O): an OSV export (`all.zip` of one ecosystem, a directory's records as
one JSON file, or a JSON array of records) or the Debian Security Tracker's JSON. The records are
turned into AdvisoryObserved by the pure functions of advisories.py."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from producers.vulnerabilities.advisories import AdvisoryError, osv_advisory, tracker_advisories
from schemas.events.vulnerabilities import AdvisoryObserved

# A zip member or a file larger than this is refused (a bomb, or not an advisory export).
MAX_RECORD_BYTES = 16 * 2**20
MAX_FILE_BYTES = 2 * 2**30


class FeedError(Exception):
    """The file cannot be read as an advisory export at all (the message is one line for the user)."""


@dataclass(frozen=True, slots=True)
class Bad:
    position: str
    error: str


Item = tuple[str, AdvisoryObserved | Bad]


def _records(position: str, data: bytes) -> Iterator[Item]:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        yield position, Bad(position, f"not JSON: {exc}")
        return
    if isinstance(doc, list):
        for i, rec in enumerate(doc):
            yield from _one(f"{position}[{i}]", rec)
    elif isinstance(doc, dict) and "id" not in doc:
        # No "id": not an OSV record; the tracker's export is keyed by source package.
        for i, item in enumerate(tracker_advisories(doc)):
            if isinstance(item, AdvisoryError):
                yield f"{position}#{i}", Bad(f"{position}#{i}", str(item))
            else:
                yield f"{position}#{item.id}", item
    else:
        yield from _one(position, doc)


def _one(position: str, rec: object) -> Iterator[Item]:
    try:
        yield position, osv_advisory(rec)
    except (AdvisoryError, ValueError) as exc:
        yield position, Bad(position, f"not an OSV record: {exc}")


def read_feed(path: Path) -> Iterator[Item]:
    """(position, advisory or Bad) of every record of the file, in the file's order (a zip's members
    sorted by name, so a position means the same record on every read)."""
    if path.is_dir():
        raise FeedError(f"{path} is a directory: give a file (an OSV all.zip, or a JSON file)")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FeedError(f"cannot read {path}: {exc.strerror or exc}") from None
    if size > MAX_FILE_BYTES:
        raise FeedError(f"{path} is {size} bytes: larger than {MAX_FILE_BYTES}")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                for info in sorted(zf.infolist(), key=lambda i: i.filename):
                    if info.is_dir() or not info.filename.endswith(".json"):
                        continue
                    if info.file_size > MAX_RECORD_BYTES:
                        yield info.filename, Bad(info.filename, f"{info.file_size} bytes: too large")
                        continue
                    yield from _records(info.filename, zf.read(info))
        except (zipfile.BadZipFile, OSError) as exc:
            raise FeedError(f"{path}: not a readable zip: {exc}") from None
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FeedError(f"cannot read {path}: {exc.strerror or exc}") from None
    yield from _records(path.name, data)
