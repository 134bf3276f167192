"""Secrets: the lookup order, refusal of files others can read, references in settings, redaction."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from watchman import secrets
from watchman.secrets import RedactSecrets, SecretError, SecretMissing, Secrets


class DictStore:
    name = "test"

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def find(self, name: str) -> str | None:
        return self.values.get(name)

    def names(self) -> list[str]:
        return list(self.values)


def test_environment_then_credentials_then_files_then_stores(tmp_path: Path) -> None:
    creds, files = tmp_path / "creds", tmp_path / "secrets"
    creds.mkdir()
    store = DictStore({"a.b": "from-store-1", "only.store": "from-store-2"})
    s = Secrets(files, environ={"CREDENTIALS_DIRECTORY": str(creds)}, stores=[store])
    assert s.get("a.b") == "from-store-1"
    s.put_file("a.b", "from-file-123")
    assert (files / "a.b").stat().st_mode & 0o777 == 0o600
    assert s.get("a.b") == "from-file-123"
    (creds / "a.b").write_text("from-creds-123\n")
    assert s.get("a.b") == "from-creds-123"
    s.environ = {"CREDENTIALS_DIRECTORY": str(creds), "WATCHMAN_SECRET_A_B": "from-env-123"}
    assert s.get("a.b") == "from-env-123"
    assert s.get("only.store") == "from-store-2"
    assert "only.store" in s.names() and "a.b" in s.names()


def test_missing_secret_says_where_it_looked_never_a_value(tmp_path: Path) -> None:
    s = Secrets(tmp_path, environ={})
    with pytest.raises(SecretMissing) as err:
        s.get("s3.secret-key")
    assert "$WATCHMAN_SECRET_S3_SECRET_KEY" in str(err.value)
    assert str(tmp_path / "s3.secret-key") in str(err.value)


def test_a_secret_file_others_can_read_is_refused(tmp_path: Path) -> None:
    s = Secrets(tmp_path, environ={})
    path = s.put_file("token", "hunter2-hunter2")
    path.chmod(0o644)
    with pytest.raises(SecretError, match="readable by others"):
        s.get("token")


@pytest.mark.parametrize("name", ["", "../etc/passwd", "A", "a/b", "x" * 200])
def test_bad_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(SecretError, match="bad secret name"):
        Secrets(tmp_path, environ={}).find(name)


def test_settings_hold_references(tmp_path: Path) -> None:
    s = Secrets(tmp_path, environ={"WATCHMAN_SECRET_S3_KEY": "AKIA-not-real-1"})
    assert s.resolve("secret:s3.key") == "AKIA-not-real-1"
    assert s.resolve("plain-value") == "plain-value"


def test_handed_out_values_are_redacted_from_log_records(caplog: pytest.LogCaptureFixture) -> None:
    s = Secrets(None, environ={"WATCHMAN_SECRET_DB_PASSWORD": "correct-horse-battery"})
    value = s.get("db.password")
    assert value in secrets.handed_out()
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "login with %s failed", (value,), None)
    RedactSecrets().filter(record)
    assert record.getMessage() == "login with [redacted] failed"
    assert secrets.redact(f"a {value} b") == "a [redacted] b"
