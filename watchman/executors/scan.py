"""TriggerScan: have this host's periodic scanners scan at their next poll, not their next interval."""

from __future__ import annotations

from producers.source import present
from schemas.envelope import Envelope
from schemas.events import CommandFailed, CommandPayload, CommandSucceeded, TriggerScan
from watchman.executors import ExecContext, Outcome, executor


@executor(TriggerScan.TYPE)
def trigger_scan(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    assert isinstance(payload, TriggerScan)
    wanted = set(payload.scanners)
    triggered: list[str] = []
    absent = 0
    for src in ctx.sources:
        scan_now = getattr(src, "scan_now", None)
        if scan_now is None or (wanted and not any(w in src.name for w in wanted)):
            continue
        if not present(src):  # a Homebrew prefix that is not there: nothing to scan
            absent += 1
            continue
        scan_now()
        triggered.append(src.name)
    if wanted and not triggered:
        return CommandFailed, f"no scanner matches {sorted(wanted)}" + (
            f" that exists ({absent} absent)" if absent else ""
        )
    detail = f"triggered {len(triggered)} scanner(s): {', '.join(triggered) or 'none'}"
    return CommandSucceeded, detail + (f"; {absent} more do not exist yet" if absent else "")
