"""Scale: does pipeline throughput hold as the history grows? Biggest size vs smallest, in events/s."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.common import fmt, say
from bench.pipeline import DrainRun, drain_run, duplicates_note
from bench.results import Figure, Section, Target

TARGET = Target(">=", 0.8, "× smallest")


def default_sizes(events: int) -> list[int]:
    """events/10 and events; from a million up also events/100 (10k, 100k, 1M)."""
    sizes = {events // 10, events}
    if events >= 1_000_000:
        sizes.add(events // 100)
    return sorted(s for s in sizes if s > 0)


def run(
    work: Path,
    *,
    sizes: Sequence[int],
    batch_size: int = 2000,
    cache: dict[int, DrainRun] | None = None,
) -> Section:
    section = Section("scale")
    runs: list[DrainRun] = []
    for size in sorted(set(sizes)):
        hit = None if cache is None else cache.get(size)
        if hit is None:
            say(f"scale: {size:,} events, logs -> graph until drained")
            hit = drain_run(size, work, batch_size=batch_size)
            if cache is not None:
                cache[size] = hit
        else:
            say(f"scale: {size:,} events measured by the pipeline benchmark already")
        runs.append(hit)
    smallest, biggest = runs[0], runs[-1]
    for r in runs:
        section.figures.append(
            Figure(
                f"logs → graph, {r.changes:,} events",
                r.rate,
                "events/s",
                note=duplicates_note(r.changes, r.graph_events),
            )
        )
    if len(runs) > 1:
        section.figures.append(
            Figure(
                f"throughput {biggest.changes:,} vs {smallest.changes:,} events",
                biggest.rate,
                "events/s",
                baseline=smallest.rate,
                baseline_label=f"events/s at {smallest.changes:,}",
                target=TARGET,
                target_on="ratio",
            )
        )
    section.details += [
        "| events | seconds | events/s | Event nodes |",
        "|---|---|---|---|",
        *(f"| {r.changes:,} | {fmt(r.seconds)} | {fmt(r.rate)} | {r.graph_events:,} |" for r in runs),
    ]
    return section
