"""`python -m bench`: run the benchmarks of the embedded deployment and write bench/RESULTS.md."""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench import idle, parsers, pipeline, profiling, replay, scale
from bench.common import say
from bench.results import (
    RESULTS_FILE,
    Figure,
    Report,
    Section,
    console_table,
    machine_info,
    package_versions,
    write_results,
)

BENCHMARKS = ("all", "parsers", "pipeline", "replay", "scale", "idle")

DESCRIPTION = """\
Benchmarks of The Watchman's embedded deployment (SQLite log + LadybugDB graph).

Every figure is printed beside a baseline measured in the same run, their ratio (value / baseline)
and the target from the issue with met/MISSED; the same table, the machine, the versions and a
profile of the slowest pipeline stage go to bench/RESULTS.md. Everything runs in throw-away
directories that are removed afterwards. An "event" is one package change (one Event node).

benchmarks:
  parsers   apt, dpkg, dnf-rpm parsers on generated logs of --lines lines each (lines/s);
            baseline: reading the same file without parsing. Target >= 200,000 lines/s.
  pipeline  apt + dpkg logs -> EmbeddedPipeline -> LadybugDB until drained, over --events events
            (events/s); then each stage alone (ingest, process, project) to show where time goes,
            and a pyinstrument profile of the slowest stage. Baseline: batched SQLite appends of as
            many ~600-byte records (batches of 2000). Target >= 10,000 events/s.
  replay    watchman.replay.rebuild of a fresh graph from --events domain records (seconds);
            baseline: reading and decoding the same records. Target: 1,000,000 in <= 30 s (smaller
            sizes are judged pro rata). 1M is opt-in: --events 1000000 (adds a 100k run).
  scale     pipeline events/s at --events/10 and --events (and /100 from 1M up); the biggest size's
            throughput over the smallest's must stay >= 0.8.
  idle      `python -m watchman run` on empty log files for --idle-seconds: CPU % of one core and
            peak RSS; baseline: a bare sleeping python. Targets <= 2 % and <= 200 MB.
  all       all of the above (default); scale reuses the pipeline run of the same size.
"""

EPILOG = """\
sizes and durations (defaults; --quick in brackets):
  --events 100,000 [10,000]   --lines 200,000 [200,000]   --idle-seconds 60 [10]   --repeat 3
  tests.support.histories.generate makes about 4.5 changes per apt session, each told by apt and
  dpkg: 100,000 events are ~22,000 sessions, ~430,000 log lines and ~190,000 raw records.

examples:
  python -m bench all --quick                  # everything, small: a few minutes
  python -m bench                              # everything at full size (100k events, 60 s idle)
  python -m bench parsers --lines 500000
  python -m bench pipeline --events 50000 --no-profile
  python -m bench replay --events 1000000      # the 1M replay target (and 100k beside it)
  python -m bench scale --scale-sizes 10000 100000 1000000
  python -m bench idle --idle-seconds 300 --output /tmp/idle.md

Do not run it while other heavy work shares the machine: the figures would measure that too (the
load average at start and end is recorded in RESULTS.md). Benchmarks never assert timings in tests.
"""


def positive(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m bench",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "benchmark", nargs="?", default="all", choices=BENCHMARKS, help="what to run (default all)"
    )
    ap.add_argument("--quick", action="store_true", help="small sizes for a check that the harness works")
    ap.add_argument("--events", type=positive, help="events for pipeline and replay; biggest scale size")
    ap.add_argument("--lines", type=positive, help="lines per generated log for the parsers")
    ap.add_argument("--replay-events", type=positive, nargs="+", metavar="N", help="replay sizes")
    ap.add_argument("--scale-sizes", type=positive, nargs="+", metavar="N", help="scale sizes (events)")
    ap.add_argument("--idle-seconds", type=seconds, help="how long the idle daemon is measured")
    ap.add_argument("--repeat", type=positive, default=3, help="repetitions of the cheap timings (median)")
    ap.add_argument("--batch-size", type=positive, default=2000, help="pipeline batch size (the default's)")
    ap.add_argument("--no-profile", action="store_true", help="skip the pyinstrument profile")
    ap.add_argument("--profile-events", type=positive, help="events for the profile (default: --events)")
    ap.add_argument(
        "--output", type=Path, default=RESULTS_FILE, help=f"results file (default {RESULTS_FILE})"
    )
    ap.add_argument("--tmp", type=Path, help="parent of the scratch directories (default: the system's)")
    return ap


def distributed_section() -> Section:
    pending = "not measured yet: needs the distributed deployment (Kafka, Faust, Neo4j)"
    return Section(
        "distributed",
        [
            Figure("Kafka → Faust → Neo4j pipeline throughput", None, "events/s", note=pending),
            Figure("replay into Neo4j", None, "s", note=pending),
        ],
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quick = args.quick
    events = args.events or (10_000 if quick else 100_000)
    lines = args.lines or 200_000
    idle_seconds = args.idle_seconds or (10.0 if quick else 60.0)
    chosen = set(BENCHMARKS[1:]) if args.benchmark == "all" else {args.benchmark}
    command = "python -m bench " + shlex.join(sys.argv[1:] if argv is None else list(argv))

    with tempfile.TemporaryDirectory(prefix="watchman-bench-", dir=args.tmp) as tmp:
        work = Path(tmp)
        report = Report(command.strip(), datetime.now(UTC), machine_info(work), package_versions())
        cache: dict[int, pipeline.DrainRun] = {}
        stages: pipeline.StagesRun | None = None
        if "parsers" in chosen:
            report.sections.append(parsers.run(work, lines=lines, repeat=args.repeat))
        if "pipeline" in chosen:
            section, stages = pipeline.run(
                work, events=events, batch_size=args.batch_size, repeat=args.repeat, cache=cache
            )
            report.sections.append(section)
        if "scale" in chosen:
            sizes = args.scale_sizes or scale.default_sizes(events)
            report.sections.append(scale.run(work, sizes=sizes, batch_size=args.batch_size, cache=cache))
        if "replay" in chosen:
            sizes = args.replay_events or replay.default_sizes(events)
            report.sections.append(replay.run(work, sizes=sizes, repeat=args.repeat))
        if "idle" in chosen:
            report.sections.append(idle.run(work, seconds=idle_seconds))
        if stages is not None and not args.no_profile:
            if profiling.available():
                prof = profiling.profile_stage(
                    stages.slowest, args.profile_events or events, work, batch_size=args.batch_size
                )
                report.profile = profiling.markdown(prof)
            else:
                report.profile = ["pyinstrument is not installed: `pip install -e '.[dev]'`, then re-run."]
        if args.benchmark == "all":
            report.sections.append(distributed_section())
        report.finished = datetime.now(UTC)

    print(console_table(report))
    path = write_results(report, args.output)
    say(f"results written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
