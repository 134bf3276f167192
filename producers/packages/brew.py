"""Homebrew keeps no history: snapshot the Cellar and Caskroom, and diff two snapshots into changes."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from producers.packages.versions import classify, compare_brew
from schemas.events.packages import PackageAction, PackageChangeObserved

KegKind = Literal["formula", "cask"]


class BrewKeg(BaseModel):
    """One installed version of a formula (a Cellar keg) or of a cask (a Caskroom version directory)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: KegKind
    name: str
    version: str
    installed_at: datetime | None = None
    installed_on_request: bool | None = None
    tap: str | None = None
    arch: str | None = None


class BrewSnapshot(BaseModel):
    """Everything Homebrew has installed at one moment.

    It is the brew producer's cursor: `to_dict()` gives plain JSON data, `from_dict()` reads it back, and
    `digest()` is a content hash that does not depend on the order the kegs were listed in.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kegs: tuple[BrewKeg, ...] = ()

    @field_validator("kegs")
    @classmethod
    def _sorted(cls, kegs: tuple[BrewKeg, ...]) -> tuple[BrewKeg, ...]:
        return tuple(sorted(kegs, key=lambda k: (k.kind, k.name, k.version)))

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BrewSnapshot:
        return cls.model_validate(data)

    def digest(self) -> str:
        """A stable content hash: equal snapshots, equal digests, across processes and machines."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------------
# Pure: two snapshots in, changes out.
# --------------------------------------------------------------------------------------------------


def diff(old: BrewSnapshot | None, new: BrewSnapshot, observed_at: datetime) -> list[PackageChangeObserved]:
    """The changes that turn `old` into `new`; with no `old`, every formula and cask is an install.

    Homebrew may keep older kegs beside the current one until `brew cleanup`; the newest version of a
    name is the installed one, and a cleanup that removes only older kegs is not a change.
    """
    before = _by_name(old.kegs) if old is not None else {}
    after = _by_name(new.kegs)
    out: list[PackageChangeObserved] = []
    for key in sorted(after.keys() | before.keys()):
        now_kegs, then_kegs = after.get(key, {}), before.get(key, {})
        if not then_kegs:
            keg = now_kegs[_latest(now_kegs)]
            out.append(_change("install", keg, None, keg.version, keg.installed_at or observed_at))
            continue
        then_latest = then_kegs[_latest(then_kegs)]
        if not now_kegs:
            out.append(_change("remove", then_latest, then_latest.version, None, observed_at))
            continue
        added = {v: k for v, k in now_kegs.items() if v not in then_kegs}
        if added:
            keg = added[_latest(added)]
            action = classify(compare_brew(keg.version, then_latest.version))
            out.append(
                _change(action, keg, then_latest.version, keg.version, keg.installed_at or observed_at)
            )
            continue
        keg = now_kegs[_latest(now_kegs)]
        was = then_kegs.get(keg.version)
        if was is not None and keg.installed_at and was.installed_at and keg.installed_at > was.installed_at:
            # Same version, newer receipt: `brew reinstall`.
            out.append(_change("reinstall", keg, keg.version, keg.version, keg.installed_at))
    return out


def _by_name(kegs: Iterable[BrewKeg]) -> dict[tuple[KegKind, str], dict[str, BrewKeg]]:
    grouped: dict[tuple[KegKind, str], dict[str, BrewKeg]] = defaultdict(dict)
    for keg in kegs:
        grouped[(keg.kind, keg.name)][keg.version] = keg
    return grouped


def _latest(kegs: dict[str, BrewKeg]) -> str:
    best: str | None = None
    for version in sorted(kegs):  # sorted first so equal-comparing versions resolve the same way every time
        if best is None or compare_brew(version, best) > 0:
            best = version
    assert best is not None
    return best


def _change(
    action: PackageAction, keg: BrewKeg, old: str | None, new: str | None, ts: datetime
) -> PackageChangeObserved:
    automatic = None
    if action == "install" and keg.installed_on_request is not None:
        automatic = not keg.installed_on_request
    return PackageChangeObserved(
        ts=ts,
        action=action,
        source="brew",
        package=keg.name,
        arch=keg.arch,
        old_version=old,
        new_version=new,
        automatic=automatic,
        repo=keg.tap,
    )


# --------------------------------------------------------------------------------------------------
# I/O: the one place in producers/packages that reads files.
# --------------------------------------------------------------------------------------------------


def read_snapshot(prefix_or_cellar: Path) -> BrewSnapshot:
    """Read what Homebrew has installed under a prefix (`/opt/homebrew`) or its `Cellar` directory.

    Formulae: `Cellar/<name>/<version>/INSTALL_RECEIPT.json`. Casks: `Caskroom/<token>/<version>/`,
    with the install time taken from `Caskroom/<token>/.metadata/<version>/<YYYYmmddHHMMSS.sss>/`.
    Unreadable receipts leave the keg without its details rather than failing the snapshot.
    """
    root = Path(prefix_or_cellar)
    cellar, caskroom = (
        (root, root.parent / "Caskroom") if root.name == "Cellar" else (root / "Cellar", root / "Caskroom")
    )
    kegs: list[BrewKeg] = []
    for name_dir in _subdirs(cellar):
        for keg_dir in _subdirs(name_dir):
            kegs.append(_formula_keg(name_dir.name, keg_dir))
    for token_dir in _subdirs(caskroom):
        for version_dir in _subdirs(token_dir):
            installed_at, tap = _cask_metadata(token_dir.name, token_dir / ".metadata" / version_dir.name)
            kegs.append(
                BrewKeg(
                    kind="cask",
                    name=token_dir.name,
                    version=version_dir.name,
                    installed_at=installed_at,
                    tap=tap,
                )
            )
    return BrewSnapshot(kegs=tuple(kegs))


def parse_dir(prefix_or_cellar: Path, observed_at: datetime | None = None) -> list[PackageChangeObserved]:
    """`watchman parse brew DIR`: everything installed there, as installs at their receipt times."""
    return diff(None, read_snapshot(prefix_or_cellar), observed_at or datetime.now(UTC))


def _subdirs(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def _formula_keg(name: str, keg_dir: Path) -> BrewKeg:
    receipt: dict[str, Any] = {}
    try:
        loaded = json.loads((keg_dir / "INSTALL_RECEIPT.json").read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            receipt = loaded
    except (OSError, ValueError):
        pass
    source = receipt.get("source") if isinstance(receipt.get("source"), dict) else {}
    tap = source.get("tap") if isinstance(source, dict) else None
    on_request = receipt.get("installed_on_request")
    arch = receipt.get("arch")
    return BrewKeg(
        kind="formula",
        name=name,
        version=keg_dir.name,
        installed_at=_unix_time(receipt.get("time")),
        installed_on_request=on_request if isinstance(on_request, bool) else None,
        tap=tap if isinstance(tap, str) else None,
        arch=arch if isinstance(arch, str) else None,
    )


def _unix_time(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _cask_metadata(token: str, metadata_dir: Path) -> tuple[datetime | None, str | None]:
    """Install time and tap of a cask version, from the newest of its metadata directories.

    Homebrew names each install's metadata directory after the UTC time it was written
    (`20240115102345.123`) and keeps the cask definition in it (`Casks/<token>.json` or `.rb`).
    """
    for stamp_dir in sorted(_subdirs(metadata_dir), key=lambda p: p.name, reverse=True):
        try:
            installed_at = datetime.strptime(stamp_dir.name, "%Y%m%d%H%M%S.%f").replace(tzinfo=UTC)
        except ValueError:
            continue
        tap: str | None = None
        try:
            definition = json.loads((stamp_dir / "Casks" / f"{token}.json").read_text(encoding="utf-8"))
            if isinstance(definition, dict) and isinstance(definition.get("tap"), str):
                tap = definition["tap"]
        except (OSError, ValueError):
            pass
        return installed_at, tap
    return None, None
