"""`python -m bench`: run the benchmarks of both deployments and write bench/RESULTS.md."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench import (
    backup,
    configfiles,
    cve,
    distributed,
    fido2,
    idle,
    latency,
    mcp,
    obsidian,
    parsers,
    pipeline,
    profiling,
    replay,
    resources,
    retention,
    scale,
    storm,
    timetravel,
)
from bench.common import say
from bench.results import (
    RESULTS_FILE,
    Figure,
    Report,
    Section,
    console_table,
    load_average,
    machine_info,
    package_versions,
    run_info,
    write_results,
)

BENCHMARKS = (
    "all",
    "parsers",
    "pipeline",
    "replay",
    "scale",
    "idle",
    "latency",
    "distributed",
    "storm",
    "mcp",
    "obsidian",
    "resources",
    "configfiles",
    "backup",
    "cve",
    "fido2",
    "timetravel",
    "retention",
)
# Benchmarks that use the shared Kafka and Neo4j from infra/ (each holds the tests' lock while it does).
NEEDS_SERVERS = ("distributed",)

DESCRIPTION = """\
Benchmarks of The Watchman's two deployments: embedded (SQLite log + LadybugDB graph) and
distributed (Kafka + Faust worker + Neo4j, the real servers from infra/: `infra/services up`).

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
  replay    watchman.replay.rebuild of a fresh LadybugDB from --replay-events domain records
            (seconds); baseline: reading and decoding the same records. Target: 1,000,000 in
            <= 30 s (smaller sizes are judged pro rata). A full run measures 100k and 1M.
  scale     pipeline events/s at --scale-sizes (full run 10k, 100k, 300k; 1M on request); the
            biggest size's throughput over the smallest's must stay >= 0.8.
  idle      `python -m watchman run` and `python -m watchman produce` (to the infra/ Kafka) on empty
            logs for --idle-seconds: CPU % of one core and peak RSS; baseline: a bare sleeping
            python. Targets: daemon <= 2 % and <= 200 MB, producer <= 1 % and <= 60 MB.
  latency   a log line appended -> answerable by a query, p50/p99, under a steady --latency-rate
            changes/s, for --latency-seconds per deployment and poll_interval (1.0 s default, 0.1 s).
            Targets p99 <= 300 ms embedded, <= 1 s distributed.
  distributed  logs -> produce -> Kafka -> Faust -> Kafka -> project -> Neo4j over --events events;
            baselines: a raw aiokafka producer of the same raw records, and a minimal UNWIND MERGE
            loader into the same Neo4j. Targets >= 20,000 events/s and >= 0.8 x the loader. With
            --tuned-events N, also the pipeline with bench.tuned_worker (worker settings under
            trial) beside the worker as shipped. Then replay of --neo4j-replay-events domain
            records from Kafka into an empty Neo4j (target 1M <= 60 s, judged pro rata).
  storm     --storm-logins failed logins/s (1,000, OpenSSH's 3 lines each) from 200 addresses and
            --storm-lines chatty journal lines/s (5,000) for --storm-seconds (60), written through
            systemd-journal-remote into the journal the daemon follows, into `watchman run` and the
            distributed deployment: graph nodes added (target <= 1 % of lines), CPU and RSS of every
            process (daemon <= 1 core during, <= 5 % 30 s after), lag until the counts are exact.
  mcp       MCP servers (tests/support/mcp_server.py, the mcp SDK): ping over stdio and a handshake over
            streamable HTTP (ms, p50/p99), and how long a SIGKILLed stdio server is down under the
            supervisor (s). Not part of all: `python -m bench mcp --merge`.
  obsidian  a vault of --obsidian-notes notes (10,000) and --obsidian-media-mb MB of media (256; the
            issue's figure is 1024) syncing a one-note change over ssh (git remote + rsync media);
            baseline: the same change by hand with git add/commit/push. Target <= 2 s.
  resources the host sampler at a 10 s interval: a daemon with it beside one without, --idle-seconds
            (60): extra CPU % of a core (target <= 0.5) and extra RSS (<= 10 MB); one sample's time;
            the graph nodes a year of samples makes on this host, computed (target < 100,000).
  configfiles  the config scanner: first scan of 2,000 generated files (baseline: hashing them alone),
            an idle rescan (baseline: walking the tree), inotify write -> observation latency, and
            a first scan of this machine's /etc into a throw-away versions repository.
  all       all of the above but storm (it drives the machine flat out for minutes: run it on its
            own), mcp and obsidian (it writes its media to disk) (default); scale reuses the pipeline
            run of the same size.
  backup    --backup-mb MB (1024) of mixed files backed up to SeaweedFS's S3 on loopback (infra/services
            up s3) by the streamed format, beside `tar | zstd | age` of the same files to /dev/null:
            MB/s (target >= 0.7 x the baseline) and the backing-up process's peak RSS (<= 200 MB).
  all       all of the above but storm and backup (it drives the machine flat out for minutes: run it on its
  fido2     a FIDO2 hmac-secret derivation through python-fido2's client (software key), and 256 MiB
            encrypted to 2 keys + recovery and decrypted (baseline: pyrage, one recipient).
  retention N (--retention-nodes, 1,000,000) LogEvent nodes in LadybugDB, 90 % of them purged (hard
            delete in batches) while a query runs in a loop: seconds (target 1M <= 60 s, pro rata) and the
            query's p50/p99 during the purge beside before it. Not part of all.
  cve       a 100,000-record OSV all.zip imported (parse, decide, project into LadybugDB) and the
            time to match 1,000 installed packages against it (a first snapshot, an upgrade).
  all       all of the above but storm and cve (storm drives the machine flat out for minutes: run it on its
            own) (default); scale reuses the pipeline run of the same size.
            --no-servers leaves out what needs Kafka and Neo4j (distributed, the distributed
            latency, the producer's idle figures).

The distributed benchmarks take the lock tests/conftest.py takes for tests marked `servers`
(/tmp/watchman-infra/tests.lock), delete the `watchman*` and `bench.*` topics and wipe Neo4j.
"""

EPILOG = """\
sizes and durations (defaults; --quick in brackets):
  --events 100,000 [10,000]   --lines 200,000 [200,000]   --idle-seconds 60 [10]   --repeat 3
  --replay-events 100,000 1,000,000 [10,000]   --neo4j-replay-events 100,000 300,000 [10,000]
  --scale-sizes 10,000 100,000 300,000 [1,000 10,000]
  --latency-seconds 45 [10]   --latency-rate 100
  tests.support.histories.generate makes about 4.5 changes per apt session, each told by apt and
  dpkg: 100,000 events are ~22,000 sessions, ~430,000 log lines and ~190,000 raw records.

examples:
  python -m bench all --quick                  # everything, small: a few minutes
  python -m bench                              # everything at full size (100k events, 60 s idle)
  python -m bench parsers --lines 500000
  python -m bench pipeline --events 50000 --no-profile
  python -m bench replay --events 1000000      # the 1M replay target (and 100k beside it)
  python -m bench scale --scale-sizes 10000 100000 1000000 --merge   # 1M, beside the other sections
  python -m bench idle --idle-seconds 300 --output /tmp/idle.md

Do not run it while other heavy work shares the machine: the figures would measure that too (the
load average at start and end is recorded in RESULTS.md). Benchmarks never assert timings in tests.
"""


# Scale sizes of a full run. The issue asks for 10k, 100k and 1M; at ~2,000 events/s the 1M drain
# alone takes 8-10 minutes and the whole `all` run must stay under 30: 300k, the rest as asked.
FULL_SCALE = [10_000, 100_000, 300_000]
SCALE_REMARK = (
    "Sized down from the issue's 1,000,000 to 300,000 in a full `all` run: at the measured ~2,000 events/s "
    "a 1M drain alone takes 8-10 minutes, and the whole run must finish in under 30. "
    "`python -m bench scale --scale-sizes 10000 100000 1000000 --merge` measures the 1M size alone and "
    "puts its section in place of this one."
)


# Replay sizes into Neo4j of a full run: at ~5,000 records/s, plus ~2 minutes to put 1M records on
# Kafka and read them back, 1M would take ~6 minutes of the 30: 300k, and 1M extrapolated.
FULL_NEO4J_REPLAY = [100_000, 300_000]


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
    ap.add_argument(
        "--neo4j-replay-events", type=positive, nargs="+", metavar="N", help="replay sizes into Neo4j"
    )
    ap.add_argument("--scale-sizes", type=positive, nargs="+", metavar="N", help="scale sizes (events)")
    ap.add_argument("--idle-seconds", type=seconds, help="how long the idle daemon is measured")
    ap.add_argument("--latency-seconds", type=seconds, help="seconds of probes per latency run")
    ap.add_argument("--latency-rate", type=seconds, default=100.0, help="background changes/s (100)")
    ap.add_argument(
        "--no-servers", action="store_true", help="leave out what needs the infra/ Kafka and Neo4j"
    )
    ap.add_argument(
        "--tuned-events",
        type=int,
        help="events for the tuned-worker comparison (default 0 = skip: the settings it tried are shipped)",
    )
    ap.add_argument("--storm-seconds", type=seconds, help="how long the storm blows (60; --quick 10)")
    ap.add_argument("--storm-logins", type=positive, default=1000, help="failed logins/s in the storm (1000)")
    ap.add_argument(
        "--retention-nodes",
        type=positive,
        help="LogEvent nodes the retention bench purges 90 %% of (1,000,000)",
    )
    ap.add_argument(
        "--backup-mb", type=positive, help="MB of files the backup bench backs up (1024; --quick 128)"
    )
    ap.add_argument("--storm-lines", type=positive, default=5000, help="chatty journal lines/s (5000)")
    ap.add_argument("--obsidian-notes", type=positive, default=10_000, help="notes in the vault (10,000)")
    ap.add_argument(
        "--obsidian-media-mb",
        type=positive,
        help="MB of media in the vault (256; --quick 32; the issue: 1024)",
    )
    ap.add_argument("--repeat", type=positive, default=3, help="repetitions of the cheap timings (median)")
    ap.add_argument("--batch-size", type=positive, default=2000, help="pipeline batch size (the default's)")
    ap.add_argument("--no-profile", action="store_true", help="skip the pyinstrument profile")
    ap.add_argument("--profile-events", type=positive, help="events for the profile (default: --events)")
    ap.add_argument(
        "--output", type=Path, default=RESULTS_FILE, help=f"results file (default {RESULTS_FILE})"
    )
    ap.add_argument(
        "--merge",
        action="store_true",
        help="replace only the sections this run measures in the results file, keep the others "
        "(read from its JSON twin, e.g. bench/RESULTS.json); each section records its own run",
    )
    ap.add_argument("--tmp", type=Path, help="parent of the scratch directories (default: the system's)")
    return ap


def distributed_section() -> Section:
    pending = "not measured in this run (--no-servers): needs Kafka and Neo4j from infra/"
    return Section(
        "distributed",
        [
            Figure("Kafka → Faust → Neo4j pipeline throughput", None, "events/s", note=pending),
            Figure("replay into Neo4j", None, "s", note=pending),
        ],
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # aiokafka logs every retry on a topic just created (NotLeaderForPartition): noise in the output.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    quick = args.quick
    events = args.events or (10_000 if quick else 100_000)
    lines = args.lines or 200_000
    idle_seconds = args.idle_seconds or (10.0 if quick else 60.0)
    latency_seconds = args.latency_seconds or (10.0 if quick else 45.0)
    use_servers = not args.no_servers
    # Not part of `all`: the storm and CVE benches take long on their own; time travel and retention
    # default to 1M records.
    on_their_own = {"storm", "cve", "timetravel", "retention"}
    chosen = set(BENCHMARKS[1:]) - on_their_own if args.benchmark == "all" else {args.benchmark}
    if not use_servers:
        chosen -= set(NEEDS_SERVERS)
    replay_sizes = args.replay_events or (
        replay.default_sizes(events) if quick or args.events else [100_000, replay.MILLION]
    )
    command = "python -m bench " + shlex.join(sys.argv[1:] if argv is None else list(argv))

    with tempfile.TemporaryDirectory(prefix="watchman-bench-", dir=args.tmp) as tmp:
        work = Path(tmp)
        report = Report(command.strip(), datetime.now(UTC), machine_info(work), package_versions())
        cache: dict[int, pipeline.DrainRun] = {}
        stages: pipeline.StagesRun | None = None
        mark = (datetime.now(UTC), load_average())

        def stamp() -> None:
            """The section just appended was measured since `mark`: say so on it."""
            nonlocal mark
            report.sections[-1].run = run_info(report.command, *mark)
            mark = (datetime.now(UTC), load_average())

        if "parsers" in chosen:
            report.sections.append(parsers.run(work, lines=lines, repeat=args.repeat))
            stamp()
        if "pipeline" in chosen:
            section, stages = pipeline.run(
                work, events=events, batch_size=args.batch_size, repeat=args.repeat, cache=cache
            )
            report.sections.append(section)
            stamp()
        if "scale" in chosen:
            full = not (quick or args.events or args.scale_sizes)
            sizes = args.scale_sizes or (FULL_SCALE if full else scale.default_sizes(events))
            section = scale.run(work, sizes=sizes, batch_size=args.batch_size, cache=cache)
            if full:
                section.details += ["", SCALE_REMARK]
            report.sections.append(section)
            stamp()
        if "replay" in chosen:
            report.sections.append(
                replay.run(work, sizes=replay_sizes, repeat=args.repeat, domain_logs=work / "domain-logs")
            )
            stamp()
        if "idle" in chosen:
            report.sections.append(idle.run(work, seconds=idle_seconds, producer=use_servers))
            stamp()
        if "latency" in chosen:
            report.sections.append(
                latency.run(work, seconds=latency_seconds, rate=args.latency_rate, distributed=use_servers)
            )
            stamp()
        if "mcp" in chosen:
            report.sections.append(mcp.run(work, probes=50 if quick else 200))
        if "cve" in chosen:
            report.sections.append(cve.run(work))
        if "retention" in chosen:
            nodes = args.retention_nodes or (50_000 if quick else 1_000_000)
            report.sections.append(retention.run(work, nodes=nodes))
            stamp()
        if "fido2" in chosen:
            size_mb = 8 if args.events else 64 if quick else 256  # --events: a small (smoke) run
            report.sections.append(fido2.run(work, size_mb=size_mb, rounds=3 if args.events else 20))
        if "timetravel" in chosen:
            report.sections.append(
                timetravel.run(work, events=args.events or (20_000 if quick else 1_000_000))
            )
            stamp()
        if "storm" in chosen:
            report.sections.append(
                storm.run(
                    work,
                    seconds=args.storm_seconds or (10.0 if quick else 60.0),
                    logins=args.storm_logins,
                    lines=args.storm_lines,
                    use_servers=use_servers,
                )
            )
            stamp()
        if "obsidian" in chosen:
            report.sections.append(
                obsidian.run(
                    work,
                    notes=args.obsidian_notes if not quick else min(args.obsidian_notes, 2000),
                    media_mb=args.obsidian_media_mb or (32 if quick else 256),
                    repeat=max(args.repeat, 5),
                )
            )
        if "resources" in chosen:
            report.sections.append(resources.run(work, seconds=idle_seconds))
        if "configfiles" in chosen:
            small = quick or bool(args.events)
            files = 500 if quick else min(args.events, 2000) if args.events else 2000
            report.sections.append(configfiles.run(work, files=files, real_etc=not small))
        if "backup" in chosen:
            report.sections.append(backup.run(work, size_mb=args.backup_mb or (128 if quick else 1024)))
            stamp()
        if "distributed" in chosen:
            report.sections.append(
                distributed.run(
                    work,
                    events=events,
                    replay_sizes=args.neo4j_replay_events
                    or (replay_sizes if quick or args.events or args.replay_events else FULL_NEO4J_REPLAY),
                    repeat=1,  # reading 1M records back from Kafka takes ~30 s: once is enough
                    domain_logs=work / "domain-logs",
                    tuned_events=args.tuned_events or 0,
                )
            )
            stamp()
        if stages is not None and not args.no_profile:
            if profiling.available():
                prof = profiling.profile_stage(
                    stages.slowest, args.profile_events or events, work, batch_size=args.batch_size
                )
                report.profile = profiling.markdown(prof)
            else:
                report.profile = ["pyinstrument is not installed: `pip install -e '.[dev]'`, then re-run."]
        if args.benchmark == "all" and not use_servers:
            report.sections.append(distributed_section())
        report.finished = datetime.now(UTC)

    print(console_table(report))
    path = write_results(report, args.output, merge=args.merge)
    say(f"results written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
