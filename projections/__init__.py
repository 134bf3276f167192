"""Projections: pure functions from domain events to graph operations, the graph-store adapters, and the
query catalog."""
