"""Figures, the machine they were measured on, and their renderings: a console table and RESULTS.md."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from bench.common import fmt

RESULTS_FILE = Path(__file__).resolve().parent / "RESULTS.md"
# The hand-written analysis (where the time goes, what was changed, next steps), copied into every
# RESULTS.md so the figures never travel without it.
ANALYSIS_FILE = Path(__file__).resolve().parent / "analysis.md"
# The order of sections in a results file, whatever order merged runs measured them in.
SECTION_ORDER = (
    "parsers",
    "pipeline",
    "scale",
    "replay",
    "idle",
    "latency",
    "resources",
    "distributed",
    "backup",
)
KEY_PACKAGES = ("ladybug", "pydantic", "pydantic-core", "orjson", "psutil", "pyinstrument")


@dataclass(frozen=True)
class Target:
    """A figure's target from the issue: `op value unit`."""

    op: Literal[">=", "<="]
    value: float
    unit: str

    def met(self, measured: float) -> bool:
        return measured >= self.value if self.op == ">=" else measured <= self.value

    def __str__(self) -> str:
        return f"{self.op} {fmt(self.value)} {self.unit}".strip()


@dataclass
class Figure:
    """One measured number with its same-run baseline; `target_on` says which of value/ratio it judges."""

    name: str
    value: float | None
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    target: Target | None = None
    target_on: Literal["value", "ratio"] = "value"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def status(self) -> str:
        judged = self.ratio if self.target_on == "ratio" else self.value
        if self.value is None:
            return "not measured"
        if self.target is None or judged is None:
            return "info"
        return "met" if self.target.met(judged) else "MISSED"


@dataclass
class Section:
    """What one benchmark produced: its figures and free-form markdown details."""

    name: str
    figures: list[Figure] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    # The run that measured it (command, started, seconds, load, commit): sections of one results
    # file may come from different runs (`--merge`), each with its baselines from its own run.
    run: dict[str, str] = field(default_factory=dict)


@dataclass
class Report:
    command: str
    started: datetime
    machine: dict[str, str]
    versions: dict[str, str]
    sections: list[Section] = field(default_factory=list)
    profile: list[str] = field(default_factory=list)  # markdown of "Where the time goes"
    finished: datetime | None = None


# -- the machine --------------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.lower().startswith(("model name", "hardware")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def ram_total() -> str:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def filesystem_of(path: Path) -> str:
    """`mountpoint (fstype)` holding `path`: SQLite and LadybugDB speed depends on it (tmpfs vs disk)."""
    best = ("", "unknown")
    resolved = str(path.resolve())
    for line in _read("/proc/mounts").splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        mount, fstype = parts[1], parts[2]
        inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) > len(best[0]):
            best = (mount, fstype)
    return f"{path} on {best[0] or '?'} ({best[1]})"


def git_commit(repo: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def machine_info(work: Path) -> dict[str, str]:
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    return {
        "CPU": cpu_model(),
        "cores": f"{cores} ({usable} usable by this process)",
        "RAM": ram_total(),
        "OS": f"{platform.system()} {platform.release()}",
        "load average (1/5/15 min) at start": load_average(),
        "scratch directory": filesystem_of(work),
        "commit": git_commit(Path(__file__).resolve().parent.parent),
    }


def package_versions() -> dict[str, str]:
    out = {"Python": platform.python_version(), "SQLite": sqlite3.sqlite_version}
    for name in KEY_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


# -- renderings ---------------------------------------------------------------------------------------

COLUMNS = ("benchmark", "figure", "value", "baseline (same run)", "ratio", "target", "status")


def _row(section: str, f: Figure) -> tuple[str, ...]:
    value = "—" if f.value is None else f"{fmt(f.value)} {f.unit}"
    baseline = "—" if f.baseline is None else f"{fmt(f.baseline)} ({f.baseline_label})"
    ratio = "—" if f.ratio is None else f"{f.ratio:.3g}"
    target = "—" if f.target is None else str(f.target) + (" (ratio)" if f.target_on == "ratio" else "")
    return section, f.name, value, baseline, ratio, target, f.status


def rows(report: Report) -> list[tuple[str, ...]]:
    return [_row(s.name, f) for s in report.sections for f in s.figures]


def console_table(report: Report) -> str:
    table = [COLUMNS, *rows(report)]
    widths = [max(len(r[i]) for r in table) for i in range(len(COLUMNS))]
    lines = []
    for i, r in enumerate(table):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(report: Report) -> str:
    out = [
        "# Benchmark results",
        "",
        f"Written by `{report.command}` on {report.started:%Y-%m-%d %H:%M} UTC"
        + (
            f" (took {(report.finished - report.started).total_seconds():.0f} s)." if report.finished else "."
        ),
        "Re-run the command to refresh this file; `python -m bench --help` explains every figure.",
        "",
        "An *event* is one package change: one `Event` node in the graph (apt's and dpkg's tellings of",
        "a change are two raw records but one event). Ratio = value / baseline, both from this run;",
        "where the target is marked (ratio), the ratio is what the target judges.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {_md_cell(v)} |" for k, v in report.machine.items()),
        f"| load average at end | {load_average()} |",
        "| versions | " + ", ".join(f"{k} {v}" for k, v in report.versions.items()) + " |",
        "",
        "## Figures",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *("| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows(report)),
        "",
    ]
    runs = [s for s in report.sections if s.run]
    if len({(s.run.get("command"), s.run.get("started")) for s in runs}) > 1:
        out += [
            "Sections come from more than one run (`--merge`); each figure's baseline is from its own run:",
            "",
            "| benchmark | command | started | took | load average (1/5/15 min) start → end | commit |",
            "|---|---|---|---|---|---|",
            *(
                f"| {s.name} | `{_md_cell(r['command'])}` | {r['started']} | {r['seconds']} s"
                f" | {_md_cell(r['load'])} | {r['commit']} |"
                for s in runs
                for r in (s.run,)
            ),
            "",
        ]
    notes = [(s.name, f) for s in report.sections for f in s.figures if f.note]
    if notes:
        out += ["Notes:", ""]
        out += [f"- **{name} — {f.name}**: {f.note}" for name, f in notes]
        out.append("")
    for s in report.sections:
        if s.details:
            out += [f"## Details: {s.name}", "", *s.details, ""]
    if report.profile:
        out += ["## Where the time goes", "", *report.profile, ""]
    if ANALYSIS_FILE.exists():
        out += [ANALYSIS_FILE.read_text().rstrip(), ""]
    return "\n".join(out).rstrip() + "\n"


def run_info(command: str, started: datetime, load_at_start: str) -> dict[str, str]:
    """Who measured a section: stamped on it when its benchmark returns."""
    seconds = (datetime.now(UTC) - started).total_seconds()
    return {
        "command": command,
        "started": f"{started:%Y-%m-%d %H:%M} UTC",
        "seconds": f"{seconds:.0f}",
        "load": f"{load_at_start} → {load_average()}",
        "commit": git_commit(Path(__file__).resolve().parent.parent),
    }


def data_file(path: Path) -> Path:
    """The machine-readable twin of a results file (RESULTS.md -> RESULTS.json), what --merge reads."""
    return path.with_suffix(".json")


def to_json(report: Report) -> str:
    def default(o: object) -> str:
        if isinstance(o, datetime):
            return o.isoformat()
        raise TypeError(type(o).__name__)

    return json.dumps(asdict(report), default=default, indent=1, ensure_ascii=False) + "\n"


def from_json(text: str) -> Report:
    raw: dict[str, Any] = json.loads(text)

    def figure(f: dict[str, Any]) -> Figure:
        target = Target(**f.pop("target")) if f.get("target") else None
        f.pop("target", None)
        return Figure(**f, target=target)

    sections = [
        Section(s["name"], [figure(dict(f)) for f in s["figures"]], s["details"], s.get("run", {}))
        for s in raw["sections"]
    ]
    finished = raw.get("finished")
    return Report(
        raw["command"],
        datetime.fromisoformat(raw["started"]),
        raw["machine"],
        raw["versions"],
        sections,
        raw.get("profile", []),
        datetime.fromisoformat(finished) if finished else None,
    )


def merged(old: Report, new: Report) -> Report:
    """`old` with the sections `new` measured replaced (same place) or added (at the end); the
    profile of the slowest stage follows the pipeline section that measured it."""
    fresh = {s.name: s for s in new.sections}
    sections = [fresh.pop(s.name, s) for s in old.sections] + list(fresh.values())
    sections.sort(
        key=lambda s: SECTION_ORDER.index(s.name) if s.name in SECTION_ORDER else len(SECTION_ORDER)
    )
    profile = new.profile if new.profile or any(s.name == "pipeline" for s in new.sections) else old.profile
    return Report(new.command, new.started, new.machine, new.versions, sections, profile, new.finished)


def write_results(report: Report, path: Path = RESULTS_FILE, *, merge: bool = False) -> Path:
    """Write the results file and its JSON twin; with `merge`, keep the sections of the previous
    results that this run did not measure."""
    if report.finished is None:
        report.finished = datetime.now(UTC)
    data = data_file(path)
    if merge and data.exists():
        report = merged(from_json(data.read_text()), report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(report))
    data.write_text(to_json(report))
    return path
