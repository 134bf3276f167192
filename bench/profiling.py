"""Where the time goes: profile one pipeline stage with pyinstrument and list its heaviest frames."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import say, scratch, timed
from bench.pipeline import STAGES, make_workload, open_pipeline, run_stage

TOP = 15
TREE_LINES = 60
# Frames of the harness and the interpreter's own start-up say nothing about the product.
_SKIP = ("bench/", "pyinstrument", "<frozen")


@dataclass
class FrameTime:
    function: str
    where: str
    seconds: float


@dataclass
class Profile:
    stage: str
    changes: int
    seconds: float
    own: list[FrameTime] = field(default_factory=list)
    cumulative: list[FrameTime] = field(default_factory=list)
    tree: str = ""


def available() -> bool:
    try:
        import pyinstrument  # noqa: F401
    except ImportError:
        return False
    return True


def _aggregate(root: Any) -> tuple[list[FrameTime], list[FrameTime]]:
    """Own time and cumulative time per function over the whole tree (recursion counted once)."""
    own: dict[tuple[str, str], float] = defaultdict(float)
    cumulative: dict[tuple[str, str], float] = defaultdict(float)

    def walk(frame: Any, on_stack: frozenset[tuple[str, str]]) -> None:
        key = (frame.function, f"{frame.file_path_short}:{frame.line_no}")
        own[key] += frame.total_self_time
        if key not in on_stack:
            cumulative[key] += frame.time
        for child in frame.children:
            if not child.is_synthetic:
                walk(child, on_stack | {key})

    walk(root, frozenset())

    def top(table: dict[tuple[str, str], float]) -> list[FrameTime]:
        rows = [FrameTime(f, w, s) for (f, w), s in table.items() if not any(x in w for x in _SKIP)]
        return sorted(rows, key=lambda r: r.seconds, reverse=True)[:TOP]

    return top(own), top(cumulative)


def profile_stage(stage: str, changes: int, work: Path, *, batch_size: int = 2000) -> Profile:
    """Run the stages before `stage` unprofiled, then `stage` to completion under pyinstrument."""
    from pyinstrument import Profiler

    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join(STAGES)}")
    with scratch(work, f"profile-{stage}") as d:
        wl = make_workload(changes, d)
        with open_pipeline(wl, d, batch_size) as p:
            for earlier in STAGES[: STAGES.index(stage)]:
                run_stage(p, earlier)
            say(f"profile: {stage} stage over {wl.changes:,} events under pyinstrument")
            profiler = Profiler(interval=0.001)
            profiler.start()
            try:
                seconds, _ = timed(lambda: run_stage(p, stage))
            finally:
                profiler.stop()
    root = profiler.last_session.root_frame() if profiler.last_session else None
    out = Profile(stage, wl.changes, seconds)
    if root is not None:
        out.own, out.cumulative = _aggregate(root)
    text = profiler.output_text(unicode=False, color=False, processor_options={"filter_threshold": 0.01})
    out.tree = _from_stage(text)
    return out


def _from_stage(text: str) -> str:
    """The call tree from the stage's own frame down (no banner, no harness frames), dedented."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "EmbeddedPipeline." in line), None)
    if start is None:
        return "\n".join(lines[:TREE_LINES])
    indent = len(lines[start]) - len(lines[start].lstrip(" "))
    out: list[str] = []
    for line in lines[start:]:
        if not line.strip():
            continue
        if line[:indent].strip(" |") or len(out) == TREE_LINES:
            break  # back at a harness frame above the stage, or long enough
        out.append(line[indent:])
    return "\n".join(out)


def markdown(p: Profile) -> list[str]:
    def table(rows: list[FrameTime]) -> list[str]:
        return [
            "| function | where | s | share |",
            "|---|---|---|---|",
            *(
                f"| `{r.function}` | `{r.where}` | {r.seconds:.2f} | {r.seconds / p.seconds:.0%} |"
                for r in rows
            ),
        ]

    return [
        f"The slowest stage of the staged pipeline run, **{p.stage}**, profiled alone over "
        f"{p.changes:,} events: {p.seconds:.2f} s under pyinstrument (1 ms sampling). Time spent inside "
        "C extensions (SQLite, LadybugDB, orjson, pydantic-core) counts as own time of the Python frame "
        "that called them.",
        "",
        "Top frames by own time:",
        "",
        *table(p.own),
        "",
        "Top frames by cumulative time (callees included):",
        "",
        *table(p.cumulative),
        "",
        "<details><summary>Call tree (frames ≥ 1 %)</summary>",
        "",
        "```",
        p.tree,
        "```",
        "",
        "</details>",
    ]
