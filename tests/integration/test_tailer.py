"""The file tailer against real files: renames, truncation, gzip generations, kills and resumes."""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import random
import shutil
import subprocess
import tracemalloc
from pathlib import Path

import pytest

from producers.tailer import CHUNK_SIZE, OVERLONG_PREFIX, Cursor, FileTailer, Line, split_lines


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


def write_gz(path: Path, data: bytes) -> None:
    with gzip.open(path, "wb") as f:
        f.write(data)


def drain(tailer: FileTailer, max_lines: int = 1000) -> list[Line]:
    out: list[Line] = []
    while batch := tailer.read(max_lines):
        out.extend(batch)
    return out


def raws(lines: list[Line]) -> list[bytes]:
    return [line.raw for line in lines]


def json_roundtrip(cursor: Cursor) -> Cursor:
    return Cursor.from_dict(json.loads(json.dumps(cursor.to_dict())))


def shift_generations(path: Path) -> None:
    """logrotate with delaycompress: path.N.gz -> path.N+1.gz, path.1 -> path.2 -> path.2.gz."""
    gens = sorted(
        (int(p.name.removeprefix(path.name + ".").removesuffix(".gz")), p)
        for p in path.parent.glob(path.name + ".*")
    )
    for n, p in reversed(gens):
        if p.name.endswith(".gz"):
            p.rename(path.parent / f"{path.name}.{n + 1}.gz")
        else:
            plain = p.rename(path.parent / f"{path.name}.{n + 1}")
            write_gz(path.parent / f"{plain.name}.gz", plain.read_bytes())
            plain.unlink()


def rotate_rename(path: Path, *, create: bool = True) -> None:
    shift_generations(path)
    path.rename(path.parent / f"{path.name}.1")
    if create:
        path.touch()


def rotate_copytruncate(path: Path) -> None:
    shift_generations(path)
    shutil.copyfile(path, path.parent / f"{path.name}.1")
    os.truncate(path, 0)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "history.log"


def test_missing_file_reads_nothing_then_everything_once_it_appears(log: Path) -> None:
    with FileTailer(log) as t:
        assert t.read() == []
        assert t.read() == []
        append(log, b"one\ntwo\n")
        assert raws(t.read()) == [b"one", b"two"]
        assert t.read() == []


def test_backfill_reads_generations_oldest_first_then_the_live_file(log: Path) -> None:
    write_gz(log.with_name("history.log.3.gz"), b"g3a\ng3b\n")
    write_gz(log.with_name("history.log.2.gz"), b"g2a\n")
    log.with_name("history.log.1").write_bytes(b"g1a\ng1b\n")
    log.write_bytes(b"live\n")
    # Neighbours that are not generations of this log.
    log.with_name("history.log.old").write_bytes(b"no\n")
    log.with_name("other.log.1").write_bytes(b"no\n")
    write_gz(log.with_name("history.log.x.gz"), b"no\n")

    with FileTailer(log) as t:
        lines = drain(t, max_lines=2)
    assert raws(lines) == [b"g3a", b"g3b", b"g2a", b"g1a", b"g1b", b"live"]
    assert [line.offset for line in lines] == [0, 4, 0, 0, 4, 0]
    assert lines[0].cursor == lines[1].cursor_before  # within a file, consecutive cursors chain
    assert (lines[2].cursor_before.file, lines[2].cursor_before.offset) == (lines[2].cursor.file, 0)


def test_without_backfill_the_live_file_is_read_from_its_start(log: Path) -> None:
    log.with_name("history.log.1").write_bytes(b"old\n")
    log.write_bytes(b"a\nb\n")
    with FileTailer(log, backfill_rotated=False) as t:
        assert raws(drain(t)) == [b"a", b"b"]


def test_cursor_taken_during_backfill_resumes_exactly_even_after_another_rotation(log: Path) -> None:
    write_gz(log.with_name("history.log.2.gz"), b"a1\na2\na3\n")
    log.with_name("history.log.1").write_bytes(b"b1\nb2\n")
    log.write_bytes(b"c1\nc2\n")
    with FileTailer(log) as t:
        lines = drain(t)
    everything = raws(lines)
    assert everything == [b"a1", b"a2", b"a3", b"b1", b"b2", b"c1", b"c2"]

    for k, line in enumerate(lines):
        with FileTailer(log, json_roundtrip(line.cursor)) as t:
            assert raws(drain(t)) == everything[k + 1 :]
        with FileTailer(log, json_roundtrip(line.cursor_before)) as t:
            assert raws(drain(t)) == everything[k:]

    # path.1 becomes path.2.gz (a new inode), the live file becomes path.1: cursors still find their bytes.
    rotate_rename(log)
    append(log, b"d1\n")
    for k, line in enumerate(lines):
        with FileTailer(log, line.cursor) as t:
            assert raws(drain(t)) == [*everything[k + 1 :], b"d1"]


def test_rename_rotation_finishes_the_old_file_before_the_new_one(log: Path) -> None:
    append(log, b"1\n2\n")
    with FileTailer(log) as t:
        assert raws(t.read()) == [b"1", b"2"]
        append(log, b"3\n")  # written just before the rename, not read yet
        rotate_rename(log, create=False)
        append(log.with_name("history.log.1"), b"4\n")  # the writer still had the old file open
        assert raws(t.read()) == [b"3", b"4"]
        assert t.read() == []
        append(log, b"5\n")
        lines = t.read()
        assert raws(lines) == [b"5"]
        assert lines[0].offset == 0
        assert lines[0].cursor.inode == log.stat().st_ino


def test_two_rotations_between_polls_lose_nothing(log: Path) -> None:
    append(log, b"1\n")
    with FileTailer(log) as t:
        assert raws(t.read()) == [b"1"]
        append(log, b"2\n")
        rotate_rename(log)
        append(log, b"3\n")
        rotate_rename(log)  # the file we hold is now path.2.gz; our plain inode was deleted
        append(log, b"4\n")
        assert raws(drain(t)) == [b"2", b"3", b"4"]


def test_rotation_while_a_partial_line_is_pending(log: Path) -> None:
    append(log, b"a\nb\npar")
    with FileTailer(log) as t:
        lines = t.read()
        assert raws(lines) == [b"a", b"b"]
        assert t.read() == []  # "par" waits for its newline
        rotate_rename(log)
        append(log, b"x\n")
        tail = t.read()
        assert raws(tail) == [b"par", b"x"]
        assert tail[0].cursor.offset == len(b"a\nb\npar")

    # The same, resumed from a cursor saved before the rotation.
    with FileTailer(log, lines[-1].cursor) as t:
        assert raws(drain(t)) == [b"par", b"x"]
    with FileTailer(log, tail[0].cursor) as t:
        assert raws(drain(t)) == [b"x"]


def test_partial_line_is_held_and_the_cursor_never_passes_it(log: Path) -> None:
    append(log, b"done\nhalf")
    with FileTailer(log) as t:
        lines = t.read()
        assert raws(lines) == [b"done"]
        assert lines[0].cursor.offset == 5
        append(log, b"-way")
        assert t.read() == []
        append(log, b" there\n")
        (line,) = t.read()
        assert line.raw == b"half-way there"
        assert (line.offset, line.cursor_before.offset, line.cursor.offset) == (5, 5, 20)

    with FileTailer(log, lines[0].cursor) as t:
        assert raws(drain(t)) == [b"half-way there"]


def test_copytruncate_restarts_at_zero_of_the_truncated_file(log: Path) -> None:
    append(log, b"old one\nold two\n")
    with FileTailer(log) as t:
        assert len(t.read()) == 2
        os.truncate(log, 0)  # truncated with no copy kept
        append(log, b"new\n")
        lines = t.read()
        assert raws(lines) == [b"new"]
        assert lines[0].offset == 0
        assert lines[0].cursor.inode == log.stat().st_ino


def test_copytruncate_reads_the_unread_tail_from_the_copy(log: Path) -> None:
    append(log, b"1\n2\n")
    with FileTailer(log) as t:
        assert raws(t.read()) == [b"1", b"2"]
        append(log, b"3\npart")
        rotate_copytruncate(log)
        append(log, b"4\n")
        assert raws(t.read()) == [b"3", b"part", b"4"]


def test_copytruncate_of_lines_never_read_is_noticed_by_the_new_copy(log: Path) -> None:
    log.touch()
    with FileTailer(log) as t:
        assert t.read() == []
        append(log, b"unseen 1\nunseen 2\n")
        rotate_copytruncate(log)
        append(log, b"after the copy, long enough to pass the old size\n")
        assert raws(t.read()) == [
            b"unseen 1",
            b"unseen 2",
            b"after the copy, long enough to pass the old size",
        ]


def test_copytruncate_then_rename_before_the_next_poll(log: Path) -> None:
    append(log, b"1\n")
    with FileTailer(log) as t:
        assert raws(t.read()) == [b"1"]
        append(log, b"2\n")
        rotate_copytruncate(log)
        append(log, b"3\n")
        rotate_rename(log)
        append(log, b"4\n")
        assert raws(drain(t)) == [b"2", b"3", b"4"]


def test_truncate_and_regrow_past_the_offset_is_caught_by_the_fingerprint(log: Path) -> None:
    append(log, b"first line\n")
    with FileTailer(log) as t:
        assert raws(t.read()) == [b"first line"]
        os.truncate(log, 0)
        append(log, b"replacement line that is longer\n")
        assert raws(t.read()) == [b"replacement line that is longer"]


def test_resume_continues_in_path1_then_the_live_file(log: Path) -> None:
    append(log, b"1\n2\n")
    with FileTailer(log) as t:
        saved = t.read(1)[0].cursor
    append(log, b"3\n")
    rotate_rename(log)
    append(log, b"4\n")
    with FileTailer(log, json_roundtrip(saved)) as t:
        assert raws(drain(t)) == [b"2", b"3", b"4"]


def test_resume_after_copytruncate_finds_the_copy_by_fingerprint(log: Path) -> None:
    append(log, b"1\n2\n")
    with FileTailer(log) as t:
        saved = t.read(1)[0].cursor
    rotate_copytruncate(log)
    append(log, b"3\n")
    with FileTailer(log, saved) as t:
        assert raws(drain(t)) == [b"2", b"3"]


def test_resume_with_no_matching_file_warns_and_reads_the_live_file_from_zero(
    log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    append(log, b"1\n2\n")
    with FileTailer(log) as t:
        saved = t.read(1)[0].cursor
    log.unlink()
    append(log, b"fresh\n")
    with caplog.at_level(logging.WARNING, logger="producers.tailer"), FileTailer(log, saved) as t:
        assert raws(drain(t)) == [b"fresh"]
    assert any("no file matches" in r.getMessage() for r in caplog.records)


def test_cursor_for_another_path_is_refused(log: Path) -> None:
    append(log, b"1\n")
    with FileTailer(log) as t:
        saved = t.read()[0].cursor
    with pytest.raises(ValueError, match="not"):
        FileTailer(log.with_name("dpkg.log"), saved)


def test_cursor_json_shape_and_validation(log: Path) -> None:
    append(log, b"1\n")
    with FileTailer(log) as t:
        cursor = t.read()[0].cursor
    data = cursor.to_dict()
    assert set(data) == {"v", "path", "file", "inode", "fp", "fp_len", "offset"}
    assert json_roundtrip(cursor) == cursor
    for broken in (
        {**data, "v": 99},
        {**data, "offset": -1},
        {**data, "inode": "1"},
        {**data, "fp_len": 5000},
    ):
        with pytest.raises(ValueError):
            Cursor.from_dict(broken)


def test_crlf_and_invalid_utf8(log: Path) -> None:
    append(log, b"dos\r\nunix\n\r\n\xff\xfeok\n")
    with FileTailer(log) as t:
        lines = t.read()
    assert raws(lines) == [b"dos", b"unix", b"", b"\xff\xfeok"]
    assert lines[3].text == "\ufffd\ufffdok"


def test_lines_across_chunk_boundaries_and_small_batches(log: Path) -> None:
    rng = random.Random(7)
    expected = [bytes(rng.choice(b"abcdef ") for _ in range(rng.randint(0, 300))) for _ in range(5000)]
    log.write_bytes(b"".join(x + b"\n" for x in expected))
    assert log.stat().st_size > 5 * CHUNK_SIZE
    with FileTailer(log) as t:
        got = drain(t, max_lines=37)
    assert raws(got) == expected
    offsets = [0]
    for x in expected[:-1]:
        offsets.append(offsets[-1] + len(x) + 1)
    assert [line.offset for line in got] == offsets


def test_memory_stays_bounded_on_a_large_file(log: Path) -> None:
    line = b"x" * 99 + b"\n"
    with log.open("wb") as f:
        for _ in range(16):
            f.write(line * 10_000)  # 16 MB in total
    tracemalloc.start()
    try:
        count = 0
        with FileTailer(log) as t:
            while batch := t.read(1000):
                count += len(batch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 160_000
    assert peak < 4 * 1024 * 1024


def test_an_overlong_line_comes_out_once_as_its_first_bytes_and_length(log: Path) -> None:
    append(log, b"a" * 25 + b"\r\nshort\n" + b"b" * 10)
    with FileTailer(log, max_line_bytes=10) as t:
        lines = drain(t)
        assert [(x.raw, x.offset, x.overlong) for x in lines] == [
            (b"a" * 25 + b"\r", 0, 26),
            (b"short", 27, None),
        ]
        append(log, b"\n")
        got = t.read()
        assert raws(got) == [b"b" * 10] and got[0].overlong is None  # exactly the limit: a line
    with FileTailer(log, lines[0].cursor, max_line_bytes=10) as t:
        assert raws(drain(t)) == [b"short", b"b" * 10]


def test_an_overlong_line_is_never_held_whole(log: Path) -> None:
    """A 40 MB line costs about the limit in memory, not its size; it comes out as a prefix and a length."""
    with log.open("wb") as f:
        f.write(b"before\n")
        f.write(b"Install: " + b"pkg:amd64 (1.0), " * 2_500_000 + b"\n")
        f.write(b"after\n" + b"x" * 5000)  # an unterminated over-long tail, finished at rotation
    size = 9 + 17 * 2_500_000
    tracemalloc.start()
    try:
        with FileTailer(log, max_line_bytes=4096) as t:
            lines = drain(t)
            _, peak = tracemalloc.get_traced_memory()
            os.rename(log, log.with_name(log.name + ".1"))
            append(log, b"new\n")
            lines += drain(t)
    finally:
        tracemalloc.stop()
    assert [(x.raw[:9], x.overlong) for x in lines] == [
        (b"before", None),
        (b"Install: ", size),
        (b"after", None),
        (b"x" * 9, 5000),
        (b"new", None),
    ]
    assert len(lines[1].raw) == OVERLONG_PREFIX
    assert lines[2].offset == 7 + size + 1
    assert peak < 1024 * 1024


def test_split_lines_bounds_lines_as_the_tailer_does() -> None:
    data = b"one\r\n" + b"z" * 300_000 + b"\ntwo\n" + b"y" * 20
    got = list(split_lines(io.BytesIO(data), max_line_bytes=1000))
    assert got == [
        (0, b"one", None),
        (5, b"z" * OVERLONG_PREFIX, 300_000),
        (300_006, b"two", None),
        (300_010, b"y" * 20, None),
    ]
    assert list(split_lines(io.BytesIO(b"q" * 5000), max_line_bytes=1000)) == [
        (0, b"q" * OVERLONG_PREFIX, 5000)
    ]


def test_an_idle_poll_costs_one_stat_and_no_read(log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    append(log, b"1\npartial")
    with FileTailer(log) as t:
        assert len(t.read()) == 1
        assert t.read() == []
        calls: list[str] = []
        real_stat = os.stat

        def counting_stat(*args: object, **kwargs: object) -> os.stat_result:
            calls.append("stat")
            return real_stat(*args, **kwargs)  # type: ignore[arg-type]

        def no_read(*args: object) -> bytes:
            raise AssertionError("an idle poll must not read")

        monkeypatch.setattr(os, "stat", counting_stat)
        monkeypatch.setattr(os, "pread", no_read)
        for _ in range(5):
            assert t.read() == []
        assert calls == ["stat"] * 5


def test_a_corrupt_generation_is_skipped_with_a_warning(log: Path, caplog: pytest.LogCaptureFixture) -> None:
    log.with_name("history.log.2.gz").write_bytes(b"this is not gzip\n")
    log.with_name("history.log.1").write_bytes(b"g1\n")
    log.write_bytes(b"live\n")
    with caplog.at_level(logging.WARNING, logger="producers.tailer"), FileTailer(log) as t:
        assert raws(drain(t)) == [b"g1", b"live"]
    assert any("cannot decompress" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("mode", ["create", "copytruncate"])
def test_real_logrotate_with_delaycompress(log: Path, tmp_path: Path, mode: str) -> None:
    conf = tmp_path / "logrotate.conf"
    conf.write_text(f"{log} {{\n  rotate 20\n  compress\n  delaycompress\n  {mode}\n}}\n")
    conf.chmod(0o644)

    def logrotate() -> None:
        cmd = [shutil.which("logrotate") or "logrotate", "-f", "-s", str(tmp_path / "state"), str(conf)]
        subprocess.run(cmd, check=True, capture_output=True)

    written: list[bytes] = []
    got: list[Line] = []
    for rotation in range(6):
        saved = got[-1].cursor if got else None
        tailer = FileTailer(log, json_roundtrip(saved)) if saved else FileTailer(log)
        for n in range(50):
            written.append(b"%d-%03d apt install pkg%d" % (rotation, n, n))
            append(log, written[-1] + b"\n")
            if n == 25:
                got.extend(drain(tailer, max_lines=7))
        if rotation % 2:  # stopped before the rotation: the next start resumes from the saved cursor
            got.extend(drain(tailer, max_lines=7))
            tailer.close()
            logrotate()
        else:  # running through the rotation
            logrotate()
            got.extend(drain(tailer, max_lines=7))
            tailer.close()
    assert sorted(p.name for p in tmp_path.glob("history.log.*"))[:2] == ["history.log.1", "history.log.2.gz"]
    assert raws(got) == written


class _Writer:
    """Writes a log the way programs and logrotate do, and knows which lines a reader must see."""

    def __init__(self, path: Path, rng: random.Random) -> None:
        self.path = path
        self.rng = rng
        self.expected: list[bytes] = []
        self.partial = b""  # the live file's unterminated last line
        self.complete_in_live = 0
        self.counter = 0

    def append(self) -> None:
        data = b""
        for _ in range(self.rng.randint(1, 40)):
            self.counter += 1
            # A random token first, as timestamps do in real logs, so files never share a prefix.
            data += b"%08x %d %s" % (self.rng.getrandbits(32), self.counter, b"y" * self.rng.randint(0, 120))
            data += b"\r\n" if self.rng.random() < 0.1 else b"\n"
        cut = self.rng.randint(0, len(data)) if self.rng.random() < 0.4 else len(data)
        data = data[:cut]
        append(self.path, data)
        pieces = (self.partial + data).split(b"\n")
        self.partial = pieces.pop()
        self.expected.extend(p.removesuffix(b"\r") for p in pieces)
        self.complete_in_live += len(pieces)

    def _seal(self) -> None:
        # A rotated file is complete: its unterminated tail becomes a line of its own.
        if self.partial:
            self.expected.append(self.partial.removesuffix(b"\r"))
        self.partial = b""
        self.complete_in_live = 0

    def rotate(self) -> None:
        if self.path.exists():
            self._seal()
            rotate_rename(self.path, create=self.rng.random() < 0.7)

    def copytruncate(self) -> None:
        # Only once a whole line is there: a rewrite that starts with the very bytes we saw is
        # indistinguishable from growth (a documented limit of fingerprints).
        if self.path.exists() and self.complete_in_live > 0:
            self._seal()
            rotate_copytruncate(self.path)


@pytest.mark.parametrize("seed", range(8))
def test_killed_and_resumed_at_random_points_every_line_arrives_exactly_once(log: Path, seed: int) -> None:
    rng = random.Random(seed)
    writer = _Writer(log, rng)
    # Some history already rotated before the first start.
    for _ in range(3):
        writer.append()
        writer.rotate()
    tailer: FileTailer | None = FileTailer(log)
    saved: Cursor | None = None
    delivered: list[bytes] = []  # acknowledged by the bus
    pending: list[Line] = []  # read, not acknowledged yet

    for _ in range(400):
        op = rng.random()
        if op < 0.30:
            writer.append()
        elif op < 0.60:
            if tailer is None:  # restarted after any number of writes and rotations
                tailer = FileTailer(log, json_roundtrip(saved)) if saved else FileTailer(log)
            pending.extend(tailer.read(rng.randint(1, 60)))
        elif op < 0.70 and pending:
            delivered.extend(raws(pending))
            saved = pending[-1].cursor
            pending = []
        elif op < 0.75 and pending:
            # A multi-line record: checkpoint at the start of a line still being assembled.
            k = rng.randrange(len(pending))
            delivered.extend(raws(pending[:k]))
            saved = pending[k].cursor_before
            pending = pending[k:]
        elif op < 0.85:
            if tailer is not None:
                tailer.close()
            tailer = None
            pending = []
        else:
            # A running daemon polls far more often than logrotate runs: it has caught up before each
            # rotation. A stopped one sees any number of them on restart.
            if tailer is not None:
                pending.extend(drain(tailer, max_lines=rng.randint(1, 60)))
            if op < 0.95:
                writer.rotate()
            else:
                writer.copytruncate()

    if tailer is None:
        tailer = FileTailer(log, saved) if saved else FileTailer(log)
    pending.extend(drain(tailer, max_lines=rng.randint(1, 60)))
    tailer.close()
    delivered.extend(raws(pending))
    assert delivered == writer.expected
