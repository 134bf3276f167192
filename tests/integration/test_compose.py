"""docker-compose.yml checked without Docker: services, healthchecks, ports, variables, mounts, configs."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from watchman.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
WATCHMAN_SERVICES = ("producer", "worker", "projector")
# What the issue asks for, by compose service name, and the image each must run (None: built here).
EXPECTED_IMAGES = {
    "kafka": "apache/kafka:4.",
    "neo4j": "neo4j:5.26",
    "kafka-ui": "provectuslabs/kafka-ui:",
    "prometheus": "prom/prometheus:",
    "grafana": "grafana/grafana:",
    "producer": None,
    "worker": None,
    "projector": None,
}
STATEFUL = ("kafka", "neo4j", "prometheus", "grafana", *WATCHMAN_SERVICES)
# ${VAR}, ${VAR:-default}, ${VAR:?error}; `$${...}` is escaped and left to the container's shell.
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    out = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: not KEY=value: {line!r}"
            out[key.strip()] = value.strip()
    return out


def _interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable substitution, with `env` as the .env file: ${VAR}, ${VAR:-default},
    ${VAR:?error}; `$$` is a literal dollar."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
        value = env.get(name)
        if op in (":-", "-") and not value:
            return arg
        if op in (":?", "?") and not value:
            raise AssertionError(f"compose would refuse to start: {arg}")
        return value or ""

    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}", one, text)


@pytest.fixture(scope="module")
def compose(env_example: dict[str, str]) -> dict[str, Any]:
    """docker-compose.yml as `docker compose config` would see it with .env copied from .env.example."""
    data = yaml.safe_load(_interpolate(COMPOSE_FILE.read_text(), env_example))
    assert isinstance(data, dict)
    return data


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = compose["services"]
    assert isinstance(services, dict)
    return services


def _bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of the service's volumes that are host paths (short syntax)."""
    out = []
    for spec in service.get("volumes", []):
        assert isinstance(spec, str), "volumes use the short syntax SOURCE:TARGET[:MODE]"
        source, target = spec.split(":")[:2]
        if source.startswith(("./", "/", "../")):
            out.append((source, target))
    return out


def _command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return list(command) if isinstance(command, list) else shlex.split(command)


def _api_port(service: dict[str, Any]) -> int:
    args = _command(service)
    listen = args[args.index("--api-listen") + 1]
    host, _, port = listen.rpartition(":")
    # Inside the container the API must listen beyond loopback, or Prometheus cannot reach it; the
    # published host port stays on 127.0.0.1 (test_every_published_port_binds_loopback).
    assert host == "0.0.0.0"
    return int(port)


def test_every_service_of_the_issue_is_there_with_its_image(compose: dict[str, Any]) -> None:
    services = _services(compose)
    assert set(EXPECTED_IMAGES) <= set(services)
    for name, image in EXPECTED_IMAGES.items():
        if image is None:
            assert services[name]["build"] == ".", name
            assert (ROOT / "Dockerfile").is_file()
        else:
            assert str(services[name]["image"]).startswith(image), (name, services[name]["image"])


def test_every_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        for key in ("interval", "timeout", "retries"):
            assert key in check, f"{name} healthcheck without {key}"


def test_watchman_healthchecks_ask_the_admin_api_health_endpoint(compose: dict[str, Any]) -> None:
    for name in WATCHMAN_SERVICES:
        service = _services(compose)[name]
        check = " ".join(service["healthcheck"]["test"])
        assert f"http://127.0.0.1:{_api_port(service)}/health" in check, name


def test_depends_on_names_real_services_with_conditions(compose: dict[str, Any]) -> None:
    services = _services(compose)
    for name, service in services.items():
        deps = service.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on with conditions, not a bare list"
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert spec["condition"] == "service_healthy", (name, dep)
            assert "healthcheck" in services[dep]
    assert set(services["projector"]["depends_on"]) == {"kafka", "neo4j"}
    assert {"kafka"} <= set(services["producer"]["depends_on"])
    assert {"kafka"} <= set(services["worker"]["depends_on"])
    assert {"prometheus"} <= set(services["grafana"]["depends_on"])


def test_every_published_port_binds_loopback(compose: dict[str, Any]) -> None:
    published = 0
    for name, service in _services(compose).items():
        for port in service.get("ports", []):
            assert isinstance(port, str), f"{name}: ports as HOST_IP:HOST_PORT:CONTAINER_PORT strings"
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
            assert len(port.split(":")) == 3, port
            published += 1
    assert published >= len(EXPECTED_IMAGES)


def test_named_volumes_are_declared_and_stateful_services_keep_state(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in _services(compose).items():
        named = [v.split(":")[0] for v in service.get("volumes", []) if not v.startswith(("./", "/", "../"))]
        for volume in named:
            assert volume in declared, f"{name} uses undeclared volume {volume}"
        used |= set(named)
        if name in STATEFUL:
            assert named, f"{name} keeps its state in no volume"
    assert declared == used, f"declared but unused: {declared - used}"


def test_every_mount_from_the_repository_exists(compose: dict[str, Any]) -> None:
    mounts = 0
    for name, service in _services(compose).items():
        for source, target in _bind_mounts(service):
            if source.startswith("/"):
                continue  # the host's own files (/var/log), not ours
            assert (ROOT / source).exists(), f"{name} mounts {source} -> {target}, which does not exist"
            mounts += 1
    assert mounts >= 4


def test_every_variable_is_in_env_example_and_every_example_variable_is_used(
    compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    text = COMPOSE_FILE.read_text()
    used = set(VARIABLE.findall(text))
    used |= {s["environment"] for s in compose.get("secrets", {}).values() if "environment" in s}
    assert used - set(env_example) == set(), "used in docker-compose.yml but missing from .env.example"
    assert set(env_example) - used == set(), "in .env.example but unused"


def test_env_example_holds_no_real_secret(env_example: dict[str, str]) -> None:
    for key, value in env_example.items():
        if any(word in key for word in ("PASSWORD", "TOKEN")):
            assert value == "change-me", f"{key} must be a placeholder in .env.example"


def test_secrets_are_declared_and_the_watchman_settings_read_them(compose: dict[str, Any]) -> None:
    declared = compose["secrets"]
    fields = Settings.model_fields
    for name in WATCHMAN_SERVICES:
        service = _services(compose)[name]
        granted = {s if isinstance(s, str) else s["source"] for s in service["secrets"]}
        assert granted <= set(declared), name
        env = service["environment"]
        for key, value in env.items():
            # every WATCHMAN_* variable is a real setting (pydantic-settings: prefix WATCHMAN_, nested
            # settings joined by __, e.g. WATCHMAN_NETWORK__ENABLED)
            assert key.startswith("WATCHMAN_"), key
            top, _, nested = key.removeprefix("WATCHMAN_").lower().partition("__")
            assert top in fields, key
            if nested:
                model = fields[top].annotation
                assert isinstance(model, type) and nested in model.model_fields, key
            if str(value).startswith("/run/secrets/"):
                assert value.removeprefix("/run/secrets/") in granted, (name, key)
        # the password never as a plain environment variable of a Watchman process
        assert "WATCHMAN_NEO4J_PASSWORD" not in env
    grants = {s["source"]: s.get("target") for s in _services(compose)["prometheus"]["secrets"]}
    assert "watchman_metrics_token" in grants
    assert "watchman_api_token" not in grants, "Prometheus holds the metrics-only token"


def test_dockerfile_builds_the_cli_image() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, flags=re.M)
    for package in ("libsystemd-dev", "pkg-config", "gcc"):
        assert package in text
    assert 'ENTRYPOINT ["watchman"]' in text
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, flags=re.M):
        for copied in line.split()[:-1]:  # the last one is the destination
            assert (ROOT / copied).exists(), copied
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".venv" in ignored and ".git" in ignored


@pytest.mark.parametrize("service", WATCHMAN_SERVICES)
def test_watchman_service_commands_are_real_cli_commands(compose: dict[str, Any], service: str) -> None:
    args = _command(_services(compose)[service])
    proc = subprocess.run(
        [sys.executable, "-m", "watchman", args[0], "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for option in (a.split("=")[0] for a in args[1:] if a.startswith("--")):
        assert option in proc.stdout, f"`watchman {args[0]}` has no option {option}"


def _container_root(compose: dict[str, Any], service: str, root: Path) -> Path:
    """The service's files as its container sees them, under `root`: the repository's bind mounts
    copied to their targets and each granted secret written where compose mounts it."""
    svc = _services(compose)[service]
    for source, target in _bind_mounts(svc):
        if source.startswith("/"):
            continue
        dest = root / target.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        src = ROOT / source
        if src.is_dir():
            shutil.copytree(src, dest)
        else:
            shutil.copy(src, dest)
    for grant in svc.get("secrets", []):
        name = grant if isinstance(grant, str) else grant["source"]
        target = (grant.get("target") if isinstance(grant, dict) else None) or f"/run/secrets/{name}"
        dest = root / target.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text("not-a-real-token\n")
    return root


def test_promtool_accepts_the_compose_prometheus_as_mounted(compose: dict[str, Any], tmp_path: Path) -> None:
    svc = _services(compose)["prometheus"]
    config_arg = next(a for a in svc["command"] if a.startswith("--config.file="))
    config = _container_root(compose, "prometheus", tmp_path) / config_arg.split("=", 1)[1].lstrip("/")
    proc = subprocess.run(
        ["promtool", "check", "config", str(config)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 1 rule files found" in proc.stdout + proc.stderr


def test_prometheus_scrapes_each_watchman_service_on_its_api_port(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((ROOT / "infra/prometheus/prometheus.yml").read_text())
    targets = {
        target: job
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    for name in WATCHMAN_SERVICES:
        target = f"{name}:{_api_port(_services(compose)[name])}"
        assert target in targets, f"Prometheus does not scrape {target}"
        job = targets[target]
        assert job["metrics_path"] == "/admin/metrics"
        assert job["authorization"]["type"] == "Bearer"
        assert job["authorization"]["credentials_file"]


def test_grafana_provisioning_matches_the_mounts_and_the_dashboards(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    root = _container_root(compose, "grafana", tmp_path)
    datasources = yaml.safe_load((root / "etc/grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus"
    prometheus_port = _services(compose)["prometheus"]["ports"][0].split(":")[-1]
    assert source["url"] == f"http://prometheus:{prometheus_port}"
    providers = yaml.safe_load((root / "etc/grafana/provisioning/dashboards/watchman.yml").read_text())
    (provider,) = providers["providers"]
    dashboards = sorted((root / provider["options"]["path"].lstrip("/")).glob("*.json"))
    titles = set()
    for path in dashboards:
        board = json.loads(path.read_text())
        titles.add(board["title"])
        for panel in board["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == source["uid"], (path.name, panel["title"])
    assert {"Watchman pipeline health", "Watchman package activity"} <= titles
    home = _services(compose)["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (root / home.lstrip("/")).is_file()


def test_the_producer_reads_the_hosts_package_database_not_the_images(compose: dict[str, Any]) -> None:
    import orjson

    producer = compose["services"]["producer"]
    env = producer["environment"]
    (status,) = orjson.loads(env["WATCHMAN_PACKAGES__DPKG_STATUS"])
    mounts = [
        v.split(":") if isinstance(v, str) else [v["source"], v["target"], "ro"] for v in producer["volumes"]
    ]
    assert any(
        status.startswith(target + "/") and source == "/var/lib/dpkg" and "ro" in rest
        for source, target, *rest in mounts
    )
    assert orjson.loads(env["WATCHMAN_PACKAGES__RPMDB"]) == []
