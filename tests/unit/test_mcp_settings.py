"""The MCP section of the settings: declarations that cannot run are reported, the others run."""

from __future__ import annotations

import json
from pathlib import Path

from watchman.domains import mcp
from watchman.settings import Settings


def test_a_bad_declaration_is_an_error_line_and_does_not_stop_the_others(tmp_path: Path) -> None:
    good_json = tmp_path / "good.server.json"
    good_json.write_text(
        json.dumps(
            {
                "name": "io.github.me/remote",
                "version": "2.1.0",
                "remotes": [{"type": "streamable-http", "url": "http://127.0.0.1:9/mcp"}],
            }
        )
    )
    s = Settings(
        data_dir=tmp_path,
        mcp={
            "servers": [
                {"name": "files", "command": "/usr/bin/files-mcp", "env": {"TOKEN": "secret:files"}},
                {"name": "io.github.me/remote", "server_json": str(good_json)},
                {"name": "gone", "server_json": str(tmp_path / "missing.json")},
                {"name": "bad", "url": "http://x/mcp", "transport": "stdio"},
                {"name": "files", "command": "/usr/bin/other"},
            ]
        },
    )
    found, errors = mcp.specs(s)
    assert [f.name for f in found] == ["files", "io.github.me/remote"]
    assert found[1].version == "2.1.0" and found[1].deployment == "remote"
    assert len(errors) == 3
    assert "missing.json: cannot read a server.json" in errors[0]
    assert "(bad)" in errors[1] and "declared twice" in errors[2]
    lines = [text for label, text in mcp.describe(s) if label == "mcp"]
    assert lines[0] == "files ?: stdio, local" and sum(t.startswith("error:") for t in lines) == 3
