"""The `watchman` command line: each command (or command group) in its own module, collected here."""

from __future__ import annotations

import typer

from watchman.cli import (
    backups,
    check,
    common,
    config,
    configfiles,
    cve,
    distributed,
    fido2,
    mcp,
    obsidian,
    parse,
    plot,
    query,
    replay,
    report,
    resources,
    retention,
    run,
    runners,
    status,
    timetravel,
    token,
)

HELP = """The Watchman: one source of truth for what happens on this host.

Producers tail package-manager logs into a durable event log; processors decide domain events;
projections build a graph you query in Cypher. Everything runs in one process by default (an
embedded SQLite log and an embedded LadybugDB graph under the data directory).

\b
Examples:
  watchman run                          # follow this host's logs; Ctrl-C to stop
  watchman run --once                   # import everything there is now, then exit
  watchman parse apt /var/log/apt/history.log
  watchman query --list                 # the questions the catalog answers
  watchman query installed-this-week --table
  watchman query last-updated -p name=docker
  watchman query "MATCH (s:Software) RETURN s.name, s.version LIMIT 5"
  watchman status
  watchman replay                       # rebuild the graph from the event log

\b
Distributed (bus = "kafka://HOST:PORT", graph = "neo4j://HOST:PORT" in watchman.toml):
  watchman produce                      # logs -> local spool -> Kafka, one per host
  watchman worker                       # the processors as Faust agents
  watchman project                      # Kafka domain topics -> Neo4j

\b
Exit codes: 0 ok, 1 error, 2 usage, 3 malformed input found (parse), 4 data directory busy.
Settings: ./watchman.toml or /etc/watchman/watchman.toml (or --config / WATCHMAN_CONFIG), then
WATCHMAN_* environment variables, e.g. WATCHMAN_DATA_DIR=/tmp/w watchman run.
"""

app = typer.Typer(
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,  # locals may hold secrets; tracebacks must not print them
)
app.callback()(common.main_options)
# One line per command or command group: a new domain adds its typer sub-app with app.add_typer.
app.command()(run.run)
app.command(epilog=parse.EPILOG)(parse.parse)
app.command()(query.query)
app.command()(replay.replay)
app.command()(status.status)
app.command()(check.check)
app.command()(distributed.produce)
app.command()(distributed.worker)
app.command()(distributed.project)
app.add_typer(token.app, name="token")
app.add_typer(config.app, name="config")
app.add_typer(mcp.app, name="mcp")
app.add_typer(obsidian.app, name="obsidian")
app.command()(plot.plot)
app.add_typer(resources.app, name="resources")
configfiles.extend(config.app)  # the tracked config files join `watchman config` (history, diff, ...)
app.add_typer(backups.app, name="backup")
app.add_typer(runners.app, name="runners")
app.add_typer(retention.app, name="retention")
app.add_typer(retention.archive_app, name="archive")
app.add_typer(cve.app, name="cve")
app.add_typer(report.app, name="report")
app.add_typer(fido2.app, name="fido2")
app.add_typer(fido2.secret_app, name="secret")
timetravel.extend(app)  # tail, why, timeline, history


def main() -> None:
    app(prog_name="watchman")
