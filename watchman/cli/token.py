"""`watchman token`: the admin API's bearer tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

# LadybugDB, Faust and FastAPI (with the daemon, which serves the admin API) are imported by the
# commands that use them, not here: every command would pay their start-up time and memory, the
# long-running producer included (issue 8: its idle RSS).
if TYPE_CHECKING:
    pass
from watchman.cli.common import EXIT_USAGE, err, fail, get_settings

app = typer.Typer(
    help="The admin API's bearer tokens (0600 files): <data_dir>/api.token for every endpoint, "
    "<data_dir>/metrics.token for /admin/metrics only (api_token_file, api_metrics_token_file).",
    no_args_is_help=True,
)


METRICS_OPTION = typer.Option(
    "--metrics", help="the metrics token (reads /admin/metrics only: give it to Prometheus) instead"
)


@app.command("show")
def token_show(metrics: Annotated[bool, METRICS_OPTION] = False) -> None:
    """Print the token (creating it if there is none yet), e.g. for curl -H "Authorization: Bearer …".

    \b
    Examples:
      watchman token show                  # the admin token: every endpoint
      watchman token show --metrics        # the metrics token: /admin/metrics only
    """
    from watchman.api import TokenFile

    s = get_settings()
    print(TokenFile(s.api_metrics_token_path if metrics else s.api_token_path).ensure())


@app.command("rotate")
def token_rotate(
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    metrics: Annotated[bool, METRICS_OPTION] = False,
) -> None:
    """Replace the token; running processes accept only the new one from their next request on.

    \b
    Example:
      watchman token rotate --yes
      watchman token rotate --metrics --yes
    """
    from watchman.api import TokenFile

    s = get_settings()
    path = s.api_metrics_token_path if metrics else s.api_token_path
    which = "metrics token" if metrics else "API token"
    question = f"Replace the {which} in {path}? Callers using the old one stop working"
    if not yes and not typer.confirm(question):
        raise fail("not rotated", EXIT_USAGE)
    TokenFile(path).rotate()
    show = "watchman token show --metrics" if metrics else "watchman token show"
    err.print(f"watchman: new {which} in {path} (`{show}` prints it)")
