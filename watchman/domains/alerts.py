"""Alert delivery in the shell: its settings section and the stage built from them (watchman/alerting/).

Not an observing domain: it builds no source. It is listed with the domains so that `config check`
describes it, and the daemon (embedded) or the projector (distributed) asks `delivery(settings, log)` for
its stage (None when no receiver is set).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from producers.source import Source
    from watchman.alerting.stage import AlertDelivery
    from watchman.bus.base import Bus
    from watchman.settings import Settings
    from watchman.state import CursorStore


def _http(v: str) -> str:
    if v and not v.startswith(("http://", "https://")):
        raise ValueError(f"wants an http:// or https:// URL, not {v[:80]!r}")
    return v


class AlertSettings(BaseModel):
    """Where every domain's alerts go: Alertmanager's v2 API and/or a plain webhook (both may be set).

    `webhook_token` is a secret reference (`secret:NAME`, watchman/secrets.py), sent as a bearer token.
    Events older than `max_age_hours` when read (a first start's backfill) fire nothing. Alerts that fire
    until resolved are re-sent to Alertmanager every `resend_seconds` (keep it below Alertmanager's
    `resolve_timeout`, 5 minutes by default). A receiver that fails is retried from 1 s, doubling up to
    `retry_max_seconds`, with nothing lost meanwhile.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    alertmanager_url: str = ""
    webhook_url: str = ""
    webhook_token: str = ""
    timeout: float = Field(5.0, gt=0)
    max_age_hours: float = Field(24.0, gt=0)
    resend_seconds: float = Field(60.0, gt=0)
    retry_max_seconds: float = Field(300.0, gt=0)

    _urls = field_validator("alertmanager_url", "webhook_url")(_http)

    @field_validator("webhook_token")
    @classmethod
    def _reference(cls, v: str) -> str:
        if v and not v.startswith("secret:"):
            raise ValueError("webhook_token takes a secret reference (secret:NAME), never the token itself")
        return v


def sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    return []


def delivery(settings: Settings, log: Bus) -> AlertDelivery | None:
    """The delivery stage over the embedded log (the daemon) or Kafka (the distributed projector), or None
    when no receiver is configured."""
    from datetime import timedelta

    from watchman.alerting.stage import AlertDelivery
    from watchman.alerting.targets import AlertmanagerTarget, Target, WebhookTarget
    from watchman.secrets import Secrets

    a = settings.alerts
    targets: list[Target] = []
    if a.alertmanager_url:
        targets.append(AlertmanagerTarget(a.alertmanager_url, timeout=a.timeout))
    if a.webhook_url:
        token = Secrets(settings.data_dir / "secrets").resolve(a.webhook_token) if a.webhook_token else ""
        targets.append(WebhookTarget(a.webhook_url, token=token, timeout=a.timeout))
    if not targets:
        return None
    return AlertDelivery(
        log,
        targets,
        max_age=timedelta(hours=a.max_age_hours),
        resend_interval=a.resend_seconds,
        retry_max=a.retry_max_seconds,
        batch_size=settings.batch_size,
    )


def describe(settings: Settings) -> list[tuple[str, str]]:
    a = settings.alerts
    where = [f"alertmanager {a.alertmanager_url}"] if a.alertmanager_url else []
    if a.webhook_url:
        where.append(f"webhook {a.webhook_url}" + (" (token)" if a.webhook_token else ""))
    return [("alerts", "to " + ", ".join(where) if where else "off (no alertmanager_url or webhook_url)")]
