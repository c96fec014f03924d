"""Alert messages: a short title and a Markdown body readable as plain text, plus routing tags.

Bodies are sent with ``body_format=markdown``: Apprise hands Markdown to the
services that render it (Slack's mrkdwn, Discord, Telegram…), converts it to
HTML for HTML services and for e-mail, whose plain-text part it derives from
that HTML. Text that came from the remote API (error messages, close reasons)
is flattened to one line, truncated, and the characters that could inject
markup or links are backslash-escaped (CommonMark), so an error body of
``<script>…`` or ``[click](http://…)`` shows as those characters. (Code spans
would do the same, but Apprise's HTML-to-text conversion puts each one on a
line of its own in the e-mail.) Every secret of the configuration is masked
out of the final text as a last line of defence (docs/design.md rule 4).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from monitor.alert_records import GroupMember
from monitor.alerting.grouping import GroupNotice
from monitor.alerting.rules import DELETION_PROBE, AlertEvent, AlertKind, Level
from monitor.config import Config
from monitor.durations import duration_text, seconds_text
from monitor.models import ProbeResult
from monitor.probes.registry import KindTable, key_latency
from monitor.redaction import redact

__all__ = [
    "Message",
    "key_latency",
    "md_escape",
    "probe_label",
    "remote_text",
    "render",
    "render_group",
    "render_test",
    "tags_for",
    "with_alert_id",
]

# The kinds' labels, as the status page shows them.
PROBE_LABELS: Mapping[str, str] = KindTable(lambda kind: kind.label)

SEVERITY = {Level.DOWN: "critical", Level.DEGRADED: "warning", Level.BACKLOG: "warning"}

# Apprise notify types: they colour Slack attachments and pick the icon.
_NOTIFY_TYPE = {Level.DOWN: "failure", Level.DEGRADED: "warning", Level.BACKLOG: "warning"}

REMOTE_TEXT_LIMIT = 300


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered alert: what the outbox stores and Apprise sends."""

    title: str
    body: str
    notify_type: str
    tags: tuple[str, ...]
    body_format: str = "markdown"


def probe_label(probe: str) -> str:
    """Return the human name of a probe ("Streaming"), as the status page shows it."""
    if probe == DELETION_PROBE:
        return "Test data deletion"
    return PROBE_LABELS.get(probe, probe.capitalize())


def _when(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# Enough to make remote text inert: no raw HTML or Slack <!channel> anchors (< >),
# no links or images ([ ]), no code span breaking out (`). Emphasis characters
# (* _ ~) are left alone: at worst they format a word, and escaping them shows
# stray backslashes in Slack.
_MARKUP = re.compile(r"([\\`\[\]<>])")


def md_escape(text: str) -> str:
    """Return `text` with the characters that could inject markup or links backslash-escaped."""
    return _MARKUP.sub(r"\\\1", text)


def remote_text(text: object, limit: int = REMOTE_TEXT_LIMIT) -> str:
    """Return remote `text` as inert Markdown: one line, at most `limit` chars, escaped."""
    # Control and format characters go too: bidi overrides (U+202E) would show the
    # text reversed, and a transcript id or ledger error reaches here unfiltered.
    printable = "".join(ch if ch.isprintable() else " " for ch in str(text))
    flat = " ".join(printable.split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return md_escape(flat) if flat else "(no message)"


_KEY_LABEL: Mapping[str, str] = KindTable(lambda kind: kind.key_label)


def _grown_phase(
    phases: dict[str, float], baseline: dict[str, float]
) -> tuple[str, float, float | None] | None:
    """Return (phase, now, before) for the phase that grew most, or the longest one."""
    # Sums of other phases would always "grow most"; name a real step instead.
    candidates = {k: v for k, v in phases.items() if k not in ("total", "turnaround")}
    if not candidates:
        return None
    if baseline:
        name = max(candidates, key=lambda k: candidates[k] - baseline.get(k, 0.0))
        return name, candidates[name], baseline.get(name)
    name = max(candidates, key=lambda k: candidates[k])
    return name, candidates[name], None


def _provider(config: Config, target: str) -> str | None:
    """Return the provider of `target` (None when the config no longer has it)."""
    try:
        return config.target(target).provider
    except KeyError:
        return None


def _degraded_after(config: Config, target: str, probe: str) -> float | None:
    try:
        spec = config.target(target).probes.enabled().get(probe)
    except KeyError:
        return None
    return spec.degraded_after if spec is not None else None


def tags_for(event: AlertEvent) -> tuple[str, ...]:
    """Return the Apprise tags an alert is sent with (see docs/alerting.md, "Routing")."""
    severity = SEVERITY[event.level]
    return (severity, str(event.kind), f"target-{event.target}", f"probe-{event.probe}")


_DETAIL_LABELS = (
    ("http_status", "HTTP status"),
    ("close_code", "Close code"),
    ("close_reason", "Close reason"),
    ("last_status", "Last job status"),
    ("wer", "Word error rate"),
    ("retry_after", "Retry-After"),
    ("transcript_id", "Transcript"),
)


def _detail_lines(result: ProbeResult) -> list[str]:
    lines = []
    for key, label in _DETAIL_LABELS:
        value = result.details.get(key)
        if value is None or value == "":
            continue
        if key == "wer" and isinstance(value, int | float):
            lines.append(f"- {label}: {value:.2f}")
        else:
            lines.append(f"- {label}: {remote_text(value, 120)}")
    return lines


def _last_check(result: ProbeResult) -> str:
    return f"- Last check: {_when(result.started_at)}, took {seconds_text(result.duration_s)}"


def _footer(config: Config) -> list[str]:
    lines = []
    if config.public_url:
        lines.append(f"- Status page: {config.public_url}")
    return lines


def _failure_lines(event: AlertEvent) -> list[str]:
    lines = []
    if event.error_kind is not None:
        lines.append(f"- Error kind: {event.error_kind}")
    lines.append(f"- What failed: {remote_text(event.message)}")
    return lines


def _latency_lines(event: AlertEvent, config: Config) -> list[str]:
    result = event.result
    if result is None:
        return []
    lines = []
    measured = key_latency(result, _provider(config, event.target))
    threshold = _degraded_after(config, event.target, event.probe)
    label = _KEY_LABEL.get(event.probe, "Latency")
    limit = f" (threshold {seconds_text(threshold)})" if threshold is not None else ""
    lines.append(f"- {label}: {seconds_text(measured)}{limit}")
    grown = _grown_phase(result.phases, event.baseline_phases)
    if grown is not None:
        name, now, before = grown
        was = f", was {seconds_text(before)} when healthy" if before is not None else ""
        lines.append(f"- Phase that grew: {name} {seconds_text(now)}{was}")
    if result.phases:
        parts = " · ".join(f"{k} {seconds_text(v)}" for k, v in result.phases.items())
        lines.append(f"- Phases: {parts}")
    return lines


def _join(lines: list[str]) -> str:
    """Return the Markdown body of `lines`, a blank line wherever a list follows a paragraph.

    Without it the list is read as more lines of the paragraph ("… in a row.<br />
    - Status page"), not as a list.
    """
    out: list[str] = []
    for line in lines:
        if line.startswith("- ") and out and out[-1] and not out[-1].startswith("- "):
            out.append("")
        out.append(line)
    return "\n".join(out).rstrip() + "\n"


def _target_label(config: Config, target: str) -> str:
    try:
        return config.target(target).label
    except KeyError:
        return target


def render(event: AlertEvent, config: Config) -> Message:
    """Return the title, Markdown body, notify type and tags for `event`."""
    target_label = _target_label(config, event.target)
    what = probe_label(event.probe)
    subject = f"{target_label} · {what}"
    head = f"**{what}** of **{target_label}**"
    kind = event.kind
    lines: list[str]
    if kind is AlertKind.DOWN:
        title = f"[DOWN] {subject}"
        escalated = (
            f" (it had been degraded since {_when(event.incident_since)})"
            if event.previous_level is Level.DEGRADED
            else ""
        )
        lines = [
            f"{head} is **down** since {_when(event.since)} — "
            f"{event.streak_len} failed checks in a row{escalated}.",
            "",
            *_failure_lines(event),
            *(_detail_lines(event.result) if event.result else []),
            *([_last_check(event.result)] if event.result else []),
        ]
    elif kind is AlertKind.DEGRADED:
        title = f"[DEGRADED] {subject}"
        lines = [
            f"{head} is **slow** since {_when(event.since)} — "
            f"{event.streak_len} checks in a row above the latency threshold.",
            "",
            *_latency_lines(event, config),
            *([_last_check(event.result)] if event.result else []),
        ]
    elif kind is AlertKind.REMINDER:
        level = "DOWN" if event.level is Level.DOWN else "DEGRADED"
        title = f"[STILL {level}] {subject}"
        open_for = duration_text((event.at - event.incident_since).total_seconds())
        state = "down" if event.level is Level.DOWN else "slow"
        lines = [
            f"{head} is still **{state}**: since {_when(event.incident_since)} ({open_for}).",
            "",
        ]
        result = event.result
        if result is not None and result.error_kind is not None:
            lines += _failure_lines(event) + _detail_lines(result)
        elif result is not None:
            lines.append(f"- Latest check: {result.status}")
            lines += _latency_lines(event, config)
        if result is not None:
            lines.append(_last_check(result))
    elif kind is AlertKind.RESOLVED and event.level is Level.BACKLOG:
        title = f"[RESOLVED] {target_label} · deletion backlog"
        lasted = duration_text(event.duration_s or 0.0)
        lines = [
            f"Every transcript sttwatch created on **{target_label}** is deleted now; "
            f"the backlog lasted {lasted} (since {_when(event.incident_since)}).",
        ]
        if event.message:
            lines += ["", f"- Transcripts that were overdue: {remote_text(event.message)}"]
    elif kind is AlertKind.RESOLVED:
        title = f"[RESOLVED] {subject}"
        state = "down" if event.level is Level.DOWN else "degraded"
        lasted = duration_text(event.duration_s or 0.0)
        lines = [
            f"{head} is **up** again after {lasted} {state} "
            f"(from {_when(event.incident_since)} to {_when(event.since)}); "
            f"{event.streak_len} good checks in a row.",
        ]
        if event.error_kind is not None:
            cause = remote_text(event.message)
            lines += ["", f"- It had failed with {event.error_kind}: {cause}"]
    elif kind is AlertKind.DELETION_BACKLOG:
        title = f"[DELETION BACKLOG] {target_label} · transcripts not deleted"
        oldest = event.backlog[0] if event.backlog else None
        age = duration_text((event.at - event.incident_since).total_seconds())
        count = len(event.backlog)
        noun = "transcript" if count == 1 else "transcripts"
        lines = [
            f"{count} {noun} created by sttwatch's transcription probe on **{target_label}** "
            f"could not be deleted; the oldest for {age} "
            f"(created {_when(oldest.created_at if oldest else event.incident_since)}). "
            "sttwatch keeps retrying: check the API key's permissions and the API's status.",
            "",
            "- Transcripts: " + ", ".join(remote_text(e.transcript_id, 64) for e in event.backlog),
        ]
        if event.message:
            lines.append(f"- Last error: {remote_text(event.message)}")
    else:  # AlertKind.TEST is rendered by render_test
        raise ValueError(f"no message for alert kind {kind}")
    body = _join([*lines, *_footer(config)])
    secrets = config.secrets()
    return Message(
        title=redact(title, secrets),
        body=redact(body, secrets),
        notify_type="success" if kind is AlertKind.RESOLVED else _NOTIFY_TYPE[event.level],
        tags=tags_for(event),
    )


def _counts(members: list[GroupMember]) -> str:
    """Return "3 checks down" / "2 checks down, 1 slow" for the open `members`."""
    down = sum(m.level is Level.DOWN for m in members)
    slow = len(members) - down
    parts = []
    if down:
        parts.append(f"{down} check{'s' * (down != 1)} down")
    if slow:
        parts.append(f"{slow} check{'s' * (slow != 1)} slow")
    return ", ".join(parts)


def _item(m: GroupMember) -> str:
    """Return a member as the title lists it: "Streaming (stream_closed)"."""
    what = probe_label(m.probe)
    if not m.open:
        return f"{what} (after {duration_text(m.duration_s or 0.0)})"
    if m.level is Level.DOWN:
        return f"{what} ({m.error_kind or 'down'})"
    latency = f", {seconds_text(m.latency_s)}" if m.latency_s is not None else ""
    return f"{what} (slow{latency})"


def _member_line(m: GroupMember, config: Config, target: str) -> str:
    """Return a member's bullet: what failed, since when, its error or latency, its last check."""
    head = f"- **{probe_label(m.probe)}**"
    if not m.open:
        state = "down" if m.level is Level.DOWN else "degraded"
        lasted = duration_text(m.duration_s or 0.0)
        line = (
            f"{head} — up again after {lasted} {state} "
            f"(from {_when(m.since)} to {_when(m.resolved_at or m.since)})"
        )
        if m.error_kind is not None:
            line += f"; it had failed with {m.error_kind}: {remote_text(m.message)}"
        return line
    if m.level is Level.DOWN:
        runs = f", {m.streak_len} failed checks in a row" if m.streak_len else ""
        kind = f"{m.error_kind}: " if m.error_kind is not None else ""
        line = f"{head} — down since {_when(m.since)}{runs}: {kind}{remote_text(m.message)}"
    else:
        threshold = _degraded_after(config, target, m.probe)
        limit = f" (threshold {seconds_text(threshold)})" if threshold is not None else ""
        label = _KEY_LABEL.get(m.probe, "Latency")
        latency = f"{seconds_text(m.latency_s)}" if m.latency_s is not None else "?"
        line = f"{head} — slow since {_when(m.since)}: {label} {latency}{limit}"
    if m.checked_at is not None and m.took_s is not None:
        line += f"; last check {_when(m.checked_at)}, took {seconds_text(m.took_s)}"
    return line


def render_group(notice: GroupNotice, config: Config) -> Message:
    """Return the one message for a target's group: each of its probes listed on its own line."""
    label = _target_label(config, notice.target)
    try:
        order = list(config.target(notice.target).probes.enabled())
    except KeyError:
        order = []
    # Listed in the config's order, whichever failed first.
    members = sorted(
        notice.members, key=lambda m: order.index(m.probe) if m.probe in order else len(order)
    )
    open_members = [m for m in members if m.open]
    news = [m for m in members if m.probe in notice.news]
    kind = notice.kind
    level_word = "DOWN" if notice.level is Level.DOWN else "DEGRADED"
    lines: list[str]
    if notice.solo is not None:
        title, body = notice.solo
    else:
        if kind is AlertKind.RESOLVED:
            title = f"[RESOLVED] {label}: {len(members)} checks up again — "
            title += ", ".join(_item(m) for m in members)
            start = min(m.since for m in members)
            end = max(m.resolved_at or m.since for m in members)
            lines = [
                f"**{label}** is **up** again: every check that failed has recovered, "
                f"the last at {_when(end)}; {duration_text((end - start).total_seconds())} "
                f"since the first failed (at {_when(start)}).",
                "",
                *(_member_line(m, config, notice.target) for m in members),
            ]
        elif kind is AlertKind.REMINDER:
            title = f"[STILL {level_word}] {label}: {_counts(open_members)} — "
            title += ", ".join(_item(m) for m in open_members)
            open_for = duration_text((notice.at - notice.opened_at).total_seconds())
            lines = [
                f"**{label}** still has {_counts(open_members)}: its alert opened "
                f"{_when(notice.opened_at)} ({open_for} ago).",
                "",
                *(_member_line(m, config, notice.target) for m in open_members),
            ]
            recovered = [m for m in members if not m.open]
            if recovered:
                lines += ["", "Recovered meanwhile:", ""]
                lines += [_member_line(m, config, notice.target) for m in recovered]
        elif notice.follow_up:
            word = "failing" if kind is AlertKind.DOWN else "slow"
            title = f"[{level_word}] {label}: also {word} — " + ", ".join(_item(m) for m in news)
            earlier = [m for m in open_members if m.probe not in notice.news]
            lines = [
                f"More checks of **{label}** alert, after its alert of "
                f"{_when(notice.opened_at)}: now {_counts(open_members)}.",
                "",
                *(_member_line(m, config, notice.target) for m in news),
            ]
            if earlier:
                lines += ["", "Already reported, still open:", ""]
                lines += [_member_line(m, config, notice.target) for m in earlier]
        else:
            title = f"[{level_word}] {label}: {_counts(open_members)} — "
            title += ", ".join(_item(m) for m in open_members)
            state = "**down**" if notice.level is Level.DOWN else "**slow**"
            lines = [
                f"**{label}** is {state}: {_counts(open_members)} since "
                f"{_when(min(m.since for m in open_members))}.",
                "",
                *(_member_line(m, config, notice.target) for m in open_members),
            ]
        footer = [""] + [f"Status page: {config.public_url}"] * bool(config.public_url)
        body = _join([*lines, *footer])
    secrets = config.secrets()
    level = notice.level
    probes = tuple(f"probe-{m.probe}" for m in members)
    return Message(
        title=redact(title, secrets),
        body=redact(body, secrets),
        notify_type="success" if kind is AlertKind.RESOLVED else _NOTIFY_TYPE[level],
        tags=(SEVERITY[level], str(kind), f"target-{notice.target}", *probes),
    )


def with_alert_id(message: Message, alert_id: int) -> Message:
    """Return `message` with a last line naming its outbox id ("Alert id: 42").

    The same alert sent twice (at-least-once delivery: a process killed between
    a service accepting it and the commit recording that) carries the same id,
    so a receiver can tell a repeat from a new alert, and on-call can quote it.
    """
    return replace(message, body=f"{message.body}\n\nAlert id: {alert_id}")


def render_test(config: Config, now: datetime) -> Message:
    """Return the clearly labelled message that ``sttwatch test-alert`` sends."""
    targets = ", ".join(t.label for t in config.targets)
    lines = [
        f"This is a **test notification** from sttwatch ({config.title}), sent at {_when(now)}. "
        "If you can read it, alerts reach this destination. No action is needed.",
        "",
        f"- Targets watched: {targets}",
        *_footer(config),
    ]
    return Message(
        title="[TEST] sttwatch test notification",
        body=redact(_join(lines), config.secrets()),
        notify_type="info",
        tags=("info", str(AlertKind.TEST)),
    )
