"""What a new user meets in the first hour, through the real CLI (issue 14): readable output, only
sources that exist, an explained status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.instance import Instance


def _one_change(instance: Instance) -> datetime:
    ts = datetime.now(UTC).replace(microsecond=0, tzinfo=None) - timedelta(hours=1)
    day = ts.strftime("%Y-%m-%d  %H:%M:%S")
    instance.apt_log.parent.mkdir(parents=True, exist_ok=True)
    instance.apt_log.write_text(
        f"\nStart-Date: {day}\nCommandline: apt install a-package-with-a-long-name\n"
        f"Install: a-package-with-a-long-name:amd64 (1.2.3-4+deb12u1)\nEnd-Date: {day}\n"
    )
    instance.dpkg_log.write_text(
        f"{ts:%Y-%m-%d %H:%M:%S} install a-package-with-a-long-name:amd64 <none> 1.2.3-4+deb12u1\n"
    )
    return ts


def test_run_lists_only_sources_that_exist_and_says_how_many_more_are_watched(instance: Instance) -> None:
    _one_change(instance)
    err = instance.cli("run", "--once").stderr
    assert f"apt:{instance.apt_log}" in err and f"dpkg:{instance.dpkg_log}" in err
    # dnf, dnf.rpm, dnf5 and the Homebrew prefix of the test config do not exist, nor the FIDO2 keyring
    # (no key enrolled yet)
    assert "dnf" not in err and "brew:" not in err
    assert "watching 5 more paths that do not exist yet" in err
    # Not on a terminal: no line is broken at 80 columns.
    assert any(line.startswith("watchman: admin API on ") and "/docs;" in line for line in err.splitlines())


def test_piped_table_keeps_whole_cells_and_an_empty_answer_says_so(instance: Instance) -> None:
    ts = _one_change(instance)
    instance.cli("run", "--once")
    table = instance.cli("query", "installed-this-week", "--table").stdout
    assert ts.replace(tzinfo=UTC).isoformat() in table  # the whole timestamp, not 2026-12…
    assert "a-package-with-a-long-name" in table and "1.2.3-4+deb12u1" in table
    empty = instance.cli("query", "package-history", "-p", "name=nothing-by-this-name")
    assert empty.stdout == "" and empty.stderr.strip() == "no rows"


def test_last_updated_is_the_exact_name_unless_widened(instance: Instance) -> None:
    _one_change(instance)
    instance.cli("run", "--once")
    assert instance.query("last-updated", "-p", "name=a-package") == []
    rows = instance.query("last-updated", "-p", "name=a-package", "-p", "prefix=true")
    assert [r["package"] for r in rows] == ["a-package-with-a-long-name"]
    exact = instance.query("last-updated", "-p", "name=a-package-with-a-long-name")
    assert [r["version"] for r in exact] == ["1.2.3-4+deb12u1"]


def test_status_explains_why_domain_records_outnumber_changes(instance: Instance) -> None:
    _one_change(instance)
    instance.cli("run", "--once")
    text = instance.cli("status").stdout
    assert "watchman.events.packages" in text
    assert "emitted again under the same id" in " ".join(text.split())
