"""Config files: RollbackConfig, ApplyDesiredConfig, ValidateConfig and PinConfigBaseline.

A write (rollback or apply) is safe by construction: the candidate is validated by the application's own
checker before it replaces anything (a file that is only part of a configuration is checked through
the main file right after the swap), written to a temporary file beside the target with the target's
owner and mode, and renamed over it (atomic); then the owning application is reloaded and health-checked
when declared, and on a failed reload or health check the previous content is put back the same way and
reloaded again. The command's outcome says which of these happened; the scanner sees the write and
records it as a ConfigFileChanged whose caused_by names the command.

Options (ExecContext.options[TYPE], from settings.configfiles): allow_writes, health_timeout,
health_settle, health_passes. Idempotent: a rollback to the content already there succeeds without
acting.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from schemas.envelope import Envelope
from schemas.events import CommandFailed, CommandPayload, CommandRejected, CommandSucceeded
from schemas.events.configfiles import ApplyDesiredConfig, PinConfigBaseline, RollbackConfig, ValidateConfig
from watchman.executors import ExecContext, Outcome, executor

RELOAD_TIMEOUT = 60.0


def _source(ctx: ExecContext) -> Any:
    return next((s for s in ctx.sources if getattr(s, "name", "") == "configfiles"), None)


def _opt(ctx: ExecContext, type_name: str, name: str, default: Any) -> Any:
    return ctx.options.get(type_name, {}).get(name, default)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(real: Path, data: bytes, like: os.stat_result | None, tag: str, mode: int = 0o644) -> None:
    """Write `data` to a temporary file beside `real` with `like`'s owner and mode (a file that is not
    there any more: `mode`, root's), then rename it over."""
    tmp = real.with_name(f".{real.name}.watchman-{tag}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        if like is not None:
            os.fchown(fd, like.st_uid, like.st_gid)
            os.fchmod(fd, like.st_mode & 0o7777)
        else:
            os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, real)
    dfd = os.open(real.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _run(argv: list[str]) -> tuple[bool, str]:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=RELOAD_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{argv[0]}: {type(exc).__name__}: {exc}"
    return proc.returncode == 0, (proc.stderr + proc.stdout).strip()[-500:]


def _healthy_once(app: Any) -> tuple[bool, str]:
    if app.health_url:
        import httpx

        try:
            r = httpx.get(app.health_url, timeout=2.0)
        except httpx.HTTPError as exc:
            return False, f"GET {app.health_url}: {type(exc).__name__}"
        return r.status_code < 400, f"GET {app.health_url}: {r.status_code}"
    if app.health_tcp:
        host, _, port = app.health_tcp.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=2.0):
                return True, f"connect {app.health_tcp}: ok"
        except OSError as exc:
            return False, f"connect {app.health_tcp}: {exc.strerror or exc}"
    if app.health_command:
        ok, out = _run(list(app.health_command))
        return ok, f"{app.health_command[0]}: {'ok' if ok else 'failed'} {out[:200]}"
    return True, "no health check declared"


def _healthy(app: Any, ctx: ExecContext, type_name: str) -> tuple[bool, str]:
    """Healthy = `health_passes` passing checks in a row within `health_timeout` after `health_settle`."""
    time.sleep(float(_opt(ctx, type_name, "health_settle", 1.0)))
    deadline = time.monotonic() + float(_opt(ctx, type_name, "health_timeout", 10.0))
    need = int(_opt(ctx, type_name, "health_passes", 3))
    passes, last = 0, ""
    while True:
        ok, last = _healthy_once(app)
        passes = passes + 1 if ok else 0
        if passes >= need:
            return True, last
        if time.monotonic() >= deadline:
            return False, last
        time.sleep(0.25)


def replace(
    src: Any, path: str, candidate: bytes, cause: str, ctx: ExecContext, type_name: str, mode: int = 0o644
) -> Outcome:
    """Validate, write atomically, reload, health-check; put the previous content back on failure."""
    from producers.configfiles import checkers

    if not _opt(ctx, type_name, "allow_writes", True):
        return CommandRejected, "writing config files is disabled here (configfiles.allow_writes = false)"
    real: Path = src.real(path)
    try:
        current: bytes | None = real.read_bytes()
        like: os.stat_result | None = os.stat(real)
    except FileNotFoundError:
        current, like = None, None
    if current == candidate:
        return CommandSucceeded, f"{path} already holds that content ({_sha(candidate)[:12]}); nothing to do"
    tag = cause.rsplit(":", 1)[-1][:12]
    from producers.configfiles.classify import is_secret

    # A checker quotes the lines it refuses: over a secret, its output is withheld from the outcome.
    secret = is_secret(path, candidate, src.t.secret_paths)
    checker = src.checker(path)
    steps: list[str] = []
    if checker is not None and checker.main is None:
        # Check the candidate itself before it replaces anything: beside the target, so relative includes
        # resolve as they will.
        probe = real.with_name(f".{real.name}.watchman-check-{tag}")
        try:
            probe.write_bytes(candidate)
            res = checkers.run(checker, probe, shown_as=path, secret=secret)
        finally:
            probe.unlink(missing_ok=True)
        if not res.ok:
            return (
                CommandFailed,
                f"candidate refused by {res.checker}, {path} left as it was: {res.message[:1000]}",
            )
        steps.append(f"validated by {res.checker}")
    app = src.app(path)
    src.expect_change(path, _sha(candidate), cause)
    _write_atomic(real, candidate, like, tag, mode)
    steps.append("written")

    def revert(why: str) -> Outcome:
        if current is None:
            real.unlink(missing_ok=True)
        else:
            src.expect_change(path, _sha(current), f"revert-{cause}")
            _write_atomic(real, current, like, tag)
        again = ""
        if app is not None and app.reload:
            ok, out = _run([p.replace("{path}", str(src.real(app.main or path))) for p in app.reload])
            again = (
                "; reloaded the previous config" if ok else f"; reload of the previous config failed: {out}"
            )
        src.scan_now()
        return CommandFailed, f"{why}; reverted {path} to its previous content{again}"

    if checker is not None and checker.main is not None:
        res = checkers.run(checker, src.real(checker.main), shown_as=checker.main, secret=secret)
        if not res.ok:
            return revert(
                f"{checker.main} refused by {res.checker} with the new {path}: {res.message[:1000]}"
            )
        steps.append(f"validated {checker.main} by {res.checker}")
    if app is not None and app.reload:
        ok, out = _run([p.replace("{path}", str(src.real(app.main or path))) for p in app.reload])
        if not ok:
            return revert(f"reload of {app.name} failed: {out}")
        steps.append(f"reloaded {app.name}")
    if app is not None and (app.health_url or app.health_tcp or app.health_command):
        ok, detail = _healthy(app, ctx, type_name)
        if not ok:
            return revert(f"{app.name} unhealthy after the change ({detail})")
        steps.append(f"healthy ({detail})")
    # The next poll rescans: it records the new version (caused_by this command) and validates it.
    src.scan_now()
    return CommandSucceeded, f"{path}: " + ", ".join(steps)


def _decrypt(src: Any, path: str, rev: str, stub: bytes, ctx: ExecContext) -> bytes | str:
    """A secret version's content from its age-encrypted copy; a str says why there is none."""
    import pyrage

    from producers.configfiles.versions import VersionsError, encrypted_path
    from watchman.secrets import SecretError, Secrets

    try:
        blob = src.repo.content(encrypted_path(path), rev)
    except VersionsError:
        return f"{path} at {rev[:12]} was tracked by hash only (secret, binary or large)"
    identity_ref = str(_opt(ctx, RollbackConfig.TYPE, "secret_identity", ""))
    if not identity_ref:
        return f"{path} at {rev[:12]} is kept encrypted: set configfiles.secret_identity to decrypt it"
    try:
        secrets_dir = _opt(ctx, RollbackConfig.TYPE, "secrets_dir", None)
        key = Secrets(Path(secrets_dir) if secrets_dir else None).resolve(identity_ref)
        data: bytes = pyrage.decrypt(blob, [pyrage.x25519.Identity.from_str(key.strip())])
    except (SecretError, pyrage.DecryptError, pyrage.IdentityError) as exc:
        return f"{path} at {rev[:12]}: cannot decrypt ({type(exc).__name__})"
    if not stub.rstrip().endswith(_sha(data).encode()):
        return f"{path} at {rev[:12]}: the decrypted content does not match the recorded hash"
    return data


@executor(RollbackConfig.TYPE)
def rollback_config(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    assert isinstance(payload, RollbackConfig)
    if not payload.confirm:
        return CommandRejected, "a rollback rewrites a config file: it needs confirm = true"
    src = _source(ctx)
    if src is None:
        return CommandRejected, f"config files are not tracked on {ctx.host} (configfiles.enabled = false)"
    from producers.configfiles.versions import VersionsError, is_placeholder

    try:
        rev = src.repo.resolve(payload.rev)
        data = src.repo.content(payload.path, rev)
    except VersionsError as exc:
        return CommandFailed, str(exc)
    if is_placeholder(data):
        decrypted = _decrypt(src, payload.path, rev, data, ctx)
        if isinstance(decrypted, str):
            return CommandRejected, decrypted
        data = decrypted
    recorded = src.repo.metadata(payload.path, rev)  # (mode, owner, group) as etckeeper would restore
    mode = int(recorded[0], 8) if recorded and recorded[0].isdigit() else 0o644
    outcome, detail = replace(
        src, payload.path, data, f"rollback:{command.id}", ctx, RollbackConfig.TYPE, mode
    )
    return outcome, f"rollback to {rev[:12]}: {detail}"


@executor(ApplyDesiredConfig.TYPE)
def apply_desired(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    assert isinstance(payload, ApplyDesiredConfig)
    if not payload.confirm:
        return CommandRejected, "applying the desired state rewrites a config file: it needs confirm = true"
    src = _source(ctx)
    if src is None:
        return CommandRejected, f"config files are not tracked on {ctx.host} (configfiles.enabled = false)"
    try:
        want = src.desired.get(payload.path)
    except Exception as exc:  # a template that does not render
        return CommandFailed, f"desired state of {payload.path} not renderable: {type(exc).__name__}: {exc}"
    if want is None:
        return CommandFailed, f"no desired state for {payload.path}"
    if want.content is None:
        return (
            CommandRejected,
            f"the desired {payload.path} is known by hash only (a secret): cannot write it",
        )
    outcome, detail = replace(
        src, payload.path, want.content, f"apply:{command.id}", ctx, ApplyDesiredConfig.TYPE
    )
    return outcome, f"apply desired ({want.source}): {detail}"


@executor(ValidateConfig.TYPE)
def validate_config(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    assert isinstance(payload, ValidateConfig)
    src = _source(ctx)
    if src is None:
        return CommandRejected, f"config files are not tracked on {ctx.host} (configfiles.enabled = false)"
    paths = list(payload.paths) or src.known_paths()
    results = src.validate_paths(paths)
    bad = [r for r in results if not r.ok]
    if not results:
        return CommandSucceeded, "no checker applies to the files named"
    detail = f"{len(results) - len(bad)} valid, {len(bad)} invalid" + "".join(
        f"; {r.checked}: {r.message[:300]}" for r in bad[:5]
    )
    return (CommandFailed if bad else CommandSucceeded), detail


@executor(PinConfigBaseline.TYPE)
def pin_baseline(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    assert isinstance(payload, PinConfigBaseline)
    src = _source(ctx)
    if src is None:
        return CommandRejected, f"config files are not tracked on {ctx.host} (configfiles.enabled = false)"
    rev = src.pin_baseline()
    if rev is None:
        return CommandFailed, "nothing tracked yet: the first scan has not run"
    return CommandSucceeded, f"baseline pinned at {rev[:12]}"
