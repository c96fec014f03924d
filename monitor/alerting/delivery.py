"""Apprise delivery: the configured destinations, tag routing, and one send to one destination.

Each Apprise URL (from ``alerts.urls`` or the ``alerts.config`` file) becomes
one :class:`Destination`, and every send goes to exactly one destination
through its own :class:`apprise.Apprise` object. That is what lets the outbox
keep one row per (alert, destination): Apprise reports a multi-URL call's
failure as a whole, so retrying the whole call would re-send to the services
that had already accepted it.

Routing (docs/alerting.md): a destination receives an alert when it has no
tags, carries ``all`` or ``always``, or shares a tag with the alert. For a
tagged destination that is exactly Apprise's own ``notify(tag=[…])`` rule (a
filter list is an OR); untagged destinations get everything, because a
single ``mailto://`` in ``alerts.urls`` must just work.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import apprise
from apprise import NotifyFormat
from apprise.conversion import convert_between

from monitor.alert_urls import apprise_url_problem, mask_url, split_tags, url_secrets
from monitor.alerting.messages import Message
from monitor.config import AlertsConfig
from monitor.redaction import redact

__all__ = [
    "Destination",
    "Outcome",
    "build_asset",
    "deliver",
    "html_body",
    "load_destinations",
    "route",
    "split_tags",
    "tidy_label",
]

MATCH_EVERYTHING = frozenset({"all", "always"})
DEFAULT_SEND_TIMEOUT = 60.0

_TOKEN = re.compile(r"[^/:@?&=#,;%+\s]{8,}")
# Options Apprise adds to every URL it prints; noise in a label a person reads.
_GENERIC_OPTIONS = frozenset(
    {
        "format",
        "overflow",
        "emojis",
        "tz",
        "store",
        "verify",
        "rto",
        "cto",
        "retry",
        "wait",
        "optional",
        "method",
        "image",
        "footer",
        "timestamp",
        "blocks",
        "mode",
    }
)


@dataclass(frozen=True, slots=True)
class Destination:
    """One Apprise service that alerts are delivered to."""

    key: str
    label: str
    tags: frozenset[str]
    # The full URL, credentials included: kept in memory only, never stored or shown.
    url: str = field(repr=False, compare=False)
    secrets: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def wants(self, tags: Iterable[str]) -> bool:
        """Return True when an alert carrying `tags` is routed to this destination."""
        if not self.tags or self.tags & MATCH_EVERYTHING:
            return True
        return bool(self.tags & {t.lower() for t in tags})


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one send to one destination; `error` is masked, one line."""

    ok: bool
    error: str | None = None
    elapsed_s: float = 0.0


def build_asset() -> apprise.AppriseAsset:
    """Return the Apprise asset sttwatch sends with (its name in footers; no disk storage)."""
    return apprise.AppriseAsset(
        app_id="sttwatch",
        app_desc="sttwatch — speech API monitor",
        storage_mode="memory",
    )


def _secrets_of(full: str, masked: str, original: str | None) -> tuple[str, ...]:
    """Return the URL parts that privacy masking hides: what must never be stored or shown."""
    shown = set(_TOKEN.findall(masked))
    found = {tok for tok in _TOKEN.findall(full) if tok not in shown}
    # Apprise's privacy mode leaves some secrets readable (a json:// URL's "-token=..."):
    # ours count too, for a URL from the config file (`full`) as for one in alerts.urls.
    found |= set(url_secrets(full))
    if original is not None:
        found |= {tok for tok in _TOKEN.findall(original) if tok not in shown}
        found |= set(url_secrets(original))
    return tuple(sorted(found, key=len, reverse=True))


def tidy_label(masked: str) -> str:
    """Return a masked URL without the generic options Apprise appends to every URL."""
    parts = urlsplit(masked)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    kept = [(k, v) for k, v in query if k.lower() not in _GENERIC_OPTIONS]
    return urlunsplit(parts._replace(query=urlencode(kept, safe="*@,")))


def _destination(service: Any, original: str | None, extra_tags: frozenset[str]) -> Destination:
    full = str(service.url(privacy=False))
    # mask_url on the whole URL for one from alerts.config too: Apprise's own privacy
    # mode alone shows a json:// URL's "-token=..." in clear.
    label = tidy_label(mask_url(original if original is not None else full))
    tags = frozenset(str(t).lower() for t in (getattr(service, "tags", None) or ())) | extra_tags
    return Destination(
        key=hashlib.sha256(full.encode()).hexdigest()[:16],
        label=label,
        tags=tags,
        url=full,
        secrets=_secrets_of(full, str(service.url(privacy=True)), original),
    )


def load_destinations(
    alerts: AlertsConfig, asset: apprise.AppriseAsset | None = None
) -> tuple[list[Destination], list[str]]:
    """Return the destinations configured in `alerts` and the problems found loading them.

    A URL Apprise does not understand is a problem (reported with its
    credentials masked), not an exception: the other destinations still work.
    Duplicate URLs collapse into one destination.
    """
    asset = asset or build_asset()
    out: dict[str, Destination] = {}
    problems: list[str] = []
    for i, entry in enumerate(alerts.urls):
        tags, url = split_tags(entry)
        single = apprise.Apprise(asset=asset)
        if not single.add(url, tag=sorted(tags) or None):
            # parse_config refuses these; an AlertsConfig built directly may still hold one.
            why = apprise_url_problem(url) or f"Apprise cannot use this URL: {mask_url(url)}"
            problems.append(f"alerts.urls[{i}]: {why}")
            continue
        for service in single:
            dest = _destination(service, url, tags)
            out.setdefault(dest.key, dest)
    if alerts.config:
        conf = apprise.AppriseConfig(asset=asset)
        holder = apprise.Apprise(asset=asset)
        if not conf.add(alerts.config) or not holder.add(conf):
            problems.append(f"alerts.config: Apprise cannot read {alerts.config}")
        else:
            services = list(holder)
            if not services:
                problems.append(f"alerts.config: no usable URL in {alerts.config}")
            for service in services:
                dest = _destination(service, None, frozenset())
                out.setdefault(dest.key, dest)
    return list(out.values()), problems


# Apprise's HTML-to-text step (the plain-text part of an e-mail) turns the whitespace
# between two list items into an empty line, and the newline after a <br /> into a
# leading space.
_BETWEEN_ITEMS = re.compile(r"</li>\s+<li>")
_AFTER_BREAK = re.compile(r"<br />\s+")


def html_body(markdown: str) -> str:
    """Return the HTML Apprise makes of `markdown`, without the whitespace it mistranslates."""
    html = str(convert_between(NotifyFormat.MARKDOWN, NotifyFormat.HTML, markdown))  # type: ignore[no-untyped-call]
    return _AFTER_BREAK.sub("<br />", _BETWEEN_ITEMS.sub("</li><li>", html))


def _renders_html(service: Any) -> bool:
    """Return whether Apprise would turn a Markdown body into HTML for `service` (e-mail)."""
    return bool(service.resolve_format(NotifyFormat.MARKDOWN) == NotifyFormat.HTML)


def route(destinations: Sequence[Destination], tags: Iterable[str]) -> list[Destination]:
    """Return the destinations an alert with `tags` goes to, in configuration order."""
    wanted = list(tags)
    return [d for d in destinations if d.wants(wanted)]


def _error_text(result: Any) -> str:
    """Return the most useful failure line of an Apprise result (2.x carries per-service logs)."""
    lines: list[str] = []
    for service_result in getattr(result, "results", ()) or ():
        for entry in service_result.logs():
            if str(getattr(entry, "level", "")).upper() in ("WARNING", "ERROR", "CRITICAL"):
                lines.append(str(entry.message))
        if not lines and not service_result:
            lines.append(f"{service_result.name}: {service_result.status.name.lower()}")
    status = getattr(result, "status", None)
    if not lines and status is not None:
        lines.append(f"Apprise reported {getattr(status, 'name', status)}")
    return lines[-1] if lines else "the service did not accept the notification"


async def deliver(
    destination: Destination,
    message: Message,
    *,
    send_timeout: float = DEFAULT_SEND_TIMEOUT,
    asset: apprise.AppriseAsset | None = None,
) -> Outcome:
    """Return the outcome of sending `message` to `destination` (failures are data).

    Apprise runs its blocking plugins in worker threads, so awaiting
    ``async_notify`` never blocks the event loop; the timeout bounds how long
    the outbox waits for a hung service. Each send gets a fresh plugin
    instance: a timed-out send may still be running in its thread, and
    Apprise's per-instance throttle (5.5 s for e-mail) would otherwise hold
    up the retry that our own backoff already spaced out.
    """
    single = apprise.Apprise(asset=asset or build_asset())
    if not single.add(destination.url):
        return Outcome(False, f"Apprise cannot use {destination.label}")
    body, body_format = message.body, message.body_format
    if body_format == "markdown" and all(_renders_html(service) for service in single):
        body, body_format = html_body(body), "html"
    started = time.monotonic()
    try:
        async with asyncio.timeout(send_timeout):
            result = await single.async_notify(
                body=body,
                title=message.title,
                notify_type=message.notify_type,
                body_format=body_format,
            )
    except TimeoutError:
        return Outcome(False, f"no answer within {send_timeout:g} s", time.monotonic() - started)
    except Exception as exc:  # a plugin bug is one failed attempt, not a dead outbox
        error = f"{type(exc).__name__}: {exc}"
        return Outcome(False, _clean(error, destination), time.monotonic() - started)
    elapsed = time.monotonic() - started
    if bool(result):
        return Outcome(True, None, elapsed)
    return Outcome(False, _clean(_error_text(result), destination), elapsed)


def _clean(error: str, destination: Destination) -> str:
    flat = " ".join(error.split())
    return redact(flat, destination.secrets)[:500]
