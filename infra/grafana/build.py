#!/usr/bin/env python3
"""Writes the Grafana dashboards in infra/grafana/dashboards/ from the panel lists below.

Dashboards as code, standard library only: a panel here is a title, its PromQL and a unit, and every
JSON detail Grafana wants (ids, grid positions, datasource references, template variables) is derived
once, so the dashboards stay consistent and a review reads queries, not 1,000 lines of JSON. The JSON
is committed because Grafana's file provisioning reads it; `build.py --check` fails when it is stale
(tests/integration/test_prometheus.py runs it). The metric names are watchman/metrics.py's.

    python3 infra/grafana/build.py           # rewrite the JSON files
    python3 infra/grafana/build.py --check   # exit 1 if a JSON file differs from what this writes
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
# The provisioned datasource (provisioning/datasources/prometheus.yml) has this fixed uid, so the
# dashboards reference it without an import-time prompt.
DATASOURCE = {"type": "prometheus", "uid": "watchman-prometheus"}

# Every query narrows to the processes picked in the dashboard's job/instance variables.
SEL = 'job=~"$job", instance=~"$instance"'
# Package-manager sources are named kind:path (watchman/wiring.py build_sources).
PKG_SOURCES = "(apt|dpkg|dnf|dnf-rpm|dnf5|brew):.*"
RAW_PACKAGES = "watchman.raw.packages"
EVENTS_PACKAGES = "watchman.events.packages"
# Changes the producers read from the package sources: the ingest stage counts them by source.
READ = f'watchman_events_in_total{{{SEL}, stage="ingest", topic="{RAW_PACKAGES}", source=~"$source"}}'


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    targets: tuple[Target, ...]
    kind: str = "timeseries"  # timeseries | stat | table
    unit: str = "short"
    description: str = ""
    width: int = 12
    height: int = 8


@dataclass(frozen=True)
class Row:
    title: str


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    items: tuple[Panel | Row, ...]
    variables: tuple[dict[str, Any], ...] = field(default=())
    tags: tuple[str, ...] = ("watchman",)


def query_variable(name: str, label: str, query: str, all_value: str = ".*") -> dict[str, Any]:
    """A multi-value variable filled from label_values(); "All" stands for the regex all_value."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        # The classic string form: every Grafana version since 7 reads it (and migrates it).
        "query": query,
        "definition": query,
        "regex": "",
        "refresh": 2,  # on time range change: a new process shows up without a reload
        "includeAll": True,
        "allValue": all_value,
        "multi": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
        "hide": 0,
        "options": [],
    }


def process_variables() -> tuple[dict[str, Any], ...]:
    return (
        # "All" means every Watchman job (named watchman*), not Prometheus' own or others on the server.
        query_variable("job", "Job", "label_values(watchman_build_info, job)", all_value="watchman.*"),
        query_variable("instance", "Instance", 'label_values(watchman_build_info{job=~"$job"}, instance)'),
    )


def rate(metric: str, labels: str, by: str, window: str = "$__rate_interval") -> str:
    return f"sum by ({by}) (rate({metric}{{{SEL}{labels}}}[{window}]))"


def quantile(q: float, metric: str, by: str) -> str:
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{{{SEL}}}[$__rate_interval])))"


PIPELINE = Dashboard(
    uid="watchman-pipeline-health",
    title="Watchman pipeline health",
    description="Every stage of every Watchman process: throughput, lag, latency, dead letters, cursors.",
    variables=process_variables(),
    items=(
        Row("Processes"),
        Panel(
            "Processes up",
            (Target(f"sum(up{{{SEL}}})", "up"),),
            kind="stat",
            width=6,
            description="Watchman processes Prometheus can scrape (admin API up and the token accepted).",
        ),
        Panel(
            "Records waiting (all consumers)",
            (Target(f"sum(watchman_consumer_lag{{{SEL}}})", "lag"),),
            kind="stat",
            width=6,
            description="Records between the consumer groups' positions and the ends of their topics.",
        ),
        Panel(
            "Build",
            (Target(f"max by (job, instance, version, deployment, role) (watchman_build_info{{{SEL}}})"),),
            kind="table",
            description="Version, deployment (embedded or distributed) and role of each process.",
        ),
        Row("Throughput"),
        Panel(
            "Records in per second, by stage",
            (Target(rate("watchman_events_in_total", "", "stage"), "{{stage}}"),),
            unit="ops",
            description="ingest: records polled from sources; forward: spool to Kafka; process: raw topics "
            "read; project: domain events applied; execute: commands run.",
        ),
        Panel(
            "Records out per second, by stage and topic",
            (Target(rate("watchman_events_out_total", "", "stage, topic"), "{{stage}} → {{topic}}"),),
            unit="ops",
        ),
        Row("Lag and latency"),
        Panel(
            "Consumer lag",
            (Target(f"max by (group, topic) (watchman_consumer_lag{{{SEL}}})", "{{group}} on {{topic}}"),),
            description="Rising and never draining: consumers slower than producers (alert "
            "WatchmanConsumerLagGrowing). Flat above zero with nothing consumed: WatchmanConsumerStalled.",
        ),
        Panel(
            "Batch time, by stage",
            (
                Target(quantile(0.5, "watchman_batch_seconds", "stage"), "p50 {{stage}}"),
                Target(quantile(0.95, "watchman_batch_seconds", "stage"), "p95 {{stage}}"),
            ),
            unit="s",
        ),
        Panel(
            "Projection apply time, by store",
            (
                Target(quantile(0.5, "watchman_projection_apply_seconds", "store"), "p50 {{store}}"),
                Target(quantile(0.95, "watchman_projection_apply_seconds", "store"), "p95 {{store}}"),
            ),
            unit="s",
            description="One batch of graph operations applied to the store (LadybugDB or Neo4j).",
        ),
        Panel(
            "Producer cursor age, by source",
            (Target(f"max by (source) (watchman_producer_cursor_age_seconds{{{SEL}}})", "{{source}}"),),
            unit="s",
            description="Seconds since a source's cursor last moved. A quiet log is old and fine; old while "
            "the source keeps reading records is not (alert WatchmanSourceCursorStuck).",
        ),
        Row("Errors and commands"),
        Panel(
            "Dead letters, by stage and source",
            (
                Target(
                    "sum by (stage, source) "
                    f"(increase(watchman_dead_letters_total{{{SEL}}}[$__rate_interval]))",
                    "{{stage}} {{source}}",
                ),
            ),
            description="Input sent to watchman.dlq (alert WatchmanDeadLettersGrowing); read the records "
            "there for the reason and the position.",
        ),
        Panel(
            "Commands, by type and status",
            (
                Target(
                    f"sum by (type, status) (increase(watchman_commands_total{{{SEL}}}[$__rate_interval]))",
                    "{{type}} {{status}}",
                ),
            ),
            description="Commands executed on the hosts (POST /admin/scan and the like).",
        ),
    ),
)

PACKAGES = Dashboard(
    uid="watchman-package-activity",
    title="Watchman package activity",
    description="Package-manager logs (apt, dpkg, dnf, dnf5, brew) through the pipeline, by source.",
    variables=(
        *process_variables(),
        # "All" is every package source, not every source of the process (journald, docker, ...).
        query_variable(
            "source",
            "Source",
            "label_values(watchman_events_in_total"
            f'{{{SEL}, stage="ingest", topic="{RAW_PACKAGES}"}}, source)',
            all_value=PKG_SOURCES,
        ),
    ),
    items=(
        Row("In the selected time range"),
        Panel(
            "Package changes read",
            (Target(f"sum(increase({READ}[$__range]))"),),
            kind="stat",
            width=8,
            description="Changes the producers parsed from the package logs and brew prefixes.",
        ),
        Panel(
            "Package events decided",
            (
                Target(
                    f'sum(increase(watchman_events_out_total{{{SEL}, stage="process", '
                    f'topic="{EVENTS_PACKAGES}"}}[$__range]))'
                ),
            ),
            kind="stat",
            width=8,
            description="Domain events (PackageInstalled, PackageUpgraded, ...): one per real change, so "
            "fewer than the changes read (apt and dpkg both report one install).",
        ),
        Panel(
            "Dead letters from package sources",
            (
                Target(
                    f'sum(increase(watchman_dead_letters_total{{{SEL}, stage="ingest", source=~"$source"}}'
                    "[$__range]))"
                ),
            ),
            kind="stat",
            width=8,
            description="Log lines no parser understood; they are in watchman.dlq with their position.",
        ),
        Row("By source"),
        Panel(
            "Changes read per second, by source",
            (Target(f"sum by (source) (rate({READ}[$__rate_interval]))", "{{source}}"),),
            unit="ops",
            description="What the producers read from each log or brew prefix.",
        ),
        Panel(
            "Cursor age, by package source",
            (
                Target(
                    f'max by (source) (watchman_producer_cursor_age_seconds{{{SEL}, source=~"$source"}})',
                    "{{source}}",
                ),
            ),
            unit="s",
            description="Time since each source last gave new input; a host without installs is quiet.",
        ),
        Row("Through the pipeline"),
        Panel(
            "Package records per second, by step",
            (
                Target(
                    rate("watchman_events_out_total", f', stage="ingest", topic="{RAW_PACKAGES}"', "stage"),
                    "read",
                ),
                Target(
                    rate("watchman_events_in_total", f', stage="process", topic="{RAW_PACKAGES}"', "stage"),
                    "processed",
                ),
                Target(
                    rate(
                        "watchman_events_out_total", f', stage="process", topic="{EVENTS_PACKAGES}"', "stage"
                    ),
                    "decided",
                ),
                Target(
                    rate(
                        "watchman_events_in_total", f', stage="project", topic="{EVENTS_PACKAGES}"', "stage"
                    ),
                    "projected",
                ),
            ),
            unit="ops",
            description=f"read: into {RAW_PACKAGES}; processed: out of it; decided: into {EVENTS_PACKAGES}; "
            "projected: applied to the graph.",
        ),
        Panel(
            "Lag on the package topics",
            (
                Target(
                    "max by (group, topic) "
                    f'(watchman_consumer_lag{{{SEL}, topic=~"{RAW_PACKAGES}|{EVENTS_PACKAGES}"}})',
                    "{{group}} on {{topic}}",
                ),
            ),
        ),
    ),
)

DASHBOARDS = (PIPELINE, PACKAGES)


def panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    targets = [
        {
            "refId": chr(ord("A") + i),
            "datasource": DATASOURCE,
            "expr": t.expr,
            "legendFormat": t.legend or "__auto",
            "range": panel.kind != "table",
            "instant": panel.kind == "table",
        }
        for i, t in enumerate(panel.targets)
    ]
    presets: dict[str, dict[str, Any]] = {
        "timeseries": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "stat": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "textMode": "auto",
        },
        "table": {"showHeader": True, "cellHeight": "sm"},
    }
    out: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": presets[panel.kind],
        "targets": targets,
    }
    if panel.kind == "table":
        # Instant vectors as rows; the value column (always 1 for an info metric) is noise.
        out["transformations"] = [
            {"id": "labelsToFields", "options": {"mode": "columns"}},
            {"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True}}},
        ]
    return out


def dashboard_json(d: Dashboard) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    x = y = row_height = 0
    for n, item in enumerate(d.items, start=1):
        if isinstance(item, Row):
            y += row_height
            x = row_height = 0
            panels.append(
                {
                    "id": n,
                    "type": "row",
                    "title": item.title,
                    "collapsed": False,
                    "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                    "panels": [],
                }
            )
            y += 1
            continue
        if x + item.width > 24:  # wrap onto a new line of the grid
            y += row_height
            x = row_height = 0
        panels.append(panel_json(item, n, x, y))
        x += item.width
        row_height = max(row_height, item.height)
    return {
        "uid": d.uid,
        "title": d.title,
        "description": d.description,
        "tags": list(d.tags),
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": list(d.variables)},
        "panels": panels,
    }


def render() -> dict[Path, str]:
    return {OUT / f"{d.uid}.json": json.dumps(dashboard_json(d), indent=2) + "\n" for d in DASHBOARDS}


def main(argv: list[str]) -> int:
    files = render()
    if "--check" in argv:
        stale = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
        for p in stale:
            print(f"{p} is stale: run python3 infra/grafana/build.py", file=sys.stderr)
        return 1 if stale else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for p, text in files.items():
        p.write_text(text)
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
