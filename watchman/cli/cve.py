"""`watchman cve`: import offline advisory data (OSV exports, the Debian Security Tracker's JSON)."""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from watchman.cli.common import EXIT_MALFORMED, EXIT_USAGE, err, fail, get_settings, out

app = typer.Typer(
    help="CVE data, offline: import advisory files the daemon matches against the installed packages.",
    no_args_is_help=True,
)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@app.command("import")
def cve_import(
    file: Annotated[Path, typer.Argument(help="an OSV all.zip / JSON record(s), or the Debian tracker JSON")],
    check: Annotated[bool, typer.Option("--check", help="only read the file and count its records")] = False,
) -> None:
    """Read FILE, then hand it to the daemon (copied into <data_dir>/cve/inbox; `watchman run` reads it,
    matches every record against the installed packages and deletes its copy). Importing a newer export
    of the same data later decides only what changed; an unchanged record decides nothing.

    \b
    Examples:
      # OSV's per-ecosystem export (https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip):
      watchman cve import Debian-all.zip
      # the Debian Security Tracker (https://security-tracker.debian.org/tracker/data/json):
      watchman cve import debian-tracker.json
      watchman cve import --check PyPI-all.zip     # count records and bad ones, import nothing
    """
    from producers.vulnerabilities.feed import Bad, FeedError, read_feed
    from watchman.domains.vulnerabilities import inbox

    good = bad = 0
    try:
        for position, rec in read_feed(file):
            if isinstance(rec, Bad):
                bad += 1
                if bad <= 20:
                    err.print(f"{position}: {rec.error}", highlight=False, markup=False)
            else:
                good += 1
    except FeedError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    out.print(f"{file}: {good} advisories, {bad} bad records", highlight=False)
    if good == 0:
        raise fail("no advisory in the file: nothing to import", EXIT_MALFORMED)
    if check:
        return
    box = inbox(get_settings())
    box.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = box / f"{stamp}-{_sha256(file)[:16]}-{file.name}"
    tmp = box / f".{target.name}.part"
    shutil.copyfile(file, tmp)
    os.replace(tmp, target)  # the inbox never shows a half-copied file
    out.print(f"queued as {target} (the running daemon imports it)", highlight=False)
    if bad:
        raise typer.Exit(EXIT_MALFORMED)
