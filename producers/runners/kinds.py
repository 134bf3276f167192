"""The runner kinds of `watchman parse`: a GitHub runner's `_diag` log and a GitLab Runner log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from producers.parse_kind import BadRecord, Parsed, ParseKind, ParseOptions, lines
from producers.runners import github, gitlab
from producers.runners.envelopes import log_envelope
from schemas.events.runners import RAW_RUNNERS, RunnerLogObserved


def _runner_name(path: Path) -> str:
    """The runner whose `_diag` holds the file (its `.runner` beside `_diag`), else the directory's name."""
    root = path.resolve().parent.parent
    try:
        return github.parse_runner_file((root / ".runner").read_bytes()).name
    except (OSError, github.ParseError):
        return root.name or "runner"


def _github(path: Path, opts: ParseOptions) -> Iterator[Parsed]:
    runner = _runner_name(path)
    asm = github.DiagAssembler()
    records: list[github.DiagRecord] = []
    for item in lines(path, opts):
        if isinstance(item, BadRecord):
            yield item
            continue
        offset, raw = item
        records += asm.feed(raw.decode("utf-8", "replace"), offset)
    records += asm.flush()
    for rec in records:
        fact = github.interpret(rec)
        if fact is None:
            continue
        obs = RunnerLogObserved(
            ts=fact.ts,
            provider="github",
            runner=runner,
            kind=fact.kind,
            file=str(path),
            job=fact.job,
            job_name=fact.job_name,
            repo=fact.repo,
            workflow=fact.workflow,
            result=fact.result,
            detail=fact.detail,
            version=fact.version,
        )
        yield log_envelope(opts.host, obs, str(rec.position), opts.now)


def _gitlab(path: Path, opts: ParseOptions) -> Iterator[Parsed]:
    for item in lines(path, opts):
        if isinstance(item, BadRecord):
            yield item
            continue
        offset, raw = item
        line = gitlab.parse_line(raw.decode("utf-8", "replace"))
        fact = gitlab.interpret(line) if line is not None else None
        if fact is None or line is None or fact.runner is None:
            continue  # the runtime platform line names no runner: a running source gives it to each
        obs = RunnerLogObserved(
            ts=line.ts or opts.now,
            provider="gitlab",
            runner=fact.runner,
            kind=fact.kind,
            file=str(path),
            job=fact.job,
            repo=fact.repo,
            result=fact.result,
            detail=fact.detail,
            duration_seconds=fact.duration_seconds,
            version=fact.version,
        )
        yield log_envelope(opts.host, obs, str(offset), opts.now)


KINDS: tuple[ParseKind, ...] = (
    ParseKind(
        "github-runner-diag", "an Actions runner's _diag/Runner_*.log or Worker_*.log", RAW_RUNNERS, _github
    ),
    ParseKind(
        "gitlab-runner-log",
        "journalctl -u gitlab-runner -o cat (or gitlab-runner run's output)",
        RAW_RUNNERS,
        _gitlab,
    ),
)
