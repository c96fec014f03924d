"""Alert messages delivered through Apprise to real receivers on loopback: e-mail, JSON, Slack."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.alerting import (
    AlertEvent,
    AlertKind,
    AlertRules,
    AlertState,
    Level,
    backlog_step,
    deliver,
    load_destinations,
    render,
    render_test,
    route,
    step,
)
from monitor.alerting.console import ConsoleSink
from monitor.config import AlertsConfig
from monitor.models import LedgerEntry, ProbeResult
from tests.support.alerts import (
    PUBLIC_URL,
    T0,
    down_result,
    make_config,
    slow_result,
    up_result,
)
from tests.support.receivers import API_KEY, SLACK_TOKENS, SMTP_FROM, SMTP_TO, SmtpSink, Webhook


def events_for(results: list[ProbeResult], rules: AlertRules | None = None) -> list[AlertEvent]:
    rules = rules or AlertRules(reminder_every=60.0)
    state = AlertState("aai-us", "streaming")
    out: list[AlertEvent] = []
    for r in results:
        state, evs = step(state, r, r.started_at + timedelta(seconds=5), rules)
        out.extend(evs)
    return out


def down_event() -> AlertEvent:
    (event,) = events_for([down_result(0), down_result(1)])
    return event


# ---------------------------------------------------------------------------
# Real receivers


async def test_email_down_alert_subject_and_plain_text_body(smtp_sink: SmtpSink) -> None:
    config = make_config([smtp_sink.url()])
    (dest,), problems = load_destinations(config.alerts)
    assert problems == []

    outcome = await deliver(dest, render(down_event(), config))

    assert outcome.ok, outcome.error
    (msg,) = smtp_sink.messages
    assert msg["Subject"] == "[DOWN] AssemblyAI (US) · Streaming"
    assert msg["From"] == SMTP_FROM and msg["To"] == SMTP_TO
    text = SmtpSink.text(msg)
    assert "Streaming of AssemblyAI (US) is down since 2026-03-02 09:14:02 UTC" in text
    assert "2 failed checks in a row" in text
    assert "Error kind: stream_closed" in text
    assert "What failed: upstream said <script>alert(1)</script> `rm -rf` xxx" in text
    assert f"Status page: {PUBLIC_URL}" in text
    html = SmtpSink.html(msg)
    assert "<script>" not in html and "&lt;script&gt;" in html
    for part in (msg["Subject"], text, html):
        assert API_KEY not in part
    # Remote text is truncated: the 1000 x's do not all arrive.
    assert "x" * 400 not in text


def _messages() -> dict[str, Any]:
    slow = [slow_result(i) for i in range(3)]
    degraded, resolved = events_for([*slow, up_result(3), up_result(4)])
    assert resolved.kind is AlertKind.RESOLVED and resolved.error_kind is None
    return {
        "down": lambda c: render(down_event(), c),
        "degraded": lambda c: render(degraded, c),
        "resolved-without-a-cause": lambda c: render(resolved, c),
        "test": lambda c: render_test(c, T0),
    }


@pytest.mark.parametrize("kind", list(_messages()))
async def test_email_plain_text_has_one_line_per_bullet_and_no_stray_spaces(
    smtp_sink: SmtpSink, kind: str
) -> None:
    config = make_config([smtp_sink.url()])
    (dest,), _ = load_destinations(config.alerts)

    outcome = await deliver(dest, _messages()[kind](config))

    assert outcome.ok, outcome.error
    lines = SmtpSink.text(smtp_sink.messages[0]).replace("\r\n", "\n").splitlines()
    bullets = [i for i, line in enumerate(lines) if line.startswith("- ")]
    # One list: consecutive lines, after a blank line that ends the paragraph before it.
    assert bullets == list(range(bullets[0], bullets[-1] + 1)), lines
    assert lines[bullets[0] - 1] == "", lines
    assert [line for line in lines if line != line.lstrip()] == []
    assert lines[bullets[-1]] == f"- Status page: {PUBLIC_URL}"


async def test_json_webhook_receives_title_body_and_type(webhook: Webhook) -> None:
    config = make_config([webhook.url("alerts/sttwatch")])
    (dest,), _ = load_destinations(config.alerts)
    events = events_for([slow_result(0), slow_result(1), slow_result(2)])

    outcome = await deliver(dest, render(events[0], config))

    assert outcome.ok, outcome.error
    ((path, payload),) = webhook.posts
    assert path == "/alerts/sttwatch"
    assert payload["title"] == "[DEGRADED] AssemblyAI (US) · Streaming"
    assert payload["type"] == "warning"
    body = payload["message"]
    assert "Time to first transcript: 3.40 s (threshold 2.00 s)" in body
    assert "Phase that grew: first_transcript 3.40 s" in body


async def test_slack_receives_its_payload(slack_stub: Webhook) -> None:
    config = make_config([f"slack://{SLACK_TOKENS}/#oncall"])
    (dest,), _ = load_destinations(config.alerts)

    outcome = await deliver(dest, render(down_event(), config))

    assert outcome.ok, outcome.error
    ((path, payload),) = slack_stub.posts
    assert path == f"/services/{SLACK_TOKENS}"
    assert payload["channel"] == "#oncall"
    (attachment,) = payload["attachments"]
    assert attachment["title"] == "[DOWN] AssemblyAI (US) · Streaming"
    assert attachment["color"] == "#A32037"  # Apprise's failure colour
    assert "*Streaming* of *AssemblyAI (US)* is *down*" in attachment["text"]  # mrkdwn bold
    assert "stream_closed" in attachment["text"]
    assert attachment["footer"] == "sttwatch"
    assert API_KEY not in str(payload)


async def test_resolved_reaches_every_receiver(
    smtp_sink: SmtpSink, webhook: Webhook, slack_stub: Webhook
) -> None:
    config = make_config([smtp_sink.url(), webhook.url(), f"slack://{SLACK_TOKENS}"])
    dests, _ = load_destinations(config.alerts)
    events = events_for(
        [down_result(0), down_result(1), down_result(2), up_result(3), up_result(4)]
    )
    resolved = [e for e in events if e.kind is AlertKind.RESOLVED]
    message = render(resolved[0], config)

    outcomes = [await deliver(d, message) for d in dests]

    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    title = "[RESOLVED] AssemblyAI (US) · Streaming"
    assert smtp_sink.messages[0]["Subject"] == title
    assert "is up again after 3 min down" in SmtpSink.text(smtp_sink.messages[0])
    assert webhook.titles() == [title]
    assert webhook.posts[0][1]["type"] == "success"
    assert slack_stub.posts[0][1]["attachments"][0]["title"] == title


# ---------------------------------------------------------------------------
# Failures are data, masked


async def test_refused_connection_is_a_masked_failed_outcome(refused_port: int) -> None:
    config = make_config([f"json://alice:hunter2-secret@127.0.0.1:{refused_port}/hook"])
    (dest,), _ = load_destinations(config.alerts)
    assert "hunter2-secret" not in dest.label

    outcome = await deliver(dest, render(down_event(), config))

    assert not outcome.ok
    assert outcome.error and "connection" in outcome.error.lower()
    assert "hunter2-secret" not in outcome.error


async def test_hung_service_is_cut_off_by_the_send_timeout(webhook: Webhook) -> None:
    webhook.gate = asyncio.Event()  # accepts the request, never answers
    config = make_config([webhook.url()])
    (dest,), _ = load_destinations(config.alerts)

    outcome = await deliver(dest, render(down_event(), config), send_timeout=0.3)
    webhook.gate.set()

    assert not outcome.ok and outcome.error == "no answer within 0.3 s"


async def test_server_error_is_a_failed_outcome(webhook: Webhook) -> None:
    webhook.fail_first = 1
    config = make_config([webhook.url()])
    (dest,), _ = load_destinations(config.alerts)

    first = await deliver(dest, render(down_event(), config))
    second = await deliver(dest, render(down_event(), config))

    assert not first.ok and first.error and "500" in first.error
    assert second.ok and len(webhook.posts) == 1


def test_unusable_url_is_reported_not_raised() -> None:
    # parse_config refuses it; an AlertsConfig built directly still loads the usable rest.
    alerts = AlertsConfig(
        urls=["nosuchservice://token-abcdef123456@host/x", "json://127.0.0.1:9/x"]
    )
    dests, problems = load_destinations(alerts)
    assert [d.label for d in dests] == ["json://127.0.0.1:9/x"]
    assert problems == ["alerts.urls[0]: Apprise does not know the scheme 'nosuchservice'"]


# ---------------------------------------------------------------------------
# Routing by tags


def kinds_routed(tags: str | None) -> list[str]:
    """Return the alert kinds a destination with `tags` receives over a whole incident."""
    url = "json://127.0.0.1:9/hook"
    config = make_config([f"{tags}={url}" if tags else url])
    (dest,), _ = load_destinations(config.alerts)
    results = [slow_result(i) for i in range(3)] + [down_result(i) for i in range(3, 6)]
    results += [up_result(6), up_result(7)]
    events = events_for(results)
    _, backlog = backlog_step(
        AlertState("aai-us", "deletion"),
        [LedgerEntry("aai-us", "tr_1", T0 - timedelta(hours=2))],
        T0,
        AlertRules(),
    )
    got = []
    for e in [*events, *backlog]:
        if route([dest], render(e, config).tags):
            level = f"({e.level})" if e.kind in (AlertKind.REMINDER, AlertKind.RESOLVED) else ""
            got.append(f"{e.kind}{level}")
    return got


ALL_KINDS = [
    "degraded",
    "reminder(degraded)",
    "down",
    "reminder(down)",
    "resolved(down)",
    "deletion-backlog",
]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (None, ALL_KINDS),
        ("all", ALL_KINDS),
        ("critical", ["down", "reminder(down)", "resolved(down)"]),
        ("warning", ["degraded", "reminder(degraded)", "deletion-backlog"]),
        ("down, resolved", ["down", "resolved(down)"]),
        ("deletion-backlog", ["deletion-backlog"]),
        ("target-aai-us", ALL_KINDS),
        ("target-aai-eu", []),
        ("probe-streaming", ALL_KINDS[:-1]),
        ("team-b", []),
    ],
    ids=[
        "untagged-gets-everything",
        "all",
        "critical-gets-down-its-reminders-and-resolve",
        "warning",
        "kind-tags",
        "backlog-only",
        "target-tag",
        "other-target",
        "probe-tag",
        "unrelated-tag-gets-nothing",
    ],
)
def test_routing(tags: str | None, expected: list[str]) -> None:
    assert kinds_routed(tags) == expected


def test_apprise_config_file_tags_route_too(tmp_path: Path) -> None:
    conf = tmp_path / "apprise.yml"
    conf.write_text(
        "urls:\n  - json://127.0.0.1:9/pager:\n      tag: critical\n  - json://127.0.0.1:9/chat\n",
        encoding="utf-8",
    )
    config = make_config(config=str(conf))
    dests, problems = load_destinations(config.alerts)
    assert problems == []
    by_path = {d.label.rsplit("/", 1)[-1]: d for d in dests}
    assert by_path["pager"].tags == {"critical"}
    assert by_path["chat"].tags == frozenset()
    down_tags = render(down_event(), config).tags
    degraded_tags = render(events_for([slow_result(i) for i in range(3)])[0], config).tags
    assert route(dests, down_tags) == dests
    assert route(dests, degraded_tags) == [by_path["chat"]]


@pytest.mark.parametrize(
    "url",
    ["json://127.0.0.1:9/hook?-token=ZZSECRETTOKENZZ", "json://bob:ZZSECRETTOKENZZ@127.0.0.1:9/x"],
    ids=["json-token-parameter", "password"],
)
@pytest.mark.parametrize("source", ["alerts.urls", "alerts.config"])
def test_a_destination_label_masks_its_secret_wherever_its_url_is_written(
    tmp_path: Path, url: str, source: str
) -> None:
    if source == "alerts.config":
        conf = tmp_path / "apprise.txt"
        conf.write_text(url + "\n", encoding="utf-8")
        config = make_config(config=str(conf))
    else:
        config = make_config([url])
    (dest,), problems = load_destinations(config.alerts)
    assert problems == []
    assert "ZZSECRETTOKENZZ" not in dest.label
    assert "ZZSECRETTOKENZZ" in dest.secrets  # and the log redactor knows it


# ---------------------------------------------------------------------------
# Message text


def test_no_message_kind_carries_a_secret() -> None:
    config = make_config(["json://bob:mail-password-42@127.0.0.1:9/x"])
    results = [slow_result(0), slow_result(1), slow_result(2)]
    results += [down_result(i, message=f"key {API_KEY} pw mail-password-42") for i in range(3, 7)]
    results += [up_result(7), up_result(8)]
    events = events_for(results)
    _, backlog = backlog_step(
        AlertState("aai-us", "deletion"),
        [LedgerEntry("aai-us", "tr_1", T0 - timedelta(hours=2), 3, f"401 for {API_KEY}")],
        T0,
        AlertRules(),
    )
    messages = [render(e, config) for e in [*events, *backlog]]
    messages.append(render_test(config, T0))
    kinds = {e.kind for e in [*events, *backlog]}
    assert kinds == {
        AlertKind.DEGRADED,
        AlertKind.DOWN,
        AlertKind.REMINDER,
        AlertKind.RESOLVED,
        AlertKind.DELETION_BACKLOG,
    }
    for m in messages:
        assert API_KEY not in m.title + m.body
        assert "mail-password-42" not in m.title + m.body


@pytest.mark.parametrize(
    ("kind", "level", "title"),
    [
        (AlertKind.DOWN, Level.DOWN, "[DOWN] AssemblyAI (US) · Streaming"),
        (AlertKind.DEGRADED, Level.DEGRADED, "[DEGRADED] AssemblyAI (US) · Streaming"),
        (AlertKind.REMINDER, Level.DOWN, "[STILL DOWN] AssemblyAI (US) · Streaming"),
        (AlertKind.REMINDER, Level.DEGRADED, "[STILL DEGRADED] AssemblyAI (US) · Streaming"),
        (AlertKind.RESOLVED, Level.DOWN, "[RESOLVED] AssemblyAI (US) · Streaming"),
        (
            AlertKind.DELETION_BACKLOG,
            Level.BACKLOG,
            "[DELETION BACKLOG] AssemblyAI (US) · transcripts not deleted",
        ),
        (AlertKind.RESOLVED, Level.BACKLOG, "[RESOLVED] AssemblyAI (US) · deletion backlog"),
    ],
    ids=lambda v: str(v),
)
def test_titles(kind: AlertKind, level: Level, title: str) -> None:
    event = replace(down_event(), kind=kind, level=level, duration_s=60.0)
    assert render(event, make_config()).title == title


def test_test_message_is_clearly_labelled() -> None:
    m = render_test(make_config(), T0)
    assert m.title == "[TEST] sttwatch test notification"
    assert "test notification" in m.body and "No action is needed" in m.body
    assert m.tags == ("info", "test")


def test_alerts_config_defaults_are_what_docs_say() -> None:
    a = AlertsConfig()
    assert (a.failure_threshold, a.success_threshold, a.degraded_threshold) == (2, 2, 3)
    assert (a.reminder_every, a.give_up_after, a.send_resolved) == (3600.0, 86400.0, True)


async def test_console_sink_prints_alerts_apprise_sends_it() -> None:
    """The demo's receiver: Apprise json:// to a loopback server that prints each alert."""
    lines: list[str] = []
    async with ConsoleSink(lines.append) as sink:
        config = make_config([sink.url])
        (dest,), _ = load_destinations(config.alerts)
        outcome = await deliver(dest, render(down_event(), config))
    assert outcome.ok, outcome.error
    (printed,) = lines
    first, *rest = printed.splitlines()
    assert first.startswith("🔴 [") and first.endswith("ALERT [DOWN] AssemblyAI (US) · Streaming")
    assert "      Streaming of AssemblyAI (US) is down since 2026-03-02 09:14:02 UTC" in rest[0]
    assert any("What failed: upstream said <script>" in line for line in rest)
