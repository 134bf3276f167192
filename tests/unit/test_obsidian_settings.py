"""`[[obsidian.vaults]]`: defaults, and clear errors for what cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from watchman import settings as settings_mod
from watchman.domains.obsidian import ObsidianSettings, VaultSettings, describe, vault_config


def _load(tmp_path: Path, text: str) -> settings_mod.Settings:
    cfg = tmp_path / "watchman.toml"
    cfg.write_text(f'data_dir = "{tmp_path}"\nhost = "h"\n' + text)
    return settings_mod.load(cfg)


def test_defaults_from_toml(tmp_path: Path) -> None:
    s = _load(tmp_path, f'[[obsidian.vaults]]\nname = "notes"\npath = "{tmp_path / "v"}"\n')
    [v] = s.obsidian.vaults
    assert (v.auto_sync, v.sync_interval, v.auto_commit, v.conflict_strategy, v.pull_method) == (
        True,
        300.0,
        True,
        "alert",
        "merge",
    )
    assert v.commit_message_template == "vault backup: {{date}}"
    assert not v.media_sync_enabled and "png" in v.media_extensions
    cfg = vault_config(s, v)
    assert cfg.author_email == "watchman@h" and cfg.hostname == "h"
    assert "notes" in describe(s)[0][0]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "my notes"}, "vault name"),
        ({"path": "relative/dir"}, "must be absolute"),
        ({"conflict_strategy": "ours"}, "alert"),
        ({"media_sync_enabled": True}, "media_rsync_target"),
        ({"git_remote": "--upload-pack=evil"}, "option"),
        ({"media_extensions": ["png", "*.jpg"]}, "not file extensions"),
        ({"sync_interval": 0}, "greater than or equal"),
        ({"branch": "a..b"}, "branch"),
        ({"colour": "red"}, "Extra inputs"),
    ],
)
def test_bad_entries_are_named(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        VaultSettings(**{"name": "notes", "path": "/srv/notes", **entry})  # type: ignore[arg-type]


def test_names_and_paths_are_unique() -> None:
    a = VaultSettings(name="a", path=Path("/srv/notes"))
    with pytest.raises(ValidationError, match="used twice"):
        ObsidianSettings(vaults=(a, VaultSettings(name="a", path=Path("/srv/other"))))
    with pytest.raises(ValidationError, match="overlap"):
        ObsidianSettings(vaults=(a, VaultSettings(name="b", path=Path("/srv/notes/inner"))))
