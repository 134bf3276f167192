"""The benchmark harness runs at tiny sizes and writes its results file (figures are never judged here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import distributed, idle, latency, parsers, pipeline, profiling, replay, scale, servers
from bench.__main__ import main
from bench.results import Section, data_file, from_json


def _measured(section: Section) -> list[float]:
    values = [f.value for f in section.figures if f.value is not None]
    assert values, f"{section.name} measured nothing"
    return values


def test_parsers_measure_every_kind_against_reading(tmp_path: Path) -> None:
    section = parsers.run(tmp_path, lines=300, repeat=1)
    assert [f.name for f in section.figures] == [f"{k} parser" for k in parsers.KINDS]
    for f in section.figures:
        assert f.value is not None and f.value > 0
        assert f.baseline is not None and f.baseline > 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", parsers.KINDS)
def test_generated_logs_parse_without_errors(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "log"
    lines = parsers.make_log(kind, 500, path)
    parsed = parsers.parse(kind, path)
    assert lines >= 500
    assert parsed.lines == lines
    assert parsed.changes > 0
    assert parsed.errors == 0


def test_pipeline_stages_and_scale(tmp_path: Path) -> None:
    cache: dict[int, pipeline.DrainRun] = {}
    section, stages = pipeline.run(tmp_path, events=200, repeat=1, cache=cache)
    assert all(v > 0 for v in _measured(section))
    assert set(stages.seconds) == set(pipeline.STAGES)
    assert stages.slowest in pipeline.STAGES
    assert stages.records["ingest"] > 0
    assert cache[200].changes >= 200
    grown = scale.run(tmp_path, sizes=[50, 200], cache=cache)
    assert all(v > 0 for v in _measured(grown))
    assert grown.figures[-1].ratio is not None and grown.figures[-1].ratio > 0
    assert list(tmp_path.iterdir()) == []


def test_replay_measures_and_extrapolates_to_a_million(tmp_path: Path) -> None:
    section = replay.run(tmp_path, sizes=[200], repeat=1)
    first, million = section.figures
    assert first.value is not None and first.value > 0
    assert first.baseline is not None and first.baseline > 0
    assert million.value is None and million.status == "not measured"
    assert list(tmp_path.iterdir()) == []


def test_domain_log_has_the_size_asked(tmp_path: Path) -> None:
    events = list(replay.domain_events(300))
    assert len(events) == 300
    assert len({e.id for e in events}) < 300  # a change told by apt and dpkg is decided twice, one id


def test_profile_of_a_stage(tmp_path: Path) -> None:
    pytest.importorskip("pyinstrument")
    prof = profiling.profile_stage("project", 200, tmp_path)
    assert prof.seconds > 0
    assert prof.own and prof.cumulative
    assert any("Top frames" in line for line in profiling.markdown(prof))


def test_main_runs_everything_and_writes_the_results_file(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    code = main(
        [
            "all",
            "--events",
            "200",
            "--lines",
            "300",
            "--idle-seconds",
            "0.5",
            "--repeat",
            "1",
            "--latency-seconds",
            "1",
            "--no-servers",
            "--output",
            str(out),
            "--tmp",
            str(scratch),
        ]
    )
    assert code == 0
    text = out.read_text()
    for heading in ("## Machine", "## Figures", "## Where the time goes", "not measured in this run"):
        assert heading in text
    for name in ("parsers", "pipeline", "scale", "replay", "idle", "latency", "resources", "distributed"):
        assert f"| {name} |" in text
    assert list(scratch.iterdir()) == [], "scratch directories are removed"


def test_merge_replaces_only_the_sections_measured(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    common = ["--repeat", "1", "--no-servers", "--output", str(out), "--tmp", str(tmp_path)]
    assert main(["parsers", "--lines", "300", *common]) == 0
    first = from_json(data_file(out).read_text())
    assert main(["scale", "--scale-sizes", "50", "100", "--merge", *common]) == 0
    kept = from_json(data_file(out).read_text())
    assert kept.sections[0] == first.sections[0], "the parsers section is kept as it was measured"
    assert main(["parsers", "--lines", "300", "--merge", *common]) == 0
    both = from_json(data_file(out).read_text())
    assert [s.name for s in both.sections] == ["parsers", "scale"], "in the usual order"
    assert both.sections[0] != first.sections[0], "the parsers section was measured again"
    assert "--scale-sizes" in both.sections[1].run["command"]
    text = out.read_text()
    assert "| parsers |" in text and "| scale |" in text and "more than one run" in text
    assert main(["parsers", "--lines", "300", *common]) == 0  # without --merge: only what was run
    assert [s.name for s in from_json(data_file(out).read_text()).sections] == ["parsers"]


def test_latency_probes_the_embedded_daemon(tmp_path: Path) -> None:
    section = latency.run(tmp_path, seconds=1, intervals=(0.1,), distributed=False)
    p50, p99 = section.figures
    assert p50.value is not None and p99.value is not None
    assert 0 < p50.value <= p99.value
    assert list(tmp_path.iterdir()) == []


def test_load_thread_keeps_its_rate(tmp_path: Path) -> None:
    log = latency.Log(tmp_path / "dpkg.log")
    load = latency.Load(log, 200)
    load.start()
    load.stop.wait(1.0)
    load.stop.set()
    load.join(timeout=5)
    lines = log.path.read_text().splitlines()
    assert len(lines) == 3 * load.written
    assert 100 <= load.written <= 300


# The benchmarks below use the shared Kafka and Neo4j from infra/: each takes the lock the `servers`
# tests take (bench.servers.exclusive), so this module must NOT be marked `servers` (flock is not
# re-entrant across two descriptors: the fixture's lock would block the benchmark's).


def test_distributed_pipeline_baselines_and_replay(tmp_path: Path) -> None:
    section = distributed.run(tmp_path, events=200, replay_sizes=[300], timeout=300)
    pipeline_, loader, worker_leg, replayed, million = section.figures
    assert pipeline_.value is not None and pipeline_.value > 0
    assert pipeline_.baseline is not None and pipeline_.baseline > 0
    assert loader.ratio is not None and loader.ratio > 0
    assert worker_leg.name.startswith("Faust worker leg") and worker_leg.ratio is not None
    assert replayed.value is not None and replayed.baseline is not None
    assert million.value is None and million.status == "not measured"
    assert "| 300 |" in "\n".join(section.details)
    assert list(tmp_path.iterdir()) == []


def test_idle_producer_is_measured(tmp_path: Path) -> None:
    section = idle.run(tmp_path, seconds=0.5, settle=0.1)
    names = [f.name for f in section.figures]
    assert any(n.startswith("producer CPU") for n in names)
    assert all(f.value is not None and f.value >= 0 for f in section.figures)


def test_raw_records_and_loader_rows_match_the_history() -> None:
    h = distributed.make_history(100)
    raws = distributed.raw_records(h)
    domain = distributed.domain_envelopes(h)
    rows = distributed.loader_rows(domain)
    # one row per event: apt's and dpkg's tellings of a change are one event (one id)
    assert 0 < len(rows) == h.changes < len(domain) <= len(raws)
    assert len({r["id"] for r in rows}) == h.changes
    assert servers.LOCK.name == "tests.lock"
