"""``sttwatch run`` with one knob turned, to size a finding: ``python -m bench.whatif_run``.

Identical to ``sttwatch run -c CONFIG`` (the CLI's own config loading, signal
handling and ``monitor.app.serve``) except for the server options given,
e.g. ``--render-min-interval 3600``: the status page is rendered at start and
then not again for an hour, so a benchmark window measures the probe path
alone; ``--metrics-in-thread``: /metrics is rendered in a worker thread (the
change Findings F2 proposes); ``--gc-freeze``: ``gc.freeze()`` once serving
(F10). Used by bench.scale's what-if points; never a
way to run sttwatch.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _metrics_in_thread() -> None:
    """Swap the server's /metrics handler for one that renders off the event loop."""
    import asyncio

    from aiohttp import web
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    import monitor.server as server

    async def metrics(request: web.Request) -> web.StreamResponse:
        rt = request.app[server.RUNTIME]
        body = await asyncio.to_thread(generate_latest, rt.metrics.registry)
        return web.Response(
            body=body, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}
        )

    server._metrics = metrics


async def _freeze(_runner: object) -> None:
    """Move everything alive after start-up (config, metrics, modules) out of GC's scans."""
    import gc

    gc.collect()
    gc.freeze()


def main(argv: list[str] | None = None) -> int:
    """Serve the config with the given options until SIGTERM; return the exit code."""
    from monitor.app import serve
    from monitor.cli import _load, _until_signal

    parser = argparse.ArgumentParser(prog="python -m bench.whatif_run")
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("--render-min-interval", type=float, default=None)
    parser.add_argument(
        "--metrics-in-thread",
        action="store_true",
        help="render /metrics in a worker thread instead of on the event loop (Findings F2)",
    )
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() once serving: start-up objects leave the collector's sight (F10)",
    )
    args = parser.parse_args(argv)
    if args.metrics_in_thread:
        _metrics_in_thread()
    options: dict[str, Any] = {}
    if args.render_min_interval is not None:
        options["render_min_interval"] = args.render_min_interval
    if args.gc_freeze:
        options["on_started"] = _freeze
    cfg = _load(args.config)
    _until_signal(lambda stop: serve(cfg, stop, **options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
