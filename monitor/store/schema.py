"""The database schema, created and upgraded by sqlite-utils `Migrations`.

Migrations are applied in registration order, each in its own transaction
together with its record in ``_sqlite_migrations``, when `Store.open` runs. To
change the schema, append a new function decorated with ``@MIGRATIONS(name=...)``
at the end of this file; never edit one that has shipped. Names sort by their
``mNNN_`` prefix so the order is obvious when reading the table.

Reserved for later migrations: ``m002_alerts`` (alert state per component and the
alert outbox, issue 5).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlite_utils import Database, Migrations

__all__ = ["MIGRATIONS", "OPERATOR_INCIDENT_COLUMNS", "ROLLUP_TABLES"]

_Migration = Callable[["Database"], None]

# Where sqlite-utils records applied migrations (`Migrations.migrations_table`).
_APPLIED_TABLE = "_sqlite_migrations"
# Tries of `apply` against another process migrating the same file (~5 s in all).
_MIGRATE_ATTEMPTS = 14


class _LazyMigrations:
    """sqlite-utils `Migrations`, built only when there is something to migrate.

    Registering works as on `Migrations` (``@MIGRATIONS(name=...)``); any other
    attribute (``pending``, ``applied``...) is the real object's. `apply` first
    reads ``_sqlite_migrations`` with plain sqlite3: when every migration is
    recorded there (every start but the first after an upgrade) there is nothing
    to do, and sqlite-utils, ~0.05 s to import, ~0.15 s with numpy, stays out of
    the process (BENCHMARKS.md F4). Otherwise it is imported on the caller's
    thread (the store's writer) and applies what is pending.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._steps: list[tuple[str, _Migration]] = []
        self._built: Migrations | None = None
        self._lock = threading.Lock()  # two stores may open at once, each on its thread

    def __call__(self, *, name: str) -> Callable[[_Migration], _Migration]:
        """Return a decorator registering a migration under `name`, in order."""
        if self._built is not None:
            raise RuntimeError("migrations must be registered before the first use")

        def register(fn: _Migration) -> _Migration:
            self._steps.append((name, fn))
            return fn

        return register

    def _migrations(self) -> Migrations:
        with self._lock:
            if self._built is None:
                from monitor.store.writer import import_sqlite_utils

                built: Migrations = import_sqlite_utils().Migrations(self._name)
                for name, fn in self._steps:
                    built(name=name)(fn)
                self._built = built
            return self._built

    def up_to_date(self, conn: sqlite3.Connection) -> bool:
        """Return True when `conn`'s database has every migration applied, as sqlite-utils would.

        That is: its ``_sqlite_migrations`` table exists with ``id`` as primary
        key (else sqlite-utils would create or rebuild it) and lists every
        registered name under this set. Read-only; plain sqlite3.
        """
        table = _APPLIED_TABLE
        if not conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone():
            return False
        info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
        # table_info rows: (cid, name, type, notnull, default, pk position or 0)
        if [row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5])] != ["id"]:
            return False
        applied = {
            row[0]
            for row in conn.execute(
                f'SELECT name FROM "{table}" WHERE migration_set = ?', (self._name,)
            )
        }
        return all(name in applied for name, _ in self._steps)

    def apply(self, db: Database) -> None:
        """Apply the pending migrations to `db` (on the caller's thread: the writer's)."""
        # Two processes opening one new file both see a step pending. The one that
        # loses finds the step already there ("duplicate column name"), or its
        # record already written (the UNIQUE constraint), or the file locked by the
        # other's step (SQLITE_BUSY, which a deferred transaction gets at once
        # rather than after the busy timeout). sqlite-utils rolls it back. Each step
        # commits with its record, so reading again what is pending, a little
        # later, skips what the other applied; a step failing on its own fails
        # every time and is raised.
        for attempt in range(_MIGRATE_ATTEMPTS):
            if self.up_to_date(db.conn):
                return
            try:
                self._migrations().apply(db)
                return
            except (sqlite3.OperationalError, sqlite3.IntegrityError):
                if attempt == _MIGRATE_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):  # not yet set (copy, pickle): never build for those
            raise AttributeError(attr)
        return getattr(self._migrations(), attr)


MIGRATIONS = _LazyMigrations("sttwatch")

ROLLUP_TABLES = ("rollup_hourly", "rollup_daily")

# The columns m006 adds to `incidents`, the same on PostgreSQL (pg_schema's p003).
OPERATOR_INCIDENT_COLUMNS = (
    "source TEXT NOT NULL DEFAULT 'probe'",  # probe | operator
    "title TEXT",
    "affected TEXT",  # JSON probe kinds an operator incident names
    "postmortem TEXT",
    "postmortem_at BIGINT",  # epoch ms (SQLite: an INTEGER)
)

_ROLLUP_COLUMNS = """
    component INTEGER NOT NULL REFERENCES components(id),
    bucket INTEGER NOT NULL,          -- bucket start, epoch ms (UTC hour or day)
    runs INTEGER NOT NULL,
    up INTEGER NOT NULL,
    degraded INTEGER NOT NULL,
    down INTEGER NOT NULL,
    lat_n INTEGER NOT NULL,           -- good runs whose key latency is summed below
    lat_sum REAL NOT NULL,            -- seconds
    lat_min REAL,
    lat_max REAL,
    lat_hist TEXT NOT NULL,           -- JSON array of counts per records.LATENCY_BUCKETS
    phases TEXT,                      -- JSON {phase: [sum_seconds, count]} over good runs
    wer_sum REAL NOT NULL DEFAULT 0,
    wer_n INTEGER NOT NULL DEFAULT 0,
    errors TEXT,                      -- JSON {error_kind: count}
    PRIMARY KEY (component, bucket)
"""


@MIGRATIONS(name="m001_initial")
def m001_initial(db: Database) -> None:
    """Components with their state, raw results, roll-ups, incidents, deletion ledger."""
    db.execute(
        """
        CREATE TABLE components (
            id INTEGER PRIMARY KEY,
            target TEXT NOT NULL,
            probe TEXT NOT NULL,
            last_status INTEGER,              -- 0 up, 1 degraded, 2 down
            last_started_at INTEGER,          -- epoch ms
            consecutive_down INTEGER NOT NULL DEFAULT 0,
            consecutive_good INTEGER NOT NULL DEFAULT 0,
            streak_started_at INTEGER,        -- start of the current down/good streak
            streak_kinds TEXT,                -- JSON error kinds of the current down streak
            streak_message TEXT,              -- first message of the current down streak
            open_incident_id INTEGER REFERENCES incidents(id),
            UNIQUE (target, probe)
        )
        """
    )
    # One row per probe run, kept small: the component as an integer, times as
    # epoch ms, durations as microseconds, status as 0/1/2, empty text as NULL.
    db.execute(
        """
        CREATE TABLE results (
            id INTEGER PRIMARY KEY,
            component INTEGER NOT NULL REFERENCES components(id),
            started_at INTEGER NOT NULL,
            status INTEGER NOT NULL CHECK (status IN (0, 1, 2)),
            error_kind TEXT,
            duration_us INTEGER NOT NULL,
            message TEXT,
            phases TEXT,                      -- JSON {phase: microseconds}
            details TEXT                      -- JSON
        )
        """
    )
    # The only index on results: latest-per-component, time windows and pruning
    # all go through it (rowid is implicitly its last column).
    db.execute("CREATE INDEX results_component_time ON results (component, started_at)")
    for table in ROLLUP_TABLES:
        db.execute(f"CREATE TABLE {table} ({_ROLLUP_COLUMNS}) WITHOUT ROWID")
    db.execute(
        """
        CREATE TABLE incidents (
            id INTEGER PRIMARY KEY,
            component INTEGER NOT NULL REFERENCES components(id),
            opened_at INTEGER NOT NULL,
            closed_at INTEGER,
            status TEXT NOT NULL,             -- investigating | resolved
            error_kinds TEXT NOT NULL,        -- JSON list, in the order first seen
            first_message TEXT NOT NULL,
            last_message TEXT NOT NULL,
            down_runs INTEGER NOT NULL,
            updates TEXT NOT NULL             -- JSON [{at, status, body}]
        )
        """
    )
    db.execute("CREATE INDEX incidents_opened ON incidents (opened_at)")
    db.execute("CREATE INDEX incidents_open ON incidents (component) WHERE closed_at IS NULL")
    db.execute(
        """
        CREATE TABLE ledger (
            target TEXT NOT NULL,
            transcript_id TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            deleted_at INTEGER,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            last_attempt_at INTEGER,
            PRIMARY KEY (target, transcript_id)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE INDEX ledger_pending ON ledger (created_at) WHERE deleted_at IS NULL")
    db.execute("CREATE INDEX ledger_deleted ON ledger (deleted_at) WHERE deleted_at IS NOT NULL")


@MIGRATIONS(name="m002_alerts")
def m002_alerts(db: Database) -> None:
    """Alert state per component, the alert outbox and its attempts (issue 5; store/alerts.py)."""
    from monitor.store.alerts import create_tables

    create_tables(db)


@MIGRATIONS(name="m003_compact_rollups")
def m003_compact_rollups(db: Database) -> None:
    """Roll-up rows re-encoded compactly (records.py, roll-up codec); every row copied over.

    `runs` and `lat_n` go (always up + degraded + down and up + degraded), times
    become integer microseconds, and the histogram and phase sums BLOBs of varints
    instead of JSON: about a quarter of the bytes per row (docs/storage.md).
    """
    import json

    from monitor.store.records import encode_histogram, encode_phases

    def us(seconds: float | None) -> int | None:
        return None if seconds is None else round(seconds * 1_000_000)

    def convert(row: tuple[Any, ...]) -> tuple[Any, ...]:
        (cid, probe, bucket, up, degraded, down, lat_sum, lat_min, lat_max, hist, phases,
         wer_sum, wer_n, errors) = row  # fmt: skip
        sums = {k: (round(s * 1_000_000), n) for k, (s, n) in json.loads(phases or "{}").items()}
        return (
            cid,
            bucket,
            up,
            degraded,
            down,
            us(lat_sum),
            us(lat_min),
            us(lat_max),
            encode_histogram(json.loads(hist)),
            encode_phases(probe, up + degraded, sums),
            wer_sum,
            wer_n,
            errors,
        )

    for table in ROLLUP_TABLES:
        db.execute(
            f"""
            CREATE TABLE {table}_v2 (
                component INTEGER NOT NULL REFERENCES components(id),
                bucket INTEGER NOT NULL,      -- bucket start, epoch ms (UTC hour or day)
                up INTEGER NOT NULL,
                degraded INTEGER NOT NULL,
                down INTEGER NOT NULL,
                lat_sum INTEGER NOT NULL,     -- µs, key latency of good runs
                lat_min INTEGER,              -- µs
                lat_max INTEGER,              -- µs
                lat_hist BLOB NOT NULL,       -- varints: (gap, count) per non-empty bucket
                phases BLOB,                  -- varints: per phase, sum µs over good runs
                wer_sum REAL NOT NULL DEFAULT 0,
                wer_n INTEGER NOT NULL DEFAULT 0,
                errors TEXT,                  -- JSON: count per error kind
                PRIMARY KEY (component, bucket)
            ) WITHOUT ROWID
            """
        )
        old = db.execute(
            "SELECT r.component, coalesce(c.probe, ''), r.bucket, r.up, r.degraded, r.down,"
            " r.lat_sum, r.lat_min, r.lat_max, r.lat_hist, r.phases, r.wer_sum, r.wer_n,"
            f" r.errors FROM {table} r LEFT JOIN components c ON c.id = r.component"
        )
        db.conn.executemany(
            f"INSERT INTO {table}_v2 VALUES ({', '.join('?' * 13)})", map(convert, old)
        )
        db.execute(f"DROP TABLE {table}")
        db.execute(f"ALTER TABLE {table}_v2 RENAME TO {table}")


@MIGRATIONS(name="m004_whole_streaks")
def m004_whole_streaks(db: Database) -> None:
    """Both copies of a component's streak (monitor/outcome.py) keep all of it.

    `components` learns the run of the last status (`status_run`, `status_since`;
    it knew only the down and the good run), `alert_state` the good run
    (`good_len`, `good_since`; it knew only the run of the last status). Rows
    written before are filled with what they imply: no consumer read the
    missing half, so nothing judged so far changes.
    """
    db.execute("ALTER TABLE components ADD COLUMN status_run INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE components ADD COLUMN status_since INTEGER")
    db.execute(
        "UPDATE components SET status_run = CASE WHEN last_status = 2 THEN consecutive_down"
        " ELSE consecutive_good END, status_since = streak_started_at"
    )
    db.execute("ALTER TABLE alert_state ADD COLUMN good_len INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE alert_state ADD COLUMN good_since INTEGER")
    db.execute(
        "UPDATE alert_state SET good_len = streak_len, good_since = streak_since"
        " WHERE streak_status IN (0, 1)"
    )


@MIGRATIONS(name="m005_locations")
def m005_locations(db: Database) -> None:
    """Where each result was probed from, each component's state per location, and quorum.

    Results, ledger entries and incidents learn their location; every row already
    stored was written by a single agent, so it reads as the default location
    ``local`` (`monitor.models.LOCAL`): SQLite keeps the default in the schema,
    so no stored row is rewritten or lost. `component_locations` is each
    location's own streak of a component (the outcome machine's, as `components`
    keeps the streak of all its results); incidents open and close on their
    quorum (monitor/outcome.py `combine`). Existing components start with one
    location, ``local``, holding their current streak and open outage.
    """
    db.execute("ALTER TABLE results ADD COLUMN location TEXT NOT NULL DEFAULT 'local'")
    db.execute("ALTER TABLE ledger ADD COLUMN location TEXT NOT NULL DEFAULT 'local'")
    # The locations that saw the outage (JSON list, in the order they confirmed it).
    db.execute("""ALTER TABLE incidents ADD COLUMN locations TEXT NOT NULL DEFAULT '["local"]'""")
    db.execute(
        """
        CREATE TABLE component_locations (
            component INTEGER NOT NULL REFERENCES components(id),
            location TEXT NOT NULL,
            last_status INTEGER NOT NULL,     -- 0 up, 1 degraded, 2 down
            last_started_at INTEGER NOT NULL, -- epoch ms
            key_latency_us INTEGER,           -- the last run's key latency (good runs)
            status_run INTEGER NOT NULL,      -- results in a row with last_status
            status_since INTEGER,
            good_run INTEGER NOT NULL,        -- results in a row that were not down
            good_since INTEGER,
            outage_since INTEGER,             -- set while this location confirms an outage
            streak_kinds TEXT,                -- JSON error kinds of the current down streak
            streak_message TEXT,              -- first message of the current down streak
            PRIMARY KEY (component, location)
        ) WITHOUT ROWID
        """
    )
    db.execute(
        "INSERT INTO component_locations (component, location, last_status, last_started_at,"
        " status_run, status_since, good_run, good_since, outage_since, streak_kinds,"
        " streak_message)"
        " SELECT c.id, 'local', c.last_status, c.last_started_at, c.status_run, c.status_since,"
        " c.consecutive_good, CASE WHEN c.last_status = 2 THEN NULL ELSE c.streak_started_at END,"
        " i.opened_at, c.streak_kinds, c.streak_message"
        " FROM components c LEFT JOIN incidents i ON i.id = c.open_incident_id"
        " WHERE c.last_status IS NOT NULL AND c.last_started_at IS NOT NULL"
    )


@MIGRATIONS(name="m006_operator_incidents")
def m006_operator_incidents(db: Database) -> None:
    """Incidents with words from an operator (``sttwatch incident``, docs/incidents.md).

    `incidents` learns who opened it (`source`: every row stored so far is the
    probes'), an operator incident's `title`, the probe kinds it names
    (`affected`, JSON) and the `postmortem` with when it was posted (its impact
    goes in the `impact` column m007_grouped_incidents adds). The operator's
    updates go to a table of their own rather than into `incidents.updates`,
    which the incident machine rewrites while the incident is open: another
    process's update is never lost to that rewrite.
    Nothing stored is rewritten.
    """
    for column in OPERATOR_INCIDENT_COLUMNS:
        db.execute(f"ALTER TABLE incidents ADD COLUMN {column}")
    db.execute(
        """
        CREATE TABLE incident_updates (
            id INTEGER PRIMARY KEY,
            incident INTEGER NOT NULL REFERENCES incidents(id),
            at INTEGER NOT NULL,              -- epoch ms, when it was posted
            status TEXT NOT NULL,             -- investigating | identified | monitoring | resolved
            body TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX incident_updates_incident ON incident_updates (incident, id)")


@MIGRATIONS(name="m007_grouped_incidents")
def m007_grouped_incidents(db: Database) -> None:
    """One incident per target, listing its components; slow periods are incidents too.

    `incident_components` lists each incident's members (docs/storage.md,
    Incidents): the component, the worst impact it reached (``minor`` slow,
    ``major`` or ``critical`` down), its state (``down`` | ``degraded`` |
    ``recovered``), when it joined and left, its error kinds and last message.
    `incidents` learns its `impact` (the worst of its members) and
    `component_locations` when each location began to confirm a slow period
    (`slow_since`). Every incident already stored was one component's outage:
    it becomes an incident of that one member, impact ``major``, its kinds and
    messages copied, so nothing stored is lost. An operator's incident
    (m006_operator_incidents) has no members: its impact stays ``major``.
    """
    db.execute("ALTER TABLE incidents ADD COLUMN impact TEXT NOT NULL DEFAULT 'major'")
    db.execute("ALTER TABLE component_locations ADD COLUMN slow_since INTEGER")
    db.execute(
        """
        CREATE TABLE incident_components (
            incident INTEGER NOT NULL REFERENCES incidents(id),
            component INTEGER NOT NULL REFERENCES components(id),
            position INTEGER NOT NULL,        -- 0 for the member that opened it, then in order
            impact TEXT NOT NULL,             -- minor | major | critical: the worst it reached
            state TEXT NOT NULL,              -- down | degraded | recovered
            joined_at INTEGER NOT NULL,       -- epoch ms: the start of its problem run
            left_at INTEGER,                  -- epoch ms: its first good run, once recovered
            error_kinds TEXT NOT NULL,        -- JSON list, in the order first seen
            last_message TEXT NOT NULL,
            PRIMARY KEY (incident, component)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE INDEX incident_components_component ON incident_components (component)")
    db.execute(
        "INSERT INTO incident_components (incident, component, position, impact, state,"
        " joined_at, left_at, error_kinds, last_message)"
        " SELECT id, component, 0, 'major',"
        " CASE WHEN closed_at IS NULL THEN 'down' ELSE 'recovered' END,"
        " opened_at, closed_at, error_kinds, last_message FROM incidents WHERE source = 'probe'"
    )


@MIGRATIONS(name="m008_alert_groups")
def m008_alert_groups(db: Database) -> None:
    """One open alert per target: its components' alerts grouped into one message.

    A new table, so no stored row changes; alerts open when it lands were opened
    one per component and resolve that way (monitor/alerting/grouping.py).
    """
    from monitor.store.alerts import create_group_table

    create_group_table(db)
