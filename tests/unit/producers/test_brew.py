"""Homebrew: reading Cellar/Caskroom snapshots and the pure diff between two of them."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from producers.packages import brew
from producers.packages.brew import BrewKeg, BrewSnapshot, diff, read_snapshot
from tests.unit.producers.support import FIXTURES, utc

RECEIPT = FIXTURES / "brew" / "htop_INSTALL_RECEIPT.json"
OBSERVED = utc(2024, 3, 1, 12, 0, 0)


def _keg(name: str, version: str, at: datetime | None = None, **kw: object) -> BrewKeg:
    return BrewKeg(kind="formula", name=name, version=version, installed_at=at, **kw)  # type: ignore[arg-type]


def _formula(cellar: Path, name: str, version: str, **receipt: object) -> None:
    keg = cellar / name / version
    keg.mkdir(parents=True)
    data = json.loads(RECEIPT.read_text())
    data.update(receipt)
    (keg / "INSTALL_RECEIPT.json").write_text(json.dumps(data))


@pytest.fixture
def prefix(tmp_path: Path) -> Path:
    cellar = tmp_path / "Cellar"
    _formula(cellar, "htop", "3.3.0")
    _formula(
        cellar, "ncurses", "6.4", installed_on_request=False, installed_as_dependency=True, time=1705314200
    )
    (cellar / ".DS_Store").write_text("")
    cask = tmp_path / "Caskroom" / "firefox"
    (cask / "122.0").mkdir(parents=True)
    meta = cask / ".metadata" / "122.0" / "20240115102345.123" / "Casks"
    meta.mkdir(parents=True)
    (meta / "firefox.json").write_text(json.dumps({"token": "firefox", "tap": "homebrew/cask"}))
    return tmp_path


def test_read_snapshot_reads_receipts_and_casks(prefix: Path) -> None:
    snap = read_snapshot(prefix)
    kegs = {(k.kind, k.name): k for k in snap.kegs}
    htop = kegs[("formula", "htop")]
    assert (htop.version, htop.installed_on_request, htop.tap, htop.arch) == (
        "3.3.0",
        True,
        "homebrew/core",
        "arm64",
    )
    assert htop.installed_at == datetime.fromtimestamp(1705314225, UTC)
    assert kegs[("formula", "ncurses")].installed_on_request is False
    firefox = kegs[("cask", "firefox")]
    assert (firefox.version, firefox.tap) == ("122.0", "homebrew/cask")
    assert firefox.installed_at == datetime(2024, 1, 15, 10, 23, 45, 123000, tzinfo=UTC)


def test_read_snapshot_accepts_the_cellar_itself(prefix: Path) -> None:
    assert read_snapshot(prefix / "Cellar") == read_snapshot(prefix)
    assert read_snapshot(prefix / "nowhere") == BrewSnapshot()


def test_a_broken_receipt_leaves_the_keg_without_details(tmp_path: Path) -> None:
    keg = tmp_path / "Cellar" / "jq" / "1.7.1"
    keg.mkdir(parents=True)
    (keg / "INSTALL_RECEIPT.json").write_text("{not json")
    (only,) = read_snapshot(tmp_path).kegs
    assert (only.name, only.version, only.installed_at, only.tap) == ("jq", "1.7.1", None, None)


def test_first_snapshot_is_all_installs_at_receipt_times(prefix: Path) -> None:
    got = {c.package: c for c in diff(None, read_snapshot(prefix), OBSERVED)}
    htop = got["htop"]
    assert (htop.action, htop.source, htop.new_version, htop.automatic, htop.repo, htop.arch) == (
        "install",
        "brew",
        "3.3.0",
        False,
        "homebrew/core",
        "arm64",
    )
    assert htop.ts == datetime.fromtimestamp(1705314225, UTC)
    assert got["ncurses"].automatic is True
    assert got["firefox"].automatic is None and got["firefox"].ts == datetime(
        2024, 1, 15, 10, 23, 45, 123000, UTC
    )


def test_parse_dir_is_the_first_snapshot_diff(prefix: Path) -> None:
    assert brew.parse_dir(prefix, OBSERVED) == diff(None, read_snapshot(prefix), OBSERVED)


def test_upgrade_downgrade_remove_install() -> None:
    old = BrewSnapshot(
        kegs=(_keg("htop", "3.2.2", utc(2024, 1, 1)), _keg("jq", "1.7.1"), _keg("wget", "1.21"))
    )
    new = BrewSnapshot(
        kegs=(
            _keg("htop", "3.3.0", utc(2024, 2, 1)),
            _keg("jq", "1.6_1"),
            _keg("tmux", "3.4", utc(2024, 2, 2)),
        )
    )
    got = {c.package: (c.action, c.old_version, c.new_version, c.ts) for c in diff(old, new, OBSERVED)}
    assert got == {
        "htop": ("upgrade", "3.2.2", "3.3.0", utc(2024, 2, 1)),
        "jq": ("downgrade", "1.7.1", "1.6_1", OBSERVED),
        "tmux": ("install", None, "3.4", utc(2024, 2, 2)),
        "wget": ("remove", "1.21", None, OBSERVED),
    }


def test_kept_old_kegs_and_their_cleanup() -> None:
    one = BrewSnapshot(kegs=(_keg("htop", "3.2.2"),))
    both = BrewSnapshot(kegs=(_keg("htop", "3.2.2"), _keg("htop", "3.3.0", utc(2024, 2, 1))))
    latest = BrewSnapshot(kegs=(_keg("htop", "3.3.0", utc(2024, 2, 1)),))
    (up,) = diff(one, both, OBSERVED)
    assert (up.action, up.old_version, up.new_version) == ("upgrade", "3.2.2", "3.3.0")
    assert diff(both, latest, OBSERVED) == []  # `brew cleanup` of the old keg is not a change
    (first,) = diff(None, both, OBSERVED)
    assert first.new_version == "3.3.0"


def test_reinstall_is_a_newer_receipt_for_the_same_version() -> None:
    before = BrewSnapshot(kegs=(_keg("htop", "3.3.0", utc(2024, 2, 1)),))
    after = BrewSnapshot(kegs=(_keg("htop", "3.3.0", utc(2024, 2, 9)),))
    (re,) = diff(before, after, OBSERVED)
    assert (re.action, re.old_version, re.new_version, re.ts) == (
        "reinstall",
        "3.3.0",
        "3.3.0",
        utc(2024, 2, 9),
    )
    assert diff(after, after, OBSERVED) == []


def test_formula_and_cask_of_the_same_name_are_separate() -> None:
    old = BrewSnapshot(kegs=(BrewKeg(kind="cask", name="docker", version="4.27.0"),))
    new = BrewSnapshot(kegs=(BrewKeg(kind="cask", name="docker", version="4.27.0"), _keg("docker", "25.0.3")))
    (c,) = diff(old, new, OBSERVED)
    assert (c.package, c.action) == ("docker", "install")


def test_snapshot_is_json_and_its_digest_is_stable(prefix: Path) -> None:
    snap = read_snapshot(prefix)
    restored = BrewSnapshot.from_dict(json.loads(json.dumps(snap.to_dict())))
    assert restored == snap and restored.digest() == snap.digest()
    shuffled = BrewSnapshot(kegs=tuple(reversed(snap.kegs)))
    assert shuffled.digest() == snap.digest() and shuffled == snap
    assert BrewSnapshot(kegs=snap.kegs[1:]).digest() != snap.digest()
    assert hash(shuffled) == hash(snap)


def test_diff_does_no_io(prefix: Path) -> None:
    snap = read_snapshot(prefix)
    shutil.rmtree(prefix)
    assert len(diff(None, snap, OBSERVED)) == 3
