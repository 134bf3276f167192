"""The package projection and the query catalog (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from projections.catalog import QUERIES, CatalogError, resolve
from projections.graph_ops import UpsertNode, UpsertRel, fold
from projections.packages import project, software_key
from schemas.envelope import Envelope
from schemas.events import PackageRemoved

T = datetime(2024, 5, 1, 12, tzinfo=UTC)


def removed_event() -> tuple[Envelope, PackageRemoved]:
    p = PackageRemoved(
        package="vim",
        arch="amd64",
        old_version="2:9.0-1",
        epoch="2",
        action="remove",
        ecosystem="deb",
        sources=("apt", "dpkg"),
        requested_by="bob",
    )
    env = Envelope(
        id="e1",
        type=p.TYPE,
        schema_version=p.VERSION,
        host="h1",
        source="processors.packages",
        ts=T,
        observed_at=T,
        subject="vim",
        payload=p.model_dump(mode="json"),
    )
    return env, p


def test_projection_builds_event_software_host_and_links() -> None:
    env, p = removed_event()
    ops = project(env, p)
    batch = fold(ops)  # also validates every op against the graph schema
    key = software_key("h1", "deb", "vim", "amd64")
    assert key == "h1/deb/vim:amd64"
    sw = batch.nodes["Software"][key].props
    assert (sw["state"], sw["version"], sw["name"]) == ("removed", "2:9.0-1", "vim")
    ev = batch.nodes["Event"]["e1"].props
    assert (ev["action"], ev["source"], ev["requested_by"], ev["ts"]) == ("remove", "apt,dpkg", "bob", T)
    assert UpsertRel("ACTED_ON", "Event", "e1", "Software", key) in ops
    assert UpsertRel("INSTALLED_ON", "Software", key, "Host", "h1") in ops
    assert any(isinstance(o, UpsertNode) and o.label == "Host" for o in ops)


@pytest.mark.parametrize(
    ("arch", "native", "key"),
    [
        ("amd64", "amd64", "h/deb/vim"),  # the host's own arch
        ("all", "amd64", "h/deb/vim"),  # architecture-independent
        (None, "amd64", "h/deb/vim"),  # the old apt format writes none
        ("i386", "amd64", "h/deb/vim:i386"),  # multiarch: a foreign package is its own software
        ("noarch", "x86_64", "h/deb/vim"),
        ("amd64", None, "h/deb/vim:amd64"),  # native unknown (older events): as written
        (None, None, "h/deb/vim"),
    ],
)
def test_software_key_names_the_arch_only_when_foreign(
    arch: str | None, native: str | None, key: str
) -> None:
    assert software_key("h", "deb", "vim", arch, native) == key


def test_catalog_resolves_defaults_and_times() -> None:
    now = datetime(2024, 5, 10, tzinfo=UTC)
    cypher, params = resolve("installed-this-week", {}, now)
    assert "$since" in cypher
    assert params == {"since": now - timedelta(days=7)}
    _, params = resolve("last-updated", {"name": "docker"}, now)
    assert params["dash"] == "docker-" and params["limit"] == 5
    assert params["prefix"] is False  # the exact name unless asked to widen
    _, params = resolve("last-updated", {"name": "docker", "prefix": "true"}, now)
    assert params["prefix"] is True
    _, params = resolve("python-packages-installed", {"days": "30", "term": "Python"}, now)
    assert params["term"] == "python" and params["since"] == now - timedelta(days=30)


def test_catalog_errors_teach() -> None:
    now = datetime(2024, 5, 10, tzinfo=UTC)
    with pytest.raises(CatalogError, match="known:"):
        resolve("nope", {}, now)
    with pytest.raises(CatalogError, match="unknown parameter"):
        resolve("installed-this-week", {"weeks": 1}, now)
    with pytest.raises(CatalogError, match="must be int"):
        resolve("installed-this-week", {"days": "seven"}, now)
    with pytest.raises(CatalogError, match="required"):
        resolve("package-history", {}, now)


def test_catalog_cypher_is_parameterised() -> None:
    for q in QUERIES.values():
        for p in q.params:
            assert "{" + p.name not in q.cypher
        assert "'" not in q.cypher.replace("'install'", "").replace("'upgrade'", "").replace(
            "'downgrade'", ""
        ).replace("'reinstall'", "").replace("'installed'", "").replace("''", ""), q.name


def test_an_observed_package_takes_the_database_state_at_the_snapshot_time() -> None:
    from processors.packages import current_key
    from projections.packages import project_observed
    from schemas.events import PackageObservedInstalled

    p = PackageObservedInstalled(
        package="libc6",
        arch="i386",
        native_arch="amd64",
        new_version="2.36-9",
        old_version="2.36-8",
        ecosystem="deb",
        source="dpkg-status",
        state="installed",
        known_version="2.36-8",
        known_state="installed",
    )
    env = Envelope(
        id="o1",
        type=p.TYPE,
        schema_version=p.VERSION,
        host="h1",
        source="processors.packages",
        ts=T,
        observed_at=T,
        subject="libc6",
        payload=p.model_dump(mode="json"),
    )
    ops = project_observed(env, p)
    batch = fold(ops)
    key = software_key("h1", "deb", "libc6", "i386", "amd64")
    sw = batch.nodes["Software"][key]
    assert (sw.props["state"], sw.props["version"], sw.ts) == ("installed", "2.36-9", T)
    ev = batch.nodes["Event"]["o1"].props
    assert (ev["action"], ev["source"], ev["old_version"]) == ("observed-installed", "dpkg-status", "2.36-8")
    # The processor names the package as the graph does (its own key space), foreign arch included.
    assert current_key("h1", "deb", "libc6", "i386", "amd64") == "current/" + key
    assert current_key("h1", "deb", "tzdata", "all", "amd64") == "current/h1/deb/tzdata"
