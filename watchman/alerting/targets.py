"""The receivers (I/O): Prometheus Alertmanager's v2 API and a plain JSON webhook, over HTTP."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import orjson

from watchman.alerting.decide import Outgoing, alertmanager_alert, webhook_body

log = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """A receiver did not acknowledge: nothing is committed, the batch is sent again later."""


class Target(Protocol):
    name: str
    # Whether firing alerts without an end are sent again while they fire (Alertmanager forgets them
    # after its resolve_timeout otherwise); a webhook gets each state once.
    resend: bool

    def send(self, alerts: Sequence[Outgoing], *, now: datetime) -> None: ...


def post_json(url: str, body: object, headers: dict[str, str], timeout: float, what: str) -> None:
    """POST `body` as JSON; DeliveryFailed (naming `what`) unless the answer is 2xx. Alert targets and
    `watchman tail --webhook` deliver through it."""
    data = orjson.dumps(body)
    req = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status = resp.status
    except urllib.error.HTTPError as exc:
        text = exc.read(300).decode("utf-8", "replace")
        raise DeliveryFailed(f"{what} answered {exc.code}: {text}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryFailed(f"{what} unreachable: {getattr(exc, 'reason', exc)}") from None
    if not 200 <= status < 300:
        raise DeliveryFailed(f"{what} answered {status}")


class AlertmanagerTarget:
    """POST /api/v2/alerts: a list of postableAlert; 200 means Alertmanager holds them."""

    name = "alertmanager"
    resend = True

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self.timeout = timeout

    def send(self, alerts: Sequence[Outgoing], *, now: datetime) -> None:
        if alerts:
            body = [alertmanager_alert(a, now=now) for a in alerts]
            post_json(self.url, body, {}, self.timeout, f"Alertmanager {self.url}")


class WebhookTarget:
    """POST the batch as one JSON document (Alertmanager's webhook shape), optionally with a bearer token."""

    name = "webhook"
    resend = False

    def __init__(self, url: str, *, token: str = "", timeout: float = 5.0) -> None:
        self.url = url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = timeout

    def send(self, alerts: Sequence[Outgoing], *, now: datetime) -> None:
        if alerts:
            post_json(self.url, webhook_body(list(alerts), now=now), self._headers, self.timeout, "webhook")
