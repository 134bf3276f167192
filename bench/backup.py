"""Backup throughput and memory: 1 GB (default) of mixed files backed up by The Watchman's streamed format
(tar -> zstd -> age -> SeaweedFS's S3 on loopback, multipart) beside `tar | zstd | age` of the same data
to /dev/null in the same run (the baseline: no upload at all). The backup runs in a child process whose
peak RSS (wait4's ru_maxrss) is the memory figure. Targets (issue 16): >= 0.7 x the baseline's
throughput; peak RSS <= 200 MB whatever the size.

A second baseline pipes the CLI pipeline into the same S3 upload (`python -m bench.backup upload`), so the
judged ratio compares the archive-making alone, both into the same server; the /dev/null one is shown too.
The child: `python -m bench.backup child SRC ENDPOINT BUCKET PREFIX RECIPIENT` prints the seconds.
"""

from __future__ import annotations

import os
import random
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

from bench.common import say
from bench.results import Figure, Section, Target

MiB = 1024 * 1024


def make_data(root: Path, total_mb: int, seed: int = 16) -> tuple[int, int]:
    """Mixed files: half compressible text (log-like lines), half random bytes, 1 KiB .. 8 MiB each."""
    rng = random.Random(seed)
    size_total, files = 0, 0
    target = total_mb * MiB
    while size_total < target:
        d = root / f"d{files // 100:03d}"
        d.mkdir(parents=True, exist_ok=True)
        size = min(int(rng.lognormvariate(11, 2.2)) + 1024, 8 * MiB, target - size_total)
        size = max(size, 1)
        path = d / f"f{files:05d}"
        if files % 2 == 0:
            line = (
                f"2026-12-04T12:00:{files % 60:02d}Z host app[{files}]: request id={rng.random():.12f} ok\n"
            )
            reps = size // len(line) + 1
            path.write_bytes((line * reps).encode()[:size])
        else:
            path.write_bytes(rng.randbytes(size))
        size_total += size
        files += 1
    return size_total, files


def baseline(src: Path, recipient: str) -> float:
    """Seconds of `tar -c | zstd -3 | age -r` of the same tree, to /dev/null."""
    cmd = f"tar -C {shlex.quote(str(src))} -cf - . | zstd -3 -T1 -q | age -r {recipient} > /dev/null"
    t0 = time.perf_counter()
    subprocess.run(["bash", "-o", "pipefail", "-c", cmd], check=True)
    return time.perf_counter() - t0


def baseline_to_s3(src: Path, recipient: str, endpoint: str, bucket: str, prefix: str) -> float:
    """Seconds of `tar -c | zstd -3 | age -r | <the same S3 upload, from stdin>`: the CLI pipeline into
    the same server through the same adapter, so only the archive-making differs."""
    up = f"{shlex.quote(sys.executable)} -m bench.backup upload {endpoint} {bucket} {prefix}"
    cmd = f"tar -C {shlex.quote(str(src))} -cf - . | zstd -3 -T1 -q | age -r {recipient} | {up}"
    t0 = time.perf_counter()
    subprocess.run(["bash", "-o", "pipefail", "-c", cmd], check=True)
    return time.perf_counter() - t0


def upload(endpoint: str, bucket: str, prefix: str) -> None:
    from watchman.storage.s3 import S3Target

    target = S3Target(
        bucket, prefix, endpoint_url=endpoint, create_bucket=True,
        access_key=os.environ.get("WATCHMAN_TEST_S3_ACCESS_KEY", "watchman-test"),
        secret_key=os.environ.get("WATCHMAN_TEST_S3_SECRET_KEY", "watchman-test-secret-key"),
    )  # fmt: skip
    target.put("baseline/data.tar.zst.age", sys.stdin.buffer)
    target.delete("baseline/data.tar.zst.age")


def ours(src: Path, endpoint: str, bucket: str, prefix: str, recipient: str) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of a backup of `src` by a child process."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.backup", "child", str(src), endpoint, bucket, prefix, recipient],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"backup child exited {proc.returncode}")
    return float(out.decode().strip().splitlines()[-1]), usage.ru_maxrss / 1024


def child(src: str, endpoint: str, bucket: str, prefix: str, recipient: str) -> None:
    import pyrage

    from watchman.backups import archive
    from watchman.storage.s3 import S3Target

    target = S3Target(
        bucket, prefix, endpoint_url=endpoint, create_bucket=True,
        access_key=os.environ.get("WATCHMAN_TEST_S3_ACCESS_KEY", "watchman-test"),
        secret_key=os.environ.get("WATCHMAN_TEST_S3_SECRET_KEY", "watchman-test-secret-key"),
    )  # fmt: skip
    t0 = time.perf_counter()
    m = archive.create(
        target, "bench/b1", archive.walk([Path(src)]), [pyrage.x25519.Recipient.from_str(recipient)],
        backup_id="b1", kind="paths", host="bench", created_at="2026-12-04T00:00:00Z",
    )  # fmt: skip
    elapsed = time.perf_counter() - t0
    for key in (m.data["key"], f"bench/b1/{archive.MANIFEST}"):
        target.delete(str(key))
    print(f"{elapsed:.3f}")


def run(work: Path, *, size_mb: int) -> Section:
    import pyrage

    endpoint = os.environ.get("WATCHMAN_TEST_S3", "http://127.0.0.1:8333")
    src = work / "backup-src"
    say(f"backup: writing {size_mb} MB of mixed files")
    size, files = make_data(src, size_mb)
    recipient = str(pyrage.x25519.Identity.generate().to_public())
    say("backup: tar | zstd | age (baseline)")
    base_s = baseline(src, recipient)
    say("backup: tar | zstd | age | the same S3 upload (baseline into the same server)")
    base_s3_s = baseline_to_s3(src, recipient, endpoint, "watchman-bench", f"base-{os.getpid()}")
    say("backup: watchman streamed format to SeaweedFS (S3 on loopback)")
    ours_s, rss = ours(src, endpoint, "watchman-bench", f"run-{os.getpid()}", recipient)
    mb = size / MiB
    section = Section("backup")
    section.figures += [
        Figure(
            f"backup of {mb:.0f} MB ({files} files) to S3", mb / ours_s, "MB/s", mb / base_s3_s,
            "tar | zstd -3 | age | same S3 upload", Target(">=", 0.7, "x baseline"), "ratio",
        ),
        Figure(
            "same backup vs no upload at all", mb / ours_s, "MB/s", mb / base_s,
            "tar | zstd -3 | age > /dev/null", None, "ratio",
            note="info: the server's write speed is most of the difference",
        ),
        Figure("backup peak RSS", rss, "MB", None, "", Target("<=", 200, "MB")),
    ]  # fmt: skip
    section.details += [
        f"Source: {files} files, {size:,} bytes (half log-like text, half random), generated per run.",
        f"Baselines: `tar -c | zstd -3 -T1 | age -r` into the same S3 upload (S3Target.put from stdin): "
        f"{base_s3_s:.1f} s; the same pipeline to /dev/null: {base_s:.1f} s. "
        f"The Watchman: {ours_s:.1f} s including the multipart upload to SeaweedFS on 127.0.0.1 "
        "(8 MiB parts, SHA-256 each).",
        f"Peak RSS of the backing-up process: {rss:.0f} MB (wait4 ru_maxrss).",
    ]
    return section


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "child":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    child(*sys.argv[2:7])
elif __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "upload":
    upload(*sys.argv[2:5])
