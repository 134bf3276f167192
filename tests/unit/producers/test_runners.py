"""The runner parsers on the runners' real formats (tests/data/runners, origin in tests/data/README.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.runners import github, gitlab

DATA = Path(__file__).resolve().parents[2] / "data" / "runners"
JOB1 = "5e1c7d7a-2b3c-4d5e-8f9a-0b1c2d3e4f5a"
JOB2 = "7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d"


def diag_facts(name: str) -> list[github.DiagFact]:
    asm = github.DiagAssembler()
    records: list[github.DiagRecord] = []
    pos = 0
    for raw in (DATA / "github" / "_diag" / name).read_bytes().splitlines(keepends=True):
        records += asm.feed(raw.decode(), pos)
        pos += len(raw)
    records += asm.flush()
    return [f for f in map(github.interpret, records) if f is not None]


def test_runner_file_with_its_byte_order_mark() -> None:
    data = (DATA / "github" / ".runner").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    s = github.parse_runner_file(data)
    assert (s.agent_id, s.name, s.repo, s.pool) == (17, "runner-01", "octo-org/octo-app", "Default")
    assert not s.ephemeral


def test_runner_file_errors() -> None:
    with pytest.raises(github.ParseError, match="not JSON"):
        github.parse_runner_file(b"{")
    with pytest.raises(github.ParseError, match="agentName"):
        github.parse_runner_file(b'{"agentId": 3}')
    # Json.NET reads names case-insensitively: an older runner's PascalCase file is the same runner.
    s = github.parse_runner_file(
        b'{"AgentName": "r", "GitHubUrl": "https://github.com/org", "Ephemeral": true}'
    )
    assert (s.name, s.repo, s.ephemeral) == ("r", "org", True)


def test_service_file() -> None:
    name = github.parse_service_file((DATA / "github" / ".service").read_bytes())
    assert name == "actions.runner.octo-org-octo-app.runner-01.service"
    assert github.parse_service_file(b"nginx; rm -rf /") is None


def test_listener_log() -> None:
    facts = diag_facts("Runner_20261204-101500-utc.log")
    kinds = [(f.kind, f.job, f.job_name, f.result) for f in facts]
    assert kinds == [
        ("version", None, None, None),
        ("listening", None, None, None),
        ("job_received", JOB1, None, None),
        ("job_started", None, "build", None),
        ("job_finished", JOB1, None, "succeeded"),
        ("job_received", JOB2, None, None),
        ("job_started", None, "test (3.12)", None),
        ("job_finished", JOB2, None, "failed"),
    ]
    assert facts[0].version == "2.336.0"
    # The terminal line's own time, not the trace header's
    assert facts[1].ts == datetime(2026, 12, 4, 10, 15, 2, tzinfo=UTC)


def test_worker_job_message_reads_the_github_context_not_the_event_payload() -> None:
    facts = diag_facts("Worker_20261204-101611-utc.log")
    assert len(facts) == 1
    f = facts[0]
    assert (f.kind, f.job, f.job_name, f.repo, f.workflow) == (
        "job_message",
        JOB1,
        "build",
        "octo-org/octo-app",
        "CI",
    )


def test_assembler_keeps_records_whole_and_drops_orphans() -> None:
    asm = github.DiagAssembler()
    assert asm.feed("continuation without a header") == []
    assert asm.dropped == 1
    assert asm.feed("[2026-12-04 10:00:00Z INFO Worker] Job message:", 10) == []
    assert asm.pending_at == 10
    assert asm.feed(' {"jobId": "AB"}') == []
    (rec,) = asm.feed("[2026-12-04 10:00:01Z INFO Worker] next")
    assert rec.message == 'Job message:\n {"jobId": "AB"}' and rec.position == 10
    fact = github.interpret(rec)
    assert fact is not None and fact.job == "ab"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=80), max_size=20))
def test_diag_parser_never_crashes(lines: list[str]) -> None:
    asm = github.DiagAssembler()
    for line in lines:
        for rec in asm.feed(line):
            github.interpret(rec)
    for rec in asm.flush():
        github.interpret(rec)


def test_diag_file_names() -> None:
    assert github.diag_file_kind("Runner_20261204-101500-utc.log") == "Runner"
    assert github.diag_file_kind("Worker_20261204-101611-utc.log") == "Worker"
    assert github.diag_file_kind("Runner_x.log") is None


def test_gitlab_config_never_keeps_the_token() -> None:
    text = (DATA / "gitlab" / "config.toml").read_text()
    concurrent, runners = gitlab.parse_config(text)
    assert concurrent == 2
    assert [(r.name, r.runner_id, r.executor) for r in runners] == [
        ("gl-runner-01", 42, "shell"),
        ("gl-docker", 43, "docker"),
    ]
    assert runners[0].registered_at == datetime(2026, 11, 30, 9, 12, 44, tzinfo=UTC)
    assert "glrt-" not in repr(runners)
    with pytest.raises(gitlab.ParseError):
        gitlab.parse_config("[[runners]]\nurl = 1\n")
    with pytest.raises(gitlab.ParseError):
        gitlab.parse_config("concurrent = ")


def test_gitlab_log_in_the_runner_format_with_colours() -> None:
    facts = []
    for raw in (DATA / "gitlab" / "gitlab-runner.log").read_text().splitlines():
        line = gitlab.parse_line(raw)
        assert line is not None
        fact = gitlab.interpret(line)
        if fact is not None:
            facts.append(fact)
    assert [(f.kind, f.runner, f.job, f.repo, f.result) for f in facts] == [
        ("version", None, None, None, None),
        ("job_started", "gl-runner-01", "9911", "platform/api", None),
        ("job_finished", "gl-runner-01", "9911", "platform/api", "succeeded"),
        ("job_started", "gl-runner-01", "9912", "platform/api", None),
        ("job_finished", "gl-runner-01", "9912", "platform/api", "failed"),
    ]
    assert facts[0].version == "19.4.0"
    assert facts[2].duration_seconds == pytest.approx(41.823155)
    assert facts[4].detail == "script_failure"


def test_gitlab_log_json_format() -> None:
    line = gitlab.parse_line(
        '{"duration_s":2.5,"job":77,"job-status":"success","level":"info","msg":"Job succeeded",'
        '"project_full_path":"g/p","runner":"abc","runner_name":"r1","time":"2026-12-04T10:00:00.5Z"}'
    )
    assert line is not None
    fact = gitlab.interpret(line)
    assert fact is not None and (fact.kind, fact.job, fact.result, fact.runner) == (
        "job_finished",
        "77",
        "succeeded",
        "r1",
    )
    assert line.ts == datetime(2026, 12, 4, 10, 0, 0, 500000, tzinfo=UTC)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_gitlab_line_parser_never_crashes(text: str) -> None:
    line = gitlab.parse_line(text)
    if line is not None:
        gitlab.interpret(line)
