"""``sttwatch incident open|update|resolve|postmortem|list``: incidents with words from an operator.

`cli.py` parses the arguments; this module checks them against the config
and the store, and writes through `Store` (monitor/store/operator_rows.py).
Every check runs before anything is written: a bad id, target, kind or an
empty message exits 2 with a sentence naming what and where, the database
untouched. The commands write from their own process beside a running
``sttwatch run`` (SQLite's WAL and busy timeout, or PostgreSQL); ``run``
shows the change at its next render, within a minute (docs/incidents.md).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from monitor.models import INCIDENT_IMPACTS as IMPACTS
from monitor.models import OPEN_INCIDENT_STATUSES as OPEN_STATUSES

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.store import Incident, Store

__all__ = ["IMPACTS", "OPEN_STATUSES", "UsageError", "run_incident"]

EXIT_OK = 0
EXIT_BAD = 2


class UsageError(Exception):
    """An argument that names nothing real (a target, kind, id, file) or says nothing."""


def _text(value: str | None, flag: str) -> str:
    """Return `value` stripped, or raise UsageError when it is missing or blank."""
    text = (value or "").strip()
    if not text:
        raise UsageError(f"{flag} is empty: say what operators and users should read")
    return text


def _postmortem(value: str, flag: str) -> str:
    """Return the postmortem of ``--postmortem TEXT`` or ``@FILE`` (read as UTF-8)."""
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            value = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise UsageError(f"{flag} @{path}: cannot read the file: {why}") from None
        if not value.strip():
            raise UsageError(f"{flag} @{path}: the file is empty")
    return _text(value, flag)


def _kinds(config: Config, config_path: str, target: str, wanted: Sequence[str]) -> list[str]:
    """Return the probe kinds of `target` an incident names: `wanted`, else every configured one."""
    from monitor.probes.registry import did_you_mean

    names = [t.name for t in config.targets]
    found = next((t for t in config.targets if t.name == target), None)
    if found is None:
        raise UsageError(
            f"--target {target!r}: no such target in {config_path}{did_you_mean(target, names)}"
        )
    configured = list(found.probes)
    kinds: list[str] = []
    for kind in wanted or configured:
        if kind not in configured:
            raise UsageError(
                f"--component {kind!r}: target {target} in {config_path} runs no such probe"
                f"{did_you_mean(kind, configured)}"
            )
        if kind not in kinds:
            kinds.append(kind)
    return kinds


def _incident_id(value: str) -> int:
    if not value.isdigit() or int(value) <= 0:
        raise UsageError(
            f"incident id {value!r}: an id is a positive number (see `sttwatch incident list`)"
        )
    return int(value)


async def _existing(store: Store, incident_id: int, where: str) -> Incident:
    found = await store.incident(incident_id)
    if found is None:
        raise UsageError(f"no incident {incident_id} in {where} (see `sttwatch incident list`)")
    return found


def _name(inc: Incident) -> str:
    """Return the incident's headline as the page shows it."""
    if inc.title:
        return inc.title
    from monitor.site.kinds import component_name

    return f"{component_name(inc.probe)} failing"


def print_list(incidents: Sequence[Incident], out: TextIO) -> None:
    """Print `incidents` as a table, one a line: id, status, source, where, when, headline."""
    from monitor.site.format import when_text

    rows = [("ID", "STATUS", "SOURCE", "TARGET", "COMPONENTS", "STARTED", "ENDED", "TITLE")]
    for i in incidents:
        rows.append(
            (
                str(i.id),
                i.status,
                i.source,
                i.target,
                ",".join(i.affected or (i.probe,)),
                when_text(i.opened_at),
                when_text(i.closed_at) if i.closed_at else "ongoing",
                _name(i),
            )
        )
    widths = [max(len(r[n]) for r in rows) for n in range(len(rows[0]) - 1)]
    for r in rows:
        out.write(
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1] + "\n"
        )


async def _act(args: argparse.Namespace, config: Config, store: Store, where: str) -> int:
    """Check `args` against the config and the store, then write; return the exit code."""
    action = args.incident_action
    if action == "open":
        kinds = _kinds(config, args.config, args.target, args.component or [])
        title = _text(args.title, "--title")
        message = _text(args.message, "--message")
        iid = await store.open_operator_incident(
            args.target, kinds, title=title, message=message, status=args.status, impact=args.impact
        )
        print(iid)
        return EXIT_OK
    if action == "list":
        incidents = await store.incidents(open_only=args.open, limit=100_000)
        if not incidents:
            print("no open incidents" if args.open else "no incidents", file=sys.stderr)
        print_list(incidents, sys.stdout)
        return EXIT_OK
    iid = _incident_id(args.id)
    if action == "postmortem" or (action == "update" and args.postmortem is not None):
        if action == "update" and (args.status or args.message):
            raise UsageError("--postmortem goes alone: a postmortem is not a status update")
        if action == "update":
            text = _postmortem(args.postmortem, "--postmortem")
        else:
            text = _postmortem(args.text, "the postmortem")
        inc = await _existing(store, iid, where)
        if inc.is_open:
            raise UsageError(
                f"incident {iid} is {inc.status}, not resolved: a postmortem follows the resolution"
            )
        await store.set_postmortem(iid, text)
        print(f"incident {iid}: postmortem saved")
        return EXIT_OK
    message = _text(args.message, "--message")
    await _existing(store, iid, where)
    if action == "update":
        if not args.status:
            raise UsageError(f"--status is missing: one of {', '.join(OPEN_STATUSES)}")
        await store.post_incident_update(iid, status=args.status, message=message)
        print(f"incident {iid}: {args.status}")
        return EXIT_OK
    await store.resolve_incident(iid, message=message)
    print(f"incident {iid}: resolved")
    return EXIT_OK


async def _main(args: argparse.Namespace, config: Config) -> int:
    from monitor.app import Root
    from monitor.database_url import masked_database
    from monitor.store.operator_incidents import IncidentError

    where = masked_database(config.database)
    # The database must exist: an incident in a mistyped file would never show.
    root = Root(config, metrics=False, must_exist=True)
    async with root.opened() as rt:
        try:
            return await _act(args, config, rt.store, where)
        except IncidentError as exc:
            raise UsageError(f"{exc} (in {where})") from None


def run_incident(args: argparse.Namespace, config: Config) -> int:
    """Run the ``sttwatch incident`` subcommand `args` against `config`'s database."""
    import asyncio

    from monitor.database_url import masked_database
    from monitor.store import StoreWriteError

    prog = f"sttwatch incident {args.incident_action}"
    try:
        return asyncio.run(_main(args, config))
    except UsageError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
    except FileNotFoundError:
        print(
            f"{prog}: no database at {config.database} (sttwatch run creates it; is -c the config"
            " run uses?)",
            file=sys.stderr,
        )
    except (StoreWriteError, OSError) as exc:
        print(
            f"{prog}: cannot write the database {masked_database(config.database)}: {exc}",
            file=sys.stderr,
        )
    return EXIT_BAD
