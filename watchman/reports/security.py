"""The security and compliance report (pure): which named questions it asks, and its three renderings.

Each section is a named query of some domain's catalog, asked through whatever answers queries (the
running daemon, or the graph opened directly); a question the catalog does not have yet (backups) is
a section that says so, never an error. Rendering is a function of the answers and the time.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson

Format = Literal["md", "html", "json"]
Ask = Callable[[str, dict[str, Any]], tuple[list[str], list[list[Any]]]]


@dataclass(frozen=True)
class Part:
    title: str
    query: str
    params: Mapping[str, Any] = field(default_factory=dict)
    why: str = ""


PARTS: tuple[Part, ...] = (
    Part("Failed logins (last 24 h, by source)", "failed-logins-by-ip", {"hours": 24}),
    Part("Sudo use (last 7 days)", "sudo-by-user", {"hours": 24 * 7}),
    Part("Exposed services", "reachable-from-network", {}, "services listening beyond loopback"),
    Part("Vulnerabilities of installed packages (all severities)", "critical-cves", {"severity": "low"}),
    Part("Pending security updates", "pending-security-updates", {}),
    Part("Security updates installed (last 30 days)", "security-updates-installed", {"days": 30}),
    Part("Permission changes (last 7 days)", "permission-changes-this-week", {"days": 7}),
    Part("Backups", "backup-status", {}),
)


@dataclass
class Section:
    title: str
    query: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""


def collect(ask: Ask, known: Sequence[str], parts: Sequence[Part] = PARTS) -> list[Section]:
    """Ask each part's question; a question not in `known` (the catalog) becomes a note."""
    out: list[Section] = []
    for part in parts:
        if part.query not in known:
            out.append(Section(part.title, part.query, [], [], "not observed on this installation yet"))
            continue
        columns, rows = ask(part.query, dict(part.params))
        out.append(Section(part.title, part.query, columns, rows))
    return out


def severity_counts(sections: Sequence[Section]) -> dict[str, int]:
    """Open findings per severity, from the vulnerabilities section."""
    counts = {"critical": 0, "high": 0, "medium": 0, "low": 0}
    for s in sections:
        if s.query == "critical-cves" and "severity" in s.columns:
            i = s.columns.index("severity")
            for row in s.rows:
                if row[i] in counts:
                    counts[row[i]] += 1
    return counts


def _cell(v: Any) -> str:
    return "" if v is None else str(v)


def render(sections: Sequence[Section], fmt: Format, *, host: str, now: datetime) -> str:
    counts = severity_counts(sections)
    if fmt == "json":
        doc = {
            "report": "security",
            "host": host,
            "generated": now.isoformat(),
            "vulnerabilities_by_severity": counts,
            "sections": [
                {
                    "title": s.title,
                    "query": s.query,
                    "note": s.note or None,
                    "rows": [dict(zip(s.columns, r, strict=True)) for r in s.rows],
                }
                for s in sections
            ],
        }
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2, default=str).decode() + "\n"
    summary = ", ".join(f"{n} {sev}" for sev, n in counts.items())
    if fmt == "md":
        lines = [f"# Security report: {host}", "", f"Generated {now.isoformat(timespec='seconds')}.", ""]
        lines += [f"Open vulnerabilities by severity: {summary}.", ""]
        for s in sections:
            lines += [f"## {s.title}", ""]
            if s.note:
                lines += [f"_{s.note}_", ""]
            elif not s.rows:
                lines += ["None.", ""]
            else:
                lines.append("| " + " | ".join(s.columns) + " |")
                lines.append("|" + "---|" * len(s.columns))
                for r in s.rows:
                    lines.append("| " + " | ".join(_cell(v).replace("|", "\\|") for v in r) + " |")
                lines.append("")
        return "\n".join(lines)
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Security report: {e(host)}</title>",
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:2px 6px}</style></head><body>",
        f"<h1>Security report: {e(host)}</h1>",
        f"<p>Generated {e(now.isoformat(timespec='seconds'))}. "
        f"Open vulnerabilities by severity: {e(summary)}.</p>",
    ]
    for s in sections:
        parts.append(f"<h2>{e(s.title)}</h2>")
        if s.note:
            parts.append(f"<p><em>{e(s.note)}</em></p>")
        elif not s.rows:
            parts.append("<p>None.</p>")
        else:
            head = "".join(f"<th>{e(c)}</th>" for c in s.columns)
            body = "".join("<tr>" + "".join(f"<td>{e(_cell(v))}</td>" for v in r) + "</tr>" for r in s.rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
