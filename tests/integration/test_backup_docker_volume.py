"""A Docker volume backed up through the real engine's API (Debian's dockerd, tests/support/dockerd.py): a
throwaway container mounts it read-only, the engine streams its files out, and the backup verifies and
restores them; the container is gone afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyrage
import pytest

from tests.support.dockerd import Dockerd, running_dockerd
from watchman.backups import service
from watchman.domains.backups import BackupJobSettings, BackupSettings

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def engine() -> Iterator[Dockerd]:
    with running_dockerd() as d:
        d.import_busybox("tiny:1")
        d.cli("volume", "create", "appdata")
        d.cli(
            "run", "--rm", "--network", "none", "-v", "appdata:/data", "tiny:1", "sh", "-c",
            "mkdir -p /data/sub && echo hello > /data/a.txt && head -c 100000 /dev/urandom > /data/sub/b.bin "
            "&& ln -s a.txt /data/link",
        )  # fmt: skip
        yield d


def test_a_volume_is_backed_up_verified_and_restored(engine: Dockerd, tmp_path: Path) -> None:
    ident = pyrage.x25519.Identity.generate()
    key = tmp_path / "key"
    key.write_text(f"{ident}\n")
    key.chmod(0o600)
    job_settings = BackupJobSettings(
        kind="docker-volume", volumes=("appdata",), docker_url=engine.url, helper_image="tiny:1",
        target=f"file://{tmp_path / 'store'}", recipients=(str(ident.to_public()),), identity_file=key,
    )  # fmt: skip
    job = service.open_job(BackupSettings(jobs={"vols": job_settings}), "vols", host="h", data_dir=tmp_path)
    seen: list[str] = []
    now = datetime(2026, 12, 4, 3, tzinfo=UTC)
    m = service.run_backup(job, service.backup_id_for("vols", now, "t"), now=lambda: now,
                           observe=lambda o: seen.append(o.stage))  # fmt: skip
    assert m is not None, seen
    assert seen == ["started", "completed", "verified"]
    paths = {e.path: e for e in m.entries}
    assert paths["docker-volume/appdata/a.txt"].size == 6
    assert paths["docker-volume/appdata/sub/b.bin"].size == 100_000
    assert paths["docker-volume/appdata/link"].link == "a.txt"
    dest = tmp_path / "restored"
    service.restore(job, m.id, target_dir=str(dest), in_place=False, confirm="", now=lambda: now,
                    observe=lambda o: None)  # fmt: skip
    assert (dest / "docker-volume/appdata/a.txt").read_text() == "hello\n"
    assert len((dest / "docker-volume/appdata/sub/b.bin").read_bytes()) == 100_000
    leftovers = engine.cli("ps", "-a", "--filter", "label=org.thewatchman.backup", "-q").stdout.strip()
    assert leftovers == ""


def test_a_missing_volume_fails_the_backup(engine: Dockerd, tmp_path: Path) -> None:
    ident = pyrage.x25519.Identity.generate()
    job_settings = BackupJobSettings(
        kind="docker-volume", volumes=("nope",), docker_url=engine.url, helper_image="tiny:1",
        target=f"file://{tmp_path / 'store'}", recipients=(str(ident.to_public()),),
    )  # fmt: skip
    job = service.open_job(BackupSettings(jobs={"vols": job_settings}), "vols", host="h", data_dir=tmp_path)
    errors: list[str] = []
    now = datetime(2026, 12, 4, 3, tzinfo=UTC)
    assert service.run_backup(job, service.backup_id_for("vols", now, "t"), now=lambda: now,
                              observe=lambda o: errors.append(o.error)) is None  # fmt: skip
    assert any("nope" in e for e in errors)
    assert not (tmp_path / "store").exists() or list((tmp_path / "store").rglob("*.age")) == []
