"""The MCP server registry (pure: no I/O): a server as watchman.toml declares it, or as a `server.json`
in the official MCP registry's format (modelcontextprotocol/registry, schema 2025-09-29 / 2025-12-11),
turned into one ServerSpec the supervisor runs.

From a server.json: `name`, `version`, `description`; the first of `packages` (or the one whose
`registryType` the declaration names) gives the runtime: npm -> `npx -y identifier@version`, pypi ->
`uvx identifier==version`, oci -> a container of image `identifier[:version]`; `runtimeHint` overrides
the program; `packageArguments` with a `value` are appended; `transport` {type, url} says stdio or
streamable-http. `environmentVariables` name the variables it needs: an `isSecret` one is taken from
the secret of the same name (lower-cased: API_KEY -> secret:api_key) unless watchman.toml gives it.
With no package, the first `remotes` entry of type streamable-http is a remote server (health and
tools only: nothing to start). What watchman.toml sets (command, args, url, image, env, transport)
wins over the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Transport = Literal["stdio", "streamable-http"]
Deployment = Literal["local", "container", "remote"]
Restart = Literal["always", "on-failure", "never"]

SECRET_PREFIX = "secret:"


class RegistryError(ValueError):
    """A declaration that cannot be run; the message says which server and what is wrong."""


@dataclass(frozen=True)
class ServerSpec:
    name: str
    transport: Transport
    deployment: Deployment
    version: str = ""
    description: str = ""
    command: str = ""
    args: tuple[str, ...] = ()
    cwd: str = ""
    url: str = ""
    image: str = ""
    # name -> value or "secret:NAME" (resolved by the supervisor at start, never told in an event)
    env: Mapping[str, str] = field(default_factory=dict)
    secret_env: tuple[str, ...] = ()
    registry_type: str = ""
    identifier: str = ""
    origin: str = "watchman.toml"
    autostart: bool = True
    restart: Restart = "on-failure"
    # Docker options of a container server (network_mode, volumes, working_dir, user), as the SDK takes them.
    container: Mapping[str, Any] = field(default_factory=dict)

    @property
    def program(self) -> str:
        return self.command.rsplit("/", 1)[-1] if self.command else ""

    @property
    def supervised(self) -> bool:
        """Does The Watchman run it (a process or a container), or only probe it (a remote)?"""
        return self.deployment != "remote"


def _str(d: Mapping[str, Any], key: str, where: str) -> str:
    v = d.get(key, "")
    if not isinstance(v, str):
        raise RegistryError(f"{where}: {key} must be a string, got {type(v).__name__}")
    return v


def _list(d: Mapping[str, Any], key: str, where: str) -> list[Any]:
    v = d.get(key)
    if v is None:
        return []
    if not isinstance(v, list):
        raise RegistryError(f"{where}: {key} must be a list, got {type(v).__name__}")
    return v


def _transport(value: str, where: str) -> Transport:
    if value in ("stdio", "streamable-http"):
        return value  # type: ignore[return-value]
    if value == "sse":
        raise RegistryError(
            f"{where}: the sse transport is deprecated and not supported; use streamable-http"
        )
    raise RegistryError(f"{where}: unknown transport {value!r} (stdio or streamable-http)")


def _runtime(pkg: Mapping[str, Any], where: str) -> tuple[str, list[str], Deployment, str]:
    """(command, args, deployment, image) of one package entry."""
    rtype = _str(pkg, "registryType", where)
    ident = _str(pkg, "identifier", where)
    version = _str(pkg, "version", where)
    hint = _str(pkg, "runtimeHint", where)
    if not ident:
        raise RegistryError(f"{where}: a package needs an identifier")
    if rtype == "oci":
        image = ident if (":" in ident.rsplit("/", 1)[-1] or not version) else f"{ident}:{version}"
        return "", [], "container", image
    if rtype == "npm":
        return hint or "npx", ["-y", f"{ident}@{version}" if version else ident], "local", ""
    if rtype == "pypi":
        return hint or "uvx", [f"{ident}=={version}" if version else ident], "local", ""
    if hint:
        return hint, [ident], "local", ""
    raise RegistryError(
        f"{where}: registryType {rtype!r} needs a runtimeHint (or a command in watchman.toml)"
    )


def _package_args(pkg: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for arg in _list(pkg, "packageArguments", "a package"):
        if not isinstance(arg, Mapping) or "value" not in arg:
            continue  # a valueHint without a value is for a person to fill in
        if arg.get("type") == "named":
            out += [str(arg.get("name", "")), str(arg["value"])]
        else:
            out.append(str(arg["value"]))
    return out


def from_server_json(
    doc: Mapping[str, Any],
    *,
    origin: str,
    registry_type: str = "",
    overrides: Mapping[str, Any] | None = None,
) -> ServerSpec:
    """The ServerSpec of a parsed server.json, with watchman.toml's `overrides` on top."""
    o = dict(overrides or {})
    where = f"{origin}"
    if not isinstance(doc, Mapping):
        raise RegistryError(f"{where}: a server.json is a JSON object")
    name = str(o.get("name") or _str(doc, "name", where))
    if not name:
        raise RegistryError(f"{where}: no name")
    where = f"{origin} ({name})"
    packages = [p for p in _list(doc, "packages", where) if isinstance(p, Mapping)]
    remotes = [r for r in _list(doc, "remotes", where) if isinstance(r, Mapping)]
    if registry_type:
        packages = [p for p in packages if p.get("registryType") == registry_type]
        if not packages:
            raise RegistryError(f"{where}: no package of registryType {registry_type!r}")
    env: dict[str, str] = {}
    secret_env: list[str] = []
    command, deployment, image, url = "", "remote", "", ""
    args: list[str] = []
    rtype = ident = ""
    transport: str = ""
    if packages:
        pkg = packages[0]
        command, args, deployment, image = _runtime(pkg, where)
        args += _package_args(pkg)
        rtype, ident = _str(pkg, "registryType", where), _str(pkg, "identifier", where)
        t = pkg.get("transport") or {}
        transport = str(t.get("type", "stdio")) if isinstance(t, Mapping) else "stdio"
        url = str(t.get("url", "")) if isinstance(t, Mapping) else ""
        for var in _list(pkg, "environmentVariables", where):
            if not isinstance(var, Mapping) or not var.get("name"):
                continue
            vname = str(var["name"])
            if var.get("isSecret"):
                secret_env.append(vname)
                env[vname] = SECRET_PREFIX + vname.lower()
            elif "value" in var:
                env[vname] = str(var["value"])
            elif "default" in var:
                env[vname] = str(var["default"])
    elif remotes:
        r = remotes[0]
        transport, url = str(r.get("type", "")), str(r.get("url", ""))
    else:
        raise RegistryError(f"{where}: neither packages nor remotes")
    given_env = o.get("env") or {}
    if not isinstance(given_env, Mapping):
        raise RegistryError(f"{where}: env must be a table of NAME = value")
    env.update({str(k): str(v) for k, v in dict(given_env).items()})
    secret_env += [k for k, v in env.items() if v.startswith(SECRET_PREFIX) and k not in secret_env]
    return _finish(
        name=name,
        transport=_transport(str(o.get("transport") or transport or "stdio"), where),
        deployment=o.get("deployment") or deployment,
        version=str(o.get("version") or _str(doc, "version", where)),
        description=_str(doc, "description", where),
        command=str(o.get("command") or command),
        args=tuple(o["args"]) if o.get("args") is not None else tuple(args),
        cwd=str(o.get("cwd") or ""),
        url=str(o.get("url") or url),
        image=str(o.get("image") or image),
        env=env,
        secret_env=tuple(secret_env),
        registry_type=rtype,
        identifier=ident,
        origin=origin,
        autostart=bool(o.get("autostart", True)),
        restart=o.get("restart") or "on-failure",
        container=dict(o.get("container") or {}),
    )


def from_settings(entry: Mapping[str, Any]) -> ServerSpec:
    """A server declared wholly in watchman.toml ([[mcp.servers]] without server_json)."""
    name = str(entry.get("name") or "")
    if not name:
        raise RegistryError("an [[mcp.servers]] entry needs a name")
    where = f"watchman.toml ({name})"
    env = {str(k): str(v) for k, v in dict(entry.get("env") or {}).items()}
    command, url, image = (
        str(entry.get("command") or ""),
        str(entry.get("url") or ""),
        str(entry.get("image") or ""),
    )
    transport = _transport(
        str(entry.get("transport") or ("streamable-http" if url and not command else "stdio")), where
    )
    deployment = entry.get("deployment") or ("container" if image else "local" if command else "remote")
    return _finish(
        name=name,
        transport=transport,
        deployment=deployment,
        version=str(entry.get("version") or ""),
        description=str(entry.get("description") or ""),
        command=command,
        args=tuple(str(a) for a in entry.get("args") or ()),
        cwd=str(entry.get("cwd") or ""),
        url=url,
        image=image,
        env=env,
        secret_env=tuple(k for k, v in env.items() if v.startswith(SECRET_PREFIX)),
        origin="watchman.toml",
        autostart=bool(entry.get("autostart", True)),
        restart=entry.get("restart") or "on-failure",
        container=dict(entry.get("container") or {}),
    )


CONTAINER_OPTIONS = frozenset({"network_mode", "volumes", "working_dir", "user"})


def _finish(**kw: Any) -> ServerSpec:
    spec = ServerSpec(**kw)
    where = f"{spec.origin} ({spec.name})"
    if spec.deployment not in ("local", "container", "remote"):
        raise RegistryError(f"{where}: deployment must be local, container or remote")
    if spec.restart not in ("always", "on-failure", "never"):
        raise RegistryError(f"{where}: restart must be always, on-failure or never")
    if spec.transport == "streamable-http" and not spec.url:
        raise RegistryError(f"{where}: a streamable-http server needs a url")
    if spec.deployment == "local" and not spec.command:
        raise RegistryError(f"{where}: a local server needs a command")
    if spec.deployment == "container" and not spec.image:
        raise RegistryError(f"{where}: a container server needs an image")
    if spec.deployment == "container" and spec.transport != "streamable-http":
        raise RegistryError(
            f"{where}: a container server is probed over streamable-http (give transport and url)"
        )
    if set(spec.container) - CONTAINER_OPTIONS:
        raise RegistryError(f"{where}: container options are {', '.join(sorted(CONTAINER_OPTIONS))}")
    if spec.deployment == "remote" and spec.transport != "streamable-http":
        raise RegistryError(f"{where}: a remote server needs transport streamable-http and a url")
    return spec
