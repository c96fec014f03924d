"""The alerting tables: per-component alert state and the alert outbox (issue 5).

Schema (created by migration ``m002_alerts``):

- ``alert_state``: one row per component (target × probe, plus the pseudo-probe
  ``deletion`` per target) — `monitor.alert_records.AlertState`: the component's
  streak (`monitor.outcome`) and its open alert. ``good_len`` and ``good_since``
  came with migration ``m004_whole_streaks``.
- ``alerts``: every alert decided, with its rendered title/body and tags, in
  the same transaction as the state that decided it. ``routed_at`` is set once
  the outbox worker has created its deliveries.
- ``alert_deliveries``: the outbox proper, one row per (alert, destination):
  attempts, ``next_attempt_at``, ``delivered_at`` or ``gave_up_at``, last error.
  Destinations are stored as a hash key and a masked label, never as the URL.
- ``alert_attempts``: every attempt, with its outcome and (masked) error.
- ``alert_groups`` (migration ``m008_alert_groups``): one row per target whose
  components' alerts are grouped into one message (`monitor.alerting.grouping`):
  its members as JSON, and when its held batch is due (``flush_at``).

Write-side functions run on the writer thread inside its transaction; read-side
functions take a reader connection. Times are epoch milliseconds (UTC).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from monitor.alert_records import (
    AlertGroup,
    AlertState,
    Delivery,
    GroupMember,
    Level,
    NewAlert,
    StoredAlert,
)
from monitor.models import ErrorKind
from monitor.outcome import Streak
from monitor.store.dialect import Connection, upsert
from monitor.store.records import CODE_STATUS, STATUS_CODE, from_ms, to_ms

if TYPE_CHECKING:
    from sqlite_utils import Database

__all__ = [
    "GroupDecision",
    "claim_due_deliveries",
    "create_group_table",
    "create_tables",
    "deliveries",
    "due_deliveries",
    "insert_state_and_alerts",
    "load_groups",
    "load_states",
    "next_delivery_at",
    "prune_batch",
    "record_attempt",
    "route_alert",
    "unrouted_alerts",
    "write_group",
]


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _ms(dt: datetime | None) -> int | None:
    return to_ms(dt) if dt is not None else None


def _dt(ms: int | None) -> datetime | None:
    return from_ms(ms) if ms is not None else None


def create_tables(db: Database) -> None:
    """Create the alerting tables (the body of migration ``m002_alerts``)."""
    db.execute(
        """
        CREATE TABLE alert_state (
            target TEXT NOT NULL,
            probe TEXT NOT NULL,              -- a probe name, or 'deletion' (the backlog)
            streak_status INTEGER,            -- 0 up, 1 degraded, 2 down
            streak_len INTEGER NOT NULL DEFAULT 0,
            streak_since INTEGER,             -- epoch ms of the streak's first result
            open_level TEXT,                  -- NULL, 'degraded', 'down' or 'backlog'
            open_since INTEGER,
            last_notified_at INTEGER,
            open_error_kind TEXT,
            open_message TEXT,
            baseline_phases TEXT,             -- JSON {phase: seconds} of the last up result
            backlog_ids TEXT,                 -- JSON list of transcript ids
            updated_at INTEGER,
            PRIMARY KEY (target, probe)
        ) WITHOUT ROWID
        """
    )
    db.execute(
        """
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            target TEXT NOT NULL,
            probe TEXT NOT NULL,
            kind TEXT NOT NULL,               -- down | degraded | reminder | resolved | ...
            level TEXT NOT NULL,              -- down | degraded | backlog
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            body_format TEXT NOT NULL,
            notify_type TEXT NOT NULL,
            tags TEXT NOT NULL,               -- JSON list
            created_at INTEGER NOT NULL,
            routed_at INTEGER
        )
        """
    )
    db.execute("CREATE INDEX alerts_unrouted ON alerts (id) WHERE routed_at IS NULL")
    db.execute("CREATE INDEX alerts_created ON alerts (created_at)")
    db.execute(
        """
        CREATE TABLE alert_deliveries (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
            destination TEXT NOT NULL,        -- hash key of the Apprise URL
            destination_label TEXT NOT NULL,  -- the URL with credentials masked
            created_at INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL,
            delivered_at INTEGER,
            gave_up_at INTEGER,
            last_error TEXT,
            UNIQUE (alert_id, destination)
        )
        """
    )
    db.execute(
        "CREATE INDEX alert_deliveries_open ON alert_deliveries (destination, id)"
        " WHERE delivered_at IS NULL AND gave_up_at IS NULL"
    )
    db.execute(
        """
        CREATE TABLE alert_attempts (
            id INTEGER PRIMARY KEY,
            delivery_id INTEGER NOT NULL REFERENCES alert_deliveries(id) ON DELETE CASCADE,
            at INTEGER NOT NULL,
            ok INTEGER NOT NULL,
            error TEXT,
            elapsed_ms INTEGER NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX alert_attempts_delivery ON alert_attempts (delivery_id)")


# ---------------------------------------------------------------------------
# State


def _state_row(s: AlertState) -> tuple[Any, ...]:
    streak = s.streak
    return (
        s.target,
        s.probe,
        STATUS_CODE[streak.status] if streak.status is not None else None,
        streak.length,
        _ms(streak.since),
        streak.good,
        _ms(streak.good_since),
        s.open_level.value if s.open_level is not None else None,
        _ms(s.open_since),
        _ms(s.last_notified_at),
        s.open_error_kind.value if s.open_error_kind is not None else None,
        s.open_message or None,
        _dumps(s.baseline_phases) if s.baseline_phases else None,
        _dumps(list(s.backlog_ids)) if s.backlog_ids else None,
        _ms(s.updated_at),
    )


def load_states(conn: Connection) -> list[AlertState]:
    """Return every persisted alert state."""
    rows = conn.execute(
        "SELECT target, probe, streak_status, streak_len, streak_since, good_len, good_since,"
        " open_level, open_since, last_notified_at, open_error_kind, open_message,"
        " baseline_phases, backlog_ids, updated_at FROM alert_state ORDER BY target, probe"
    ).fetchall()
    return [
        AlertState(
            target=r[0],
            probe=r[1],
            streak=Streak(
                status=CODE_STATUS[r[2]] if r[2] is not None else None,
                length=r[3],
                since=_dt(r[4]),
                good=r[5],
                good_since=_dt(r[6]),
            ),
            open_level=Level(r[7]) if r[7] is not None else None,
            open_since=_dt(r[8]),
            last_notified_at=_dt(r[9]),
            open_error_kind=ErrorKind(r[10]) if r[10] is not None else None,
            open_message=r[11] or "",
            baseline_phases=json.loads(r[12]) if r[12] else {},
            backlog_ids=tuple(json.loads(r[13])) if r[13] else (),
            updated_at=_dt(r[14]),
        )
        for r in rows
    ]


_STATE_COLUMNS = (
    "target, probe, streak_status, streak_len, streak_since, good_len, good_since, open_level,"
    " open_since, last_notified_at, open_error_kind, open_message, baseline_phases, backlog_ids,"
    " updated_at"
)
_STATE_UPSERT = upsert("alert_state", _STATE_COLUMNS, key=2)


def insert_state_and_alerts(
    conn: Connection, state: AlertState, alerts: Sequence[NewAlert], now: int
) -> list[int]:
    """Upsert `state` and insert `alerts`; return their ids (one transaction, by the caller).

    Agents in several locations share the alert state: an alert whose transition
    another agent already committed (the row is open at that level, or no longer
    open) is not inserted again, so each opening and resolution is sent once.
    """
    row = conn.execute(
        "SELECT open_level FROM alert_state WHERE target = ? AND probe = ?"
        # Agents on a shared PostgreSQL decide the same transition one after the other.
        + " FOR UPDATE" * conn.dialect.row_locks,
        (state.target, state.probe),
    ).fetchone()
    if row is not None:
        alerts = [a for a in alerts if not _already_committed(a, row[0])]
    conn.execute(_STATE_UPSERT, _state_row(state))
    return _insert_alerts(conn, alerts, now)


def _insert_alerts(conn: Connection, alerts: Sequence[NewAlert], now: int) -> list[int]:
    ids: list[int] = []
    for a in alerts:
        new = conn.execute(
            "INSERT INTO alerts (target, probe, kind, level, title, body, body_format,"
            " notify_type, tags, created_at) VALUES (?,?,?,?,?,?,?,?,?,?) RETURNING id",
            (
                a.target,
                a.probe,
                a.kind,
                a.level,
                a.title,
                a.body,
                a.body_format,
                a.notify_type,
                _dumps(list(a.tags)),
                now,
            ),
        ).fetchone()
        ids.append(int(new[0]))
    return ids


def _already_committed(alert: NewAlert, stored_level: str | None) -> bool:
    """Return True when the stored open level shows `alert`'s transition was already made."""
    if alert.kind in ("down", "degraded", "deletion-backlog"):
        return stored_level == alert.level
    if alert.kind == "resolved":
        return stored_level is None
    return False


# ---------------------------------------------------------------------------
# Groups: one open alert per target (monitor/alerting/grouping.py)


def create_group_table(db: Database) -> None:
    """Create ``alert_groups`` (the body of migration ``m008_alert_groups``)."""
    db.execute(
        """
        CREATE TABLE alert_groups (
            target TEXT NOT NULL PRIMARY KEY,
            opened_at INTEGER NOT NULL,
            flush_at INTEGER,                 -- when the held members go out; NULL: none held
            announced_at INTEGER,             -- when its first message was decided
            last_notified_at INTEGER,
            members TEXT NOT NULL,            -- JSON list, see _member_json
            updated_at INTEGER
        ) WITHOUT ROWID
        """
    )


_MEMBER_TIMES = ("since", "checked_at", "resolved_at")
_MEMBER_LEVELS = ("level", "announced")


def _member_json(m: GroupMember) -> dict[str, Any]:
    d: dict[str, Any] = {f.name: getattr(m, f.name) for f in fields(m)}
    for key in _MEMBER_TIMES:
        d[key] = _ms(d[key])
    for key in (*_MEMBER_LEVELS, "error_kind"):
        d[key] = d[key].value if d[key] is not None else None
    return d


def _member(stored: dict[str, Any]) -> GroupMember:
    d = {f.name: stored[f.name] for f in fields(GroupMember) if f.name in stored}
    for key in _MEMBER_TIMES:
        d[key] = _dt(d.get(key))
    for key in _MEMBER_LEVELS:
        d[key] = Level(d[key]) if d.get(key) else None
    d["error_kind"] = ErrorKind(d["error_kind"]) if d.get("error_kind") else None
    return GroupMember(**d)


_GROUP_COLUMNS = "target, opened_at, flush_at, announced_at, last_notified_at, members, updated_at"
_GROUP_UPSERT = upsert("alert_groups", _GROUP_COLUMNS, key=1)


def _group(r: Sequence[Any]) -> AlertGroup:
    return AlertGroup(
        target=r[0],
        opened_at=from_ms(r[1]),
        flush_at=_dt(r[2]),
        announced_at=_dt(r[3]),
        last_notified_at=_dt(r[4]),
        members=tuple(_member(d) for d in json.loads(r[5])),
        updated_at=_dt(r[6]),
    )


def load_groups(conn: Connection) -> list[AlertGroup]:
    """Return every open alert group, by target."""
    rows = conn.execute(f"SELECT {_GROUP_COLUMNS} FROM alert_groups ORDER BY target").fetchall()
    return [_group(r) for r in rows]


GroupDecision: TypeAlias = Callable[
    [str | None, AlertGroup | None], tuple[AlertGroup | None, Sequence[NewAlert]]
]
"""What the alerter decides inside a group's transaction.

It is called with the component's committed open level (None without one, or
for a batch that is due) and the target's group as stored, and returns the
group to store (None: closed) and the alerts to insert.
"""


def write_group(
    conn: Connection,
    target: str,
    state: AlertState | None,
    decide: GroupDecision,
    now: int,
) -> tuple[list[int], AlertGroup | None]:
    """Step `target`'s group by `decide`, with `state`'s row and the alerts, in one transaction.

    The group is read in the transaction (and locked on PostgreSQL), so agents
    sharing the store each see the others' members: one group, one message.
    Returns the new alert ids and the group as stored now.
    """
    lock = " FOR UPDATE" * conn.dialect.row_locks
    level: str | None = None
    if state is not None:
        row = conn.execute(
            "SELECT open_level FROM alert_state WHERE target = ? AND probe = ?" + lock,
            (state.target, state.probe),
        ).fetchone()
        level = row[0] if row is not None else None
    row = conn.execute(
        f"SELECT {_GROUP_COLUMNS} FROM alert_groups WHERE target = ?" + lock, (target,)
    ).fetchone()
    group, alerts = decide(level, _group(row) if row is not None else None)
    if state is not None:
        conn.execute(_STATE_UPSERT, _state_row(state))
    if group is None:
        conn.execute("DELETE FROM alert_groups WHERE target = ?", (target,))
    else:
        conn.execute(
            _GROUP_UPSERT,
            (
                target,
                to_ms(group.opened_at),
                _ms(group.flush_at),
                _ms(group.announced_at),
                _ms(group.last_notified_at),
                _dumps([_member_json(m) for m in group.members]),
                _ms(group.updated_at),
            ),
        )
    return _insert_alerts(conn, alerts, now), group


# ---------------------------------------------------------------------------
# Outbox

_ALERT_COLUMNS = (
    "a.id, a.target, a.probe, a.kind, a.level, a.title, a.body, a.body_format,"
    " a.notify_type, a.tags, a.created_at"
)


def _alert(r: Sequence[Any]) -> StoredAlert:
    return StoredAlert(
        id=r[0],
        target=r[1],
        probe=r[2],
        kind=r[3],
        level=r[4],
        title=r[5],
        body=r[6],
        body_format=r[7],
        notify_type=r[8],
        tags=tuple(json.loads(r[9])),
        created_at=from_ms(r[10]),
    )


def unrouted_alerts(conn: Connection) -> list[StoredAlert]:
    """Return alerts whose deliveries were not created yet, oldest first."""
    rows = conn.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts a WHERE a.routed_at IS NULL ORDER BY a.id"
    ).fetchall()
    return [_alert(r) for r in rows]


def route_alert(
    conn: Connection, alert_id: int, destinations: Sequence[tuple[str, str]], now: int
) -> None:
    """Create the alert's delivery rows (due now) and mark it routed; idempotent."""
    conn.executemany(
        "INSERT INTO alert_deliveries (alert_id, destination, destination_label,"
        " created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [(alert_id, key, label, now, now) for key, label in destinations],
    )
    conn.execute(
        "UPDATE alerts SET routed_at = ? WHERE id = ? AND routed_at IS NULL", (now, alert_id)
    )


# The oldest open delivery of each destination: a destination's alerts go out
# in order, and one failing destination holds up only its own queue.
_HEADS = (
    "SELECT min(id) FROM alert_deliveries WHERE delivered_at IS NULL AND gave_up_at IS NULL"
    " GROUP BY destination"
)


def _delivery(r: Sequence[Any]) -> Delivery:
    return Delivery(
        id=r[0],
        destination=r[1],
        destination_label=r[2],
        attempts=r[3],
        next_attempt_at=from_ms(r[4]),
        last_error=r[5],
        alert=_alert(r[6:]),
    )


_DELIVERY_COLUMNS = (
    "d.id, d.destination, d.destination_label, d.attempts, d.next_attempt_at, d.last_error, "
    + _ALERT_COLUMNS
)


def due_deliveries(conn: Connection, now: int, *, lock: bool = False) -> list[Delivery]:
    """Return the head delivery of each destination when it is due at `now`.

    `lock` (a writer's claim on PostgreSQL): the rows stay locked until the
    transaction ends, and one another agent claimed meanwhile is not due any more.
    """
    rows = conn.execute(
        f"SELECT {_DELIVERY_COLUMNS} FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id"
        f" WHERE d.id IN ({_HEADS}) AND d.next_attempt_at <= ? ORDER BY d.id"
        + " FOR UPDATE OF d"
        * lock,
        (now,),
    ).fetchall()
    return [_delivery(r) for r in rows]


def claim_due_deliveries(conn: Connection, now: int, until: int) -> list[Delivery]:
    """Return the due head deliveries as `due_deliveries` does, and hold them until `until`.

    For agents sharing one outbox: inside the writer's transaction, a delivery one
    worker claimed is not due for another until its attempt is recorded (which
    sets the next time) or the claim runs out (the claimer died mid-send).
    """
    due = due_deliveries(conn, now, lock=conn.dialect.row_locks)
    conn.executemany(
        "UPDATE alert_deliveries SET next_attempt_at = ? WHERE id = ?",
        [(until, d.id) for d in due],
    )
    return due


def next_delivery_at(conn: Connection, exclude: Sequence[str] = ()) -> datetime | None:
    """Return when the earliest head delivery is due (skipping `exclude`d destinations)."""
    rows = conn.execute(
        "SELECT destination, next_attempt_at FROM alert_deliveries"
        f" WHERE id IN ({_HEADS}) ORDER BY next_attempt_at"
    ).fetchall()
    skip = set(exclude)
    for destination, at in rows:
        if destination not in skip:
            return from_ms(at)
    return None


def record_attempt(
    conn: Connection,
    delivery_id: int,
    *,
    at: int,
    ok: bool,
    error: str | None,
    elapsed_ms: int,
    next_attempt_at: int | None,
    gave_up: bool,
) -> None:
    """Record one attempt and move the delivery on: delivered, retry later, or given up."""
    conn.execute(
        "INSERT INTO alert_attempts (delivery_id, at, ok, error, elapsed_ms) VALUES (?,?,?,?,?)",
        (delivery_id, at, int(ok), error, elapsed_ms),
    )
    conn.execute(
        "UPDATE alert_deliveries SET attempts = attempts + 1, last_error = ?,"
        " delivered_at = ?, gave_up_at = ?, next_attempt_at = coalesce(?, next_attempt_at)"
        " WHERE id = ?",
        (
            None if ok else error,
            at if ok else None,
            at if gave_up and not ok else None,
            next_attempt_at,
            delivery_id,
        ),
    )


def deliveries(conn: Connection, limit: int = 100) -> list[dict[str, Any]]:
    """Return the newest deliveries with their alert title, for inspection (newest first)."""
    rows = conn.execute(
        "SELECT d.id, a.id, a.target, a.probe, a.kind, a.title, d.destination_label,"
        " d.attempts, d.delivered_at, d.gave_up_at, d.last_error, a.created_at"
        " FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id"
        " ORDER BY d.id DESC LIMIT ?",
        (limit,),
    ).fetchall()
    keys = (
        "id",
        "alert_id",
        "target",
        "probe",
        "kind",
        "title",
        "destination",
        "attempts",
        "delivered_at",
        "gave_up_at",
        "last_error",
        "created_at",
    )
    out = []
    for r in rows:
        row = dict(zip(keys, r, strict=True))
        for k in ("delivered_at", "gave_up_at", "created_at"):
            row[k] = _dt(row[k])
        out.append(row)
    return out


def prune_batch(conn: Connection, cutoff: int, batch: int) -> int:
    """Delete up to `batch` alerts created before `cutoff` whose deliveries are all settled."""
    cur = conn.execute(
        "DELETE FROM alerts WHERE id IN (SELECT a.id FROM alerts a WHERE a.created_at < ?"
        " AND a.routed_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM alert_deliveries d"
        " WHERE d.alert_id = a.id AND d.delivered_at IS NULL AND d.gave_up_at IS NULL)"
        " LIMIT ?)",
        (cutoff, batch),
    )
    return cur.rowcount
