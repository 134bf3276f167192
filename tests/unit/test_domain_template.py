"""Every domain is a slice that the collectors take whole (docs/architecture.md, "Adding a domain").

Parametrised over the domains the collectors know; a new domain gets these checks by being collected.
Copy the shape of the per-stage tests below for a new domain's own tests.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from types import ModuleType

import pytest

from processors.registry import ROUTES
from projections.catalog import QUERIES, resolve
from projections.registry import PROJECTORS
from schemas import graph, topics
from schemas.events import event_types, is_command
from schemas.model import NodeLabel, RelType, Topic

SCHEMA_DOMAINS = [d for d in topics.DOMAINS if d.__name__ != "schemas.core"]
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _name(domain: ModuleType) -> str:
    return domain.__name__.rsplit(".", 1)[-1]


def test_graph_and_topic_collectors_take_the_same_domains() -> None:
    assert [d.__name__ for d in graph.DOMAINS] == [d.__name__ for d in topics.DOMAINS]


@pytest.mark.parametrize("domain", SCHEMA_DOMAINS, ids=_name)
def test_schema_module_declares_its_slice(domain: ModuleType) -> None:
    assert domain.TOPICS and all(isinstance(t, Topic) for t in domain.TOPICS)
    assert all(isinstance(n, NodeLabel) for n in domain.NODES)
    assert all(isinstance(r, RelType) for r in domain.RELS)
    for t in domain.TOPICS:
        assert topics.TOPICS[t.name] is t
    for n in domain.NODES:
        assert graph.NODES[n.label] is n
    for r in domain.RELS:
        # Shared relationship types are merged: the collected one holds this domain's endpoints.
        assert set(r.endpoints) <= set(graph.RELS[r.type].endpoints)


def test_every_relationship_endpoint_is_a_declared_label() -> None:
    for rel in graph.RELS.values():
        assert rel.endpoints, rel.type
        for a, b in rel.endpoints:
            assert a in graph.NODES and b in graph.NODES, (rel.type, a, b)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_every_route_reads_and_writes_registered_topics(route: object) -> None:
    assert route.source in topics.RAW_TOPICS  # type: ignore[attr-defined]
    assert route.sink in topics.DOMAIN_TOPICS  # type: ignore[attr-defined]
    for type_name in route.decide:  # type: ignore[attr-defined]
        assert type_name in event_types(), type_name


def test_every_event_type_that_is_no_observation_or_command_has_a_projection() -> None:
    observed = {t for r in ROUTES for t in r.decide}
    decided = {
        name
        for name, cls in event_types().items()
        if name not in observed and not is_command(name) and not name.endswith("Observed")
    }
    missing = sorted(decided - set(PROJECTORS))
    assert not missing, f"domain events without a projection: {missing}"


@pytest.mark.parametrize("module", ["packages", "commands", "containers", "network", "services", "security"])
def test_each_domain_declares_projectors_and_questions(module: str) -> None:
    projection = importlib.import_module(f"projections.{module}")
    questions = importlib.import_module(f"projections.queries.{module}")
    assert projection.PROJECTORS and set(projection.PROJECTORS) <= set(PROJECTORS)
    assert questions.QUERIES
    for q in questions.QUERIES:
        assert QUERIES[q.name] is q


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_every_question_resolves_without_literals_in_its_parameters(name: str) -> None:
    q = QUERIES[name]
    given = {p.name: p.default if p.default is not None else ("x" if p.type is str else 1) for p in q.params}
    cypher, params = resolve(name, given, NOW)
    for key in params:
        assert f"${key}" in cypher, f"{name}: parameter {key} is not used"
