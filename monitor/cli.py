"""The ``sttwatch`` command line: argparse subcommands wired to the modules that do the work."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from monitor import __version__

if TYPE_CHECKING:
    # Every command imports what it needs when it runs: `sttwatch --help` and a
    # config error stay instant, and no command pays for another's imports.
    import asyncio

    from monitor.config import Config

EXIT_OK = 0
EXIT_DOWN = 1
EXIT_CONFIG = 2

DEFAULT_CONFIG = "sttwatch.yaml"

LOG_LEVELS = ("debug", "info", "warning", "error")

T = TypeVar("T")


def _run(main: Coroutine[Any, Any, T]) -> T:
    """Return what `main` returns, run in a new event loop by asyncio.run.

    The value is handed back outside the loop's main task: asyncio.run checks
    the SIGINT handler it installed with signal.getsignal/signal.signal, which
    format the handler's repr, and with it the task's and its result's; for a
    rendered site that repr is ~0.6 MB and ~10 ms, made twice.
    """
    import asyncio

    box: list[T] = []

    async def task() -> None:
        box.append(await main)

    asyncio.run(task())
    return box[0]


def _log_level(args: argparse.Namespace) -> str:
    """Return the logging level: --log-level, else the command's default lowered once per -v."""
    if getattr(args, "log_level", None):
        return str(args.log_level).upper()
    default = LOG_LEVELS.index(getattr(args, "default_log_level", "info"))
    return LOG_LEVELS[max(0, default - getattr(args, "verbose", 0))].upper()


def _load(path: str, level: str = "INFO", *, alerts_only: bool = False) -> Config:
    """Return the loaded config, or exit 2 with the error printed (never a traceback)."""
    from monitor.config import ConfigError, load_config, permission_warnings
    from monitor.logs import setup_logging

    try:
        cfg = load_config(path, alerts_only=alerts_only)
    except ConfigError as exc:
        print(f"sttwatch: {exc.render()}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None
    for warning in permission_warnings(path):
        print(f"sttwatch: warning: {warning}", file=sys.stderr)
    setup_logging(level, secrets=cfg.secrets())
    return cfg


def _cmd_check_config(args: argparse.Namespace) -> int:
    import yaml

    cfg = _load(args.config, _log_level(args))
    print(f"# {args.config}: valid. Resolved configuration, secrets masked:")
    for note in cfg.notes():
        print(f"# note: {note}")
    print(yaml.safe_dump(cfg.masked(), sort_keys=False, allow_unicode=True), end="")
    return EXIT_OK


def _cmd_simulate(args: argparse.Namespace) -> int:
    import importlib

    from monitor.probes.registry import Unknown, provider

    try:
        module = provider(args.provider).simulator
    except Unknown as exc:
        print(f"sttwatch simulate: --provider: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if module is None:
        print(f"sttwatch simulate: provider {args.provider!r} has no simulator", file=sys.stderr)
        return EXIT_CONFIG
    # Every provider's simulator module serves with the same run_simulator signature.
    run_simulator = importlib.import_module(module).run_simulator

    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        print(
            f"sttwatch simulate: --listen must be HOST:PORT, got {args.listen!r}", file=sys.stderr
        )
        return EXIT_CONFIG
    code: int = run_simulator(
        host.strip("[]"),
        int(port),
        args.scenario,
        tls=args.tls,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )
    return code


def _cmd_once(args: argparse.Namespace) -> int:
    import json

    from monitor.app import open_runtime
    from monitor.database_url import masked_database
    from monitor.runtime import results_table
    from monitor.store import StoreWriteError

    # stdout is for results; by default only problems go to stderr.
    cfg = _load(args.config, _log_level(args))

    async def once() -> tuple[list[Any], int]:
        # No metrics: the process exits before anything could scrape them. A dry run
        # unless --record: results are printed, not stored, but the deletion ledger is
        # written all the same (the database is created for it if need be).
        async with open_runtime(cfg, metrics=False, record=args.record) as rt:
            return await rt.run_once(), rt.store_write_errors

    try:
        results, unstored = _run(once())
    except (StoreWriteError, OSError) as exc:
        print(
            f"sttwatch once: cannot open the database {masked_database(cfg.database)}: {exc}",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    if unstored:
        print(
            f"sttwatch once: warning: {unstored} result(s) could not be stored in"
            f" {masked_database(cfg.database)}",
            file=sys.stderr,
        )
    if args.json:
        for r in results:
            print(json.dumps(r.to_json(), ensure_ascii=False))
    else:
        print(results_table(results, cfg))
    return EXIT_OK if all(r.ok for r in results) else EXIT_DOWN


def _until_signal(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `main(stop)` in a new event loop; SIGINT/SIGTERM set `stop` for a graceful end."""
    import asyncio
    import signal

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
        try:
            await main(stop)
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)

    asyncio.run(runner())


def _cmd_run(args: argparse.Namespace) -> int:
    from monitor.app import serve
    from monitor.database_url import masked_database
    from monitor.preflight import StartupError
    from monitor.server import ListenError
    from monitor.store import StoreWriteError

    cfg = _load(args.config, _log_level(args))
    try:
        # The scheduler plus the web server (status page, /metrics, /healthz).
        _until_signal(lambda stop: serve(cfg, stop))
    except (ListenError, StartupError) as exc:
        print(f"sttwatch run: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (StoreWriteError, OSError) as exc:
        print(
            f"sttwatch run: cannot open the database {masked_database(cfg.database)}: {exc}",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    return EXIT_OK


def _cmd_render(args: argparse.Namespace) -> int:
    from monitor.app import render_database
    from monitor.database_url import masked_database
    from monitor.site.publish import SiteWriteError
    from monitor.store import StoreWriteError

    cfg = _load(args.config, _log_level(args))
    try:
        view = _run(render_database(cfg))
    except FileNotFoundError:
        print(f"sttwatch render: no database at {cfg.database}", file=sys.stderr)
        return EXIT_CONFIG
    except SiteWriteError as exc:
        print(f"sttwatch render: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (StoreWriteError, OSError) as exc:
        print(
            f"sttwatch render: cannot render from {masked_database(cfg.database)}: {exc}",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    print(f"{cfg.site_dir}/index.html: {view.description} ({len(view.components)} components)")
    return EXIT_OK


def _cmd_migrate_db(args: argparse.Namespace) -> int:
    from monitor.database_url import is_postgres_url, masked_database
    from monitor.store.copy import CopyError, copy_history

    target = masked_database(args.to)
    if not is_postgres_url(args.to):
        print(f"sttwatch migrate-db: --to takes a postgresql:// URL, not {target}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        report = copy_history(args.source, args.to)
    except CopyError as exc:
        print(f"sttwatch migrate-db: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except Exception as exc:  # psycopg's and sqlite3's errors: say which side, and stop
        message = str(exc).replace(args.to, target)
        print(
            f"sttwatch migrate-db: copy into {target} failed, nothing written: {message}",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    width = max(map(len, report.copied))
    for table, n in report.copied.items():
        print(f"{table:<{width}}  {n:>10,} rows  ({report.in_target[table]:,} in the target)")
    if not report.complete:
        print("sttwatch migrate-db: the target's counts differ from the copy", file=sys.stderr)
        return 1
    print(f"copied {args.source} into {target}: set `database: {target}` in the config")
    return EXIT_OK


def _cmd_incident(args: argparse.Namespace) -> int:
    from monitor.incident_cmd import run_incident

    return run_incident(args, _load(args.config, _log_level(args)))


def _cmd_test_alert(args: argparse.Namespace) -> int:
    import asyncio

    from monitor.alerting import run_test_alert

    # Only the alerts are used: a target's ${API_KEY} need not be set to test them.
    cfg = _load(args.config, _log_level(args), alerts_only=True)
    return asyncio.run(run_test_alert(cfg, sys.stdout))


def _cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo import run_demo
    from monitor.preflight import StartupError
    from monitor.server import ListenError

    host, _, port = args.listen.rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port.isdigit():
        print(
            f"sttwatch demo: --listen must be 127.0.0.1:PORT (loopback only), got {args.listen!r}",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    # The storyline speaks on stdout; by default only problems go to stderr (main).
    try:
        _until_signal(
            lambda stop: run_demo(stop, say=lambda line: print(line, flush=True), port=int(port))
        )
    except ListenError as exc:
        print(f"sttwatch demo: {exc} (try --listen 127.0.0.1:0)", file=sys.stderr)
        return EXIT_CONFIG
    except StartupError as exc:
        print(f"sttwatch demo: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print("sttwatch demo: stopped; the simulator and the demo's files are gone.")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand of docs/design.md §3."""
    # Accepted before the command and after it (`sttwatch -v run`, `sttwatch run -v`).
    # SUPPRESS: a subcommand's parser would otherwise overwrite what was given before it.
    logging_flags = argparse.ArgumentParser(add_help=False)
    group = logging_flags.add_argument_group("logging (every command)")
    group.add_argument(
        "--log-level",
        type=str.lower,
        choices=LOG_LEVELS,
        default=argparse.SUPPRESS,
        metavar="LEVEL",
        help="log at LEVEL and above to stderr: debug, info, warning or error (default: info; "
        "warning for once and demo, whose stdout is their output)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="log one level more than the command's default (-vv: two); --log-level wins",
    )
    parser = argparse.ArgumentParser(
        prog="sttwatch",
        description=(
            "Self-hosted uptime and health monitor for speech-to-text APIs. Every interval it "
            "checks each target's REST API, runs a real transcription (and deletes what the "
            "API keeps), opens a streaming session and, where configured, waits for a "
            "webhook; results go to SQLite or PostgreSQL, Prometheus metrics, a static "
            "status page and Apprise alerts."
        ),
        epilog="Run 'sttwatch demo' to see it all against the built-in simulator.",
        parents=[logging_flags],
    )
    parser.add_argument("--version", action="version", version=f"sttwatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "-c",
            "--config",
            default=DEFAULT_CONFIG,
            metavar="CONFIG",
            help=f"YAML configuration file (default: {DEFAULT_CONFIG})",
        )

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        # The summary is both the line in `sttwatch --help` and the text of `sttwatch NAME --help`.
        return sub.add_parser(
            name,
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            parents=[logging_flags],
        )

    p = command(
        "run",
        "run the scheduler and the web server (status page, /metrics, /healthz, and the "
        "webhook receiver when webhook_base_url is set)",
    )
    p.epilog = (
        "Before it writes anything, run binds the listen address and checks that the database "
        "can be opened or created and the site directory written; if one cannot, it exits 2 "
        "saying which, with nothing created."
    )
    with_config(p)
    p.set_defaults(func=_cmd_run)

    p = command(
        "once",
        "run each probe once (all but webhook, which needs run's web server) and print the "
        "results, stored only with --record; "
        "exit 0 all up or degraded, 1 any down, 2 bad config or database",
    )
    with_config(p)
    p.add_argument("--json", action="store_true", help="print one JSON object per result")
    p.add_argument(
        "--record",
        action="store_true",
        help="store the results (they count toward the page's uptime and incidents); without "
        "it only the deletion ledger is written, so no transcript a probe creates is left behind",
    )
    p.set_defaults(func=_cmd_once, default_log_level="warning")

    p = command("render", "rebuild the static status site from the database")
    with_config(p)
    p.set_defaults(func=_cmd_render)

    p = command("check-config", "validate the config and print it resolved, secrets masked")
    with_config(p)
    p.set_defaults(func=_cmd_check_config)

    p = command(
        "migrate-db", "copy a SQLite history into an empty PostgreSQL database, in one transaction"
    )
    p.epilog = (
        "Copies every result, roll-up, incident, ledger entry, alert and delivery with its id, "
        "creating the PostgreSQL schema first; a target that already holds rows is refused. "
        "Stop sttwatch first, or the rows written after the copy began stay behind in SQLite. "
        "See docs/scaling.md."
    )
    p.add_argument(
        "--from", dest="source", required=True, metavar="PATH", help="the SQLite database file"
    )
    p.add_argument(
        "--to",
        required=True,
        metavar="URL",
        help="the PostgreSQL database: postgresql://user:password@host:port/name",
    )
    p.set_defaults(func=_cmd_migrate_db)

    _incident_parser(command, with_config)

    p = command("test-alert", "send a test notification through every alert URL")
    with_config(p)
    p.set_defaults(func=_cmd_test_alert)

    p = command("simulate", "serve a local simulator of a provider's API (default AssemblyAI)")
    p.add_argument(
        "--provider",
        default="assemblyai",
        metavar="NAME",
        help="whose API to simulate (default assemblyai); one provider per process and port",
    )
    p.add_argument(
        "--listen",
        default="127.0.0.1:8765",
        metavar="HOST:PORT",
        help="address to serve on (default 127.0.0.1:8765; port 0 picks a free one)",
    )
    p.add_argument("--scenario", metavar="FILE", help="YAML scenario: delays, keys and faults")
    p.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS and WSS (same port) with a self-signed certificate made at start; "
        "its path is printed, for NODE_EXTRA_CA_CERTS / SSL_CERT_FILE",
    )
    p.add_argument(
        "--tls-cert", metavar="FILE", help="serve TLS with this PEM certificate (needs --tls-key)"
    )
    p.add_argument("--tls-key", metavar="FILE", help="the PEM private key of --tls-cert")
    p.set_defaults(func=_cmd_simulate)

    p = command(
        "demo", "everything against the simulator, with a scripted incident (Ctrl-C to stop)"
    )
    p.add_argument(
        "--listen",
        default="127.0.0.1:8080",
        metavar="127.0.0.1:PORT",
        help="where the status page is served (default 127.0.0.1:8080; port 0 picks a free one)",
    )
    p.set_defaults(func=_cmd_demo, default_log_level="warning")
    return parser


def _incident_parser(
    command: Callable[[str, str], argparse.ArgumentParser],
    with_config: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add ``sttwatch incident open|update|resolve|postmortem|list`` (docs/incidents.md)."""
    from monitor.incident_cmd import IMPACTS, OPEN_STATUSES

    p = command(
        "incident",
        "open, update, resolve and list incidents with words from an operator (shown on the "
        "page, its incident pages, the Statuspage JSON and the feed)",
    )
    p.epilog = (
        "Every action takes -c CONFIG and writes to that config's database, beside a running "
        "'sttwatch run' if need be, which shows the change at its next render (within a "
        "minute). Bad input exits 2 with nothing written. See docs/incidents.md."
    )
    p.set_defaults(func=_cmd_incident)
    actions = p.add_subparsers(dest="incident_action", metavar="ACTION", required=True)
    statuses = ", ".join(OPEN_STATUSES)

    def action(name: str, summary: str) -> argparse.ArgumentParser:
        a = actions.add_parser(
            name, help=summary, description=summary[0].upper() + summary[1:] + "."
        )
        with_config(a)
        return a

    a = action(
        "open", "open an operator incident of a target (one the probes may not see); prints its id"
    )
    a.add_argument(
        "--target", required=True, metavar="NAME", help="the target's name in the config"
    )
    a.add_argument(
        "--component",
        action="append",
        metavar="KIND",
        help="a probe kind of the target it affects (repeat for several; default: all of them)",
    )
    a.add_argument("--title", required=True, metavar="TEXT", help="the incident's headline")
    a.add_argument("--message", required=True, metavar="TEXT", help="its first update")
    a.add_argument("--status", choices=OPEN_STATUSES, default="investigating", help=statuses)
    a.add_argument("--impact", choices=IMPACTS, default="minor", help="default: minor")

    a = action(
        "update",
        "post an update to an open incident (probe-opened ones too), or the postmortem of a "
        "resolved one",
    )
    a.add_argument("id", metavar="ID", help="the incident's id (sttwatch incident list)")
    a.add_argument("--status", choices=OPEN_STATUSES, help=statuses)
    a.add_argument("--message", metavar="TEXT", help="what the update says")
    a.add_argument(
        "--postmortem",
        metavar="TEXT|@FILE",
        help="set the postmortem of a resolved incident (@FILE reads it from a file)",
    )

    a = action(
        "resolve",
        "resolve an operator incident (a probe incident resolves itself when its probes recover)",
    )
    a.add_argument("id", metavar="ID", help="the incident's id")
    a.add_argument("--message", required=True, metavar="TEXT", help="the resolving update")

    a = action("postmortem", "set the postmortem of a resolved incident")
    a.add_argument("id", metavar="ID", help="the incident's id")
    a.add_argument("text", metavar="TEXT|@FILE", help="the postmortem, or @FILE to read it")

    a = action("list", "print the incidents with their ids, newest first")
    a.add_argument("--open", action="store_true", help="only those not resolved")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sttwatch command line and return its exit code."""
    args = build_parser().parse_args(argv)
    from monitor.logs import setup_logging

    # Every command logs at the level asked for; those with a config install it
    # again with the config's secrets to redact.
    setup_logging(_log_level(args))
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
