"""The storage-target port's tests, written once: every adapter's test class subclasses StorageSuite
and provides a `target` fixture (a fresh, empty target)."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from watchman.storage.base import ObjectMissing, StorageError, StorageTarget


class Chunked:
    """A stream that returns short reads, as a pipe does."""

    def __init__(self, data: bytes, step: int = 7000) -> None:
        self.data, self.pos, self.step = data, 0, step

    def read(self, n: int = -1) -> bytes:
        n = self.step if n < 0 else min(n, self.step)
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out


class Exploding:
    """Yields some data, then fails: a backup pipeline that breaks mid-upload."""

    def __init__(self, good: bytes) -> None:
        self.good, self.done = good, False

    def read(self, n: int = -1) -> bytes:
        if not self.done:
            self.done = True
            return self.good
        raise RuntimeError("source broke")


class StorageSuite:
    big_size = 64 * 1024  # adapters with a multipart threshold override this to cross it

    def test_put_get_stat_round_trip(self, target: StorageTarget) -> None:
        data = os.urandom(self.big_size + 123)
        info = target.put("b1/data.bin", Chunked(data))
        assert info.size == len(data)
        assert info.sha256 == hashlib.sha256(data).hexdigest()
        assert info.checksum
        with target.get("b1/data.bin") as f:
            assert f.read() == data
        st = target.stat("b1/data.bin")
        assert st is not None
        assert st.size == len(data)
        assert st.checksum == info.checksum

    def test_empty_and_small_objects(self, target: StorageTarget) -> None:
        target.put("e/empty", io.BytesIO(b""))
        target.put("e/small", io.BytesIO(b"x"))
        with target.get("e/empty") as f:
            assert f.read() == b""
        st = target.stat("e/small")
        assert st is not None and st.size == 1

    def test_list_by_prefix_in_key_order(self, target: StorageTarget) -> None:
        for key in ("p/b/2", "p/a/1", "q/3", "p/a/0"):
            target.put(key, io.BytesIO(key.encode()))
        assert [o.key for o in target.list("p/")] == ["p/a/0", "p/a/1", "p/b/2"]
        assert [o.key for o in target.list()] == ["p/a/0", "p/a/1", "p/b/2", "q/3"]
        sizes = {o.key: o.size for o in target.list("q")}
        assert sizes == {"q/3": 3}

    def test_delete_is_idempotent(self, target: StorageTarget) -> None:
        target.put("d/x", io.BytesIO(b"abc"))
        target.delete("d/x")
        target.delete("d/x")
        assert target.stat("d/x") is None
        assert list(target.list("d/")) == []

    def test_missing_object(self, target: StorageTarget) -> None:
        assert target.stat("nope/x") is None
        with pytest.raises(ObjectMissing), target.get("nope/x"):
            pass

    def test_replace_keeps_one_whole_object(self, target: StorageTarget) -> None:
        target.put("r/x", io.BytesIO(b"old"))
        target.put("r/x", io.BytesIO(b"new!"))
        with target.get("r/x") as f:
            assert f.read() == b"new!"
        assert [o.key for o in target.list("r/")] == ["r/x"]

    def test_failed_put_leaves_the_old_object(self, target: StorageTarget) -> None:
        target.put("f/x", io.BytesIO(b"old"))
        with pytest.raises(RuntimeError):
            target.put("f/x", Exploding(os.urandom(1000)))
        with target.get("f/x") as f:
            assert f.read() == b"old"
        assert [o.key for o in target.list("f/")] == ["f/x"]

    @pytest.mark.parametrize("key", ["", "../etc/passwd", "a//b", "/abs", "a/./b", ".hidden", "a/b/"])
    def test_unsafe_keys_are_refused(self, target: StorageTarget, key: str) -> None:
        with pytest.raises(StorageError):
            target.put(key, io.BytesIO(b"x"))

    def test_describe_names_no_credentials(self, target: StorageTarget) -> None:
        text = target.describe()
        assert text
        assert "secret" not in text.lower()
