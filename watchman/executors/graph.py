"""RebuildGraph: rebuild the graph from the event log, where this process owns the graph."""

from __future__ import annotations

from schemas.envelope import Envelope
from schemas.events import CommandPayload, CommandRejected, CommandSucceeded, RebuildGraph
from watchman.executors import ExecContext, Outcome, executor


@executor(RebuildGraph.TYPE)
def rebuild_graph(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    assert isinstance(payload, RebuildGraph)
    rebuild = ctx.services.get("rebuild_graph")
    if rebuild is None:
        # Distributed: the producer on this host does not own Neo4j; `watchman replay --yes` does it.
        return CommandRejected, "this process does not own the graph; run `watchman replay --yes`"
    return CommandSucceeded, rebuild()
