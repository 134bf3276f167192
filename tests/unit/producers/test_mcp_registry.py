"""The MCP registry (pure): server.json in the official registry's format, and watchman.toml entries.

The server.json documents are the registry's own examples (modelcontextprotocol/registry,
docs/reference/server-json/examples/valid/with-package.json and with-remote.json), transcribed.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.mcp.registry import RegistryError, from_server_json, from_settings

WITH_PACKAGE: dict[str, Any] = {
    "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
    "name": "io.github.user/local-weather",
    "description": "Local MCP server distributed as an npm package.",
    "version": "1.0.0",
    "packages": [
        {
            "registryType": "npm",
            "identifier": "@modelcontextprotocol/server-weather",
            "version": "1.0.0",
            "transport": {"type": "stdio"},
            "runtimeHint": "npx",
            "packageArguments": [
                {"type": "positional", "valueHint": "config_path"},
                {"type": "named", "name": "--port", "value": "8080"},
            ],
            "environmentVariables": [{"name": "API_KEY", "isSecret": True, "isRequired": True}],
        }
    ],
}
WITH_REMOTE: dict[str, Any] = {
    "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
    "name": "io.github.user/remote-weather",
    "description": "Remote MCP server reachable over streamable HTTP.",
    "version": "2.1.0",
    "remotes": [
        {
            "type": "streamable-http",
            "url": "https://api.example.com/mcp",
            "headers": [{"name": "Authorization", "isSecret": True, "isRequired": True}],
        }
    ],
}


def test_an_npm_package_runs_with_npx_and_its_secret_comes_from_the_secret_of_its_name() -> None:
    s = from_server_json(WITH_PACKAGE, origin="weather.json")
    assert (s.name, s.version, s.transport, s.deployment) == (
        "io.github.user/local-weather",
        "1.0.0",
        "stdio",
        "local",
    )
    assert s.command == "npx"
    # The positional argument has only a valueHint (for a person to fill in): left out.
    assert s.args == ("-y", "@modelcontextprotocol/server-weather@1.0.0", "--port", "8080")
    assert s.env == {"API_KEY": "secret:api_key"} and s.secret_env == ("API_KEY",)
    assert (s.registry_type, s.identifier, s.origin) == (
        "npm",
        "@modelcontextprotocol/server-weather",
        "weather.json",
    )


def test_watchman_toml_wins_over_the_file() -> None:
    s = from_server_json(
        WITH_PACKAGE,
        origin="weather.json",
        overrides={"command": "/usr/bin/node", "args": ["server.js"], "env": {"API_KEY": "secret:weather"}},
    )
    assert (s.command, s.args, s.env["API_KEY"], s.secret_env) == (
        "/usr/bin/node",
        ("server.js",),
        "secret:weather",
        ("API_KEY",),
    )


def test_a_remote_is_probed_not_run() -> None:
    s = from_server_json(WITH_REMOTE, origin="remote.json")
    assert (s.transport, s.deployment, s.url, s.supervised) == (
        "streamable-http",
        "remote",
        "https://api.example.com/mcp",
        False,
    )


def test_pypi_and_oci_packages() -> None:
    doc = {
        "name": "io.github.me/x",
        "version": "0.2.0",
        "packages": [
            {
                "registryType": "pypi",
                "identifier": "mcp-x",
                "version": "0.2.0",
                "transport": {"type": "stdio"},
            },
            {
                "registryType": "oci",
                "identifier": "ghcr.io/me/x",
                "version": "0.2.0",
                "transport": {"type": "streamable-http", "url": "http://127.0.0.1:8080/mcp"},
            },
        ],
    }
    pypi = from_server_json(doc, origin="x.json")
    assert (pypi.command, pypi.args) == ("uvx", ("mcp-x==0.2.0",))
    oci = from_server_json(doc, origin="x.json", registry_type="oci")
    assert (oci.deployment, oci.image, oci.transport) == (
        "container",
        "ghcr.io/me/x:0.2.0",
        "streamable-http",
    )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"name": "a/b", "version": "1"}, "neither packages nor remotes"),
        ({"version": "1", "remotes": []}, "no name"),
        ({"name": "a/b", "remotes": [{"type": "sse", "url": "http://x"}]}, "sse transport is deprecated"),
        (
            {"name": "a/b", "packages": [{"registryType": "nuget", "identifier": "X", "version": "1"}]},
            "needs a runtimeHint",
        ),
        ({"name": "a/b", "packages": [{"registryType": "npm", "identifier": 3}]}, "must be a string"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_server_json_is_a_clear_error(doc: Any, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        from_server_json(doc, origin="bad.json")


def test_settings_entries() -> None:
    stdio = from_settings(
        {"name": "files", "command": "/usr/bin/files-mcp", "env": {"TOKEN": "secret:files"}}
    )
    assert (stdio.transport, stdio.deployment, stdio.secret_env) == ("stdio", "local", ("TOKEN",))
    remote = from_settings({"name": "r", "url": "http://127.0.0.1:9/mcp"})
    assert (remote.transport, remote.deployment) == ("streamable-http", "remote")
    with pytest.raises(RegistryError, match="needs a url"):
        from_settings({"name": "h", "command": "x", "transport": "streamable-http"})
    with pytest.raises(RegistryError, match="container options"):
        from_settings({"name": "c", "image": "i", "url": "http://x/mcp", "container": {"privileged": True}})


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
_pkg_keys = st.sampled_from(
    [
        "registryType",
        "identifier",
        "version",
        "runtimeHint",
        "transport",
        "packageArguments",
        "environmentVariables",
        "type",
        "url",
        "name",
        "value",
        "isSecret",
    ]
)
_field = st.recursive(
    _json,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_pkg_keys, children, max_size=6),
    max_leaves=20,
)
_keys = st.sampled_from(
    ["name", "version", "packages", "remotes", "description", "transport", "registryType"]
)


@given(st.dictionaries(_keys, _field, max_size=6))
def test_any_json_is_a_spec_or_a_registry_error(doc: dict[str, Any]) -> None:
    with contextlib.suppress(RegistryError):
        from_server_json(doc, origin="fuzz.json")
