"""The benchmark harness runs at tiny sizes and writes its results file (figures are never judged here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import parsers, pipeline, profiling, replay, scale
from bench.__main__ import main
from bench.results import Section


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
            "--output",
            str(out),
            "--tmp",
            str(scratch),
        ]
    )
    assert code == 0
    text = out.read_text()
    for heading in ("## Machine", "## Figures", "## Where the time goes", "not measured yet"):
        assert heading in text
    for name in ("parsers", "pipeline", "scale", "replay", "idle", "distributed"):
        assert f"| {name} |" in text
    assert list(scratch.iterdir()) == [], "scratch directories are removed"
