"""One alert per target: the components' alerts of one target grouped into one message per batch.

Pure functions from (group, change) to (group, notices), like :mod:`.rules`:
no I/O and no clock. A component's own state machine (:func:`.rules.step`)
still decides *that* it went down, degraded, recovered or is due a reminder;
these decide what of it is sent, and when, for the target as a whole:

- :func:`join` — a component's DOWN or DEGRADED is *held* in its target's group
  for ``group_wait``; others of the target that alert meanwhile join the same
  batch. The batch goes out early once every enabled probe of the target is in
  it (nothing else can join).
- :func:`flush` — a batch whose wait is over becomes one notice: the group's
  first (``[DOWN] T: 3 checks down — …``) or a follow-up for components that
  failed after the first went out (``[DOWN] T: also failing — …``).
- :func:`leave` — a recovered component stays listed; the group's one RESOLVED
  goes when its last member has recovered, naming each with its duration.
- :func:`remind` — reminders per group: at most one per ``reminder_every``.

Alertmanager's ``group_wait`` is the model; the group lives in the store
(``alert_groups``), so a held batch survives a restart. See docs/alerting.md.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from monitor.alert_records import AlertGroup, GroupMember, Level
from monitor.alerting.rules import AlertKind

__all__ = ["GroupNotice", "flush", "join", "leave", "remind"]


@dataclass(frozen=True, slots=True)
class GroupNotice:
    """One message about a target's group that the rules decided to send."""

    kind: AlertKind  # DOWN, DEGRADED, REMINDER or RESOLVED
    target: str
    level: Level  # the worst level among the members it is about
    at: datetime
    opened_at: datetime
    members: tuple[GroupMember, ...]  # the whole group, after the change
    news: tuple[str, ...]  # the probes this message announces (a follow-up: the new ones)
    follow_up: bool = False
    # (title, body) to send as is: the group is one component, so today's message says it.
    solo: tuple[str, str] | None = None


def _notice(
    group: AlertGroup,
    kind: AlertKind,
    level: Level,
    now: datetime,
    news: Collection[GroupMember],
    *,
    follow_up: bool = False,
    solo: tuple[str, str] | None = None,
) -> GroupNotice:
    return GroupNotice(
        kind=kind,
        target=group.target,
        level=level,
        at=now,
        opened_at=group.opened_at,
        members=group.members,
        news=tuple(m.probe for m in news),
        follow_up=follow_up,
        solo=solo,
    )


def _worst(members: Collection[GroupMember]) -> Level:
    return Level.DOWN if any(m.level is Level.DOWN for m in members) else Level.DEGRADED


def join(
    group: AlertGroup | None,
    target: str,
    member: GroupMember,
    now: datetime,
    wait: float,
    probes: Collection[str],
) -> AlertGroup:
    """Return `target`'s group with `member`'s new alert held for the next batch.

    A new group's batch goes out `wait` seconds from now; a component joining a
    batch already held shares its time. Once every one of `probes` (the target's
    enabled kinds) is open in the group, the batch is due at once.
    """
    held = replace(member, announced=None)
    if group is None:
        group = AlertGroup(target=target, opened_at=now)
    else:
        old = group.member(member.probe)
        if old is not None and old.open:
            # Escalation (degraded -> down): what was announced still was.
            held = replace(member, announced=old.announced)
    if group.member(member.probe) is None:
        members = (*group.members, held)
    else:  # it keeps its place in the list
        members = tuple(held if m.probe == member.probe else m for m in group.members)
    flush_at = group.flush_at or now + timedelta(seconds=wait)
    if set(probes) <= {m.probe for m in members if m.open}:
        flush_at = now
    return replace(group, members=members, flush_at=flush_at, updated_at=now)


def flush(group: AlertGroup, now: datetime) -> tuple[AlertGroup | None, list[GroupNotice]]:
    """Return the group after its held batch went out, and the notice for it (if it was due)."""
    if group.flush_at is None or group.flush_at > now:
        return group, []
    held = [m for m in group.members if m.held]
    if not held:
        rest = replace(group, flush_at=None, updated_at=now)
        return (rest if rest.members else None), []
    first = group.announced_at is None
    # A first message is as bad as the whole group; a follow-up as what it adds.
    level = _worst([m for m in group.members if m.open] if first else held)
    solo = None
    if first and len(group.members) == 1:
        only = group.members[0]
        solo = (only.solo_title, only.solo_body) if only.solo_title else None
    kind = AlertKind.DOWN if _worst(held) is Level.DOWN else AlertKind.DEGRADED
    notice = _notice(group, kind, level, now, held, follow_up=not first, solo=solo)
    members = tuple(replace(m, announced=m.level) if m.held else m for m in group.members)
    return replace(
        group,
        members=members,
        flush_at=None,
        announced_at=group.announced_at or now,
        last_notified_at=now,
        updated_at=now,
    ), [notice]


def leave(
    group: AlertGroup | None,
    probe: str,
    resolved_at: datetime,
    now: datetime,
    *,
    send_resolved: bool,
    solo: tuple[str, str] | None = None,
) -> tuple[AlertGroup | None, list[GroupNotice] | None]:
    """Return the group after `probe` recovered, and the notices that follow.

    None instead of a list: `probe` is not in the group (its alert opened before
    grouping was on), so its own RESOLVED goes as it always did. A member never
    announced (it recovered while its batch was held) leaves without a word, as
    Alertmanager sends nothing for an alert resolved before its first notification.
    The group's RESOLVED goes when its last member has recovered.
    """
    old = group.member(probe) if group is not None else None
    if group is None or old is None:
        return group, None
    if old.announced is None:
        members = tuple(m for m in group.members if m.probe != probe)
    else:
        since = old.since
        gone = replace(
            old,
            resolved_at=resolved_at,
            duration_s=max(0.0, (resolved_at - since).total_seconds()),
            resolved_title=solo[0] if solo else "",
            resolved_body=solo[1] if solo else "",
        )
        members = tuple(gone if m.probe == probe else m for m in group.members)
    flush_at = group.flush_at if any(m.held for m in members) else None
    group = replace(group, members=members, flush_at=flush_at, updated_at=now)
    if any(m.open for m in members):
        return group, []
    if group.announced_at is None or not send_resolved:
        return None, []
    one = members[0] if len(members) == 1 else None
    solo = (one.resolved_title, one.resolved_body) if one and one.resolved_title else None
    notice = _notice(group, AlertKind.RESOLVED, _worst(members), now, members, solo=solo)
    return None, [notice]


def remind(
    group: AlertGroup | None,
    member: GroupMember,
    now: datetime,
    every: float,
    solo: tuple[str, str] | None = None,
) -> tuple[AlertGroup | None, list[GroupNotice] | None]:
    """Return the group with `member`'s latest failure, and its reminder when one is due.

    None instead of a list: the component is not in the group (its own reminder
    goes as it always did). One reminder per group per `every`: the first member
    due sends it, naming every member; the others' fall within it.
    """
    old = group.member(member.probe) if group is not None else None
    if group is None or old is None or not old.open:
        return group, None
    latest = replace(
        old,
        error_kind=member.error_kind or old.error_kind,
        message=member.message or old.message,
        latency_s=member.latency_s,
        checked_at=member.checked_at,
        took_s=member.took_s,
        streak_len=member.streak_len,
    )
    members = tuple(latest if m.probe == member.probe else m for m in group.members)
    group = replace(group, members=members, updated_at=now)
    last = group.last_notified_at
    if group.announced_at is None or (last is not None and now - last < timedelta(seconds=every)):
        return group, []
    open_members = [m for m in members if m.open]
    alone = solo if len(members) == 1 else None
    notice = _notice(group, AlertKind.REMINDER, _worst(open_members), now, open_members, solo=alone)
    return replace(group, last_notified_at=now), [notice]
