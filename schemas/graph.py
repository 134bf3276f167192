"""The graph schema: what each domain declares (its node labels and relationship types), collected.

Store DDL, constraints and upsert statements are generated from these declarations, never written by hand
(the building blocks and their merge rules: schemas/model.py). A relationship type that several domains
use (ACTED_ON, HAPPENED_ON) is declared by each with its own endpoints and merged here.
"""

from __future__ import annotations

from types import ModuleType

from schemas import core
from schemas.events import (
    commands,
    containers,
    exposure,
    network,
    packages,
    permissions,
    security,
    services,
    vulnerabilities,
)
from schemas.model import NodeLabel, RelType

# One entry per domain: a new domain adds its schema module here.
DOMAINS: tuple[ModuleType, ...] = (
    core,
    packages,
    commands,
    containers,
    services,
    security,
    network,
    vulnerabilities,
    permissions,
    exposure,
)


def _collect_nodes() -> dict[str, NodeLabel]:
    nodes: dict[str, NodeLabel] = {}
    for domain in DOMAINS:
        for node in domain.NODES:
            if node.label in nodes:
                raise ValueError(f"node label {node.label} declared twice ({domain.__name__})")
            nodes[node.label] = node
    return nodes


def _collect_rels() -> dict[str, RelType]:
    rels: dict[str, RelType] = {}
    for domain in DOMAINS:
        for rel in domain.RELS:
            seen = rels.get(rel.type)
            if seen is None:
                rels[rel.type] = rel
            elif seen.props != rel.props:
                raise ValueError(
                    f"relationship {rel.type} declared with other properties ({domain.__name__})"
                )
            else:
                endpoints = seen.endpoints + tuple(e for e in rel.endpoints if e not in seen.endpoints)
                rels[rel.type] = RelType(rel.type, endpoints, seen.props, seen.description or rel.description)
    return rels


NODES: dict[str, NodeLabel] = _collect_nodes()
RELS: dict[str, RelType] = _collect_rels()
