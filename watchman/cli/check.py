"""`watchman check`: are the embedded stores sound (log integrity; the graph opens, lies within the log)?"""

from __future__ import annotations

from typing import Annotated

import typer

from watchman.cli.common import EXIT_ERROR, err, get_settings, out


def check(
    full: Annotated[
        bool, typer.Option("--full", help="SQLite's integrity_check instead of quick_check")
    ] = False,
) -> None:
    """Check the embedded stores: the event log's integrity (SQLite quick_check), that the graph opens,
    and that the graph's positions lie within the log's end. Exit 0 when sound, 1 on a problem.

    \b
    Example:
      watchman check && echo sound
    """
    from watchman.check import check_settings

    report = check_settings(get_settings(), full=full)
    for line in report.checked:
        out.print(f"checked   {line}", highlight=False)
    for problem in report.problems:
        err.print(f"[red]problem:[/red] {problem}", highlight=False)
    if not report.ok:
        raise typer.Exit(EXIT_ERROR)
    out.print("ok")
