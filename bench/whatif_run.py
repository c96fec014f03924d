"""``sttwatch run`` with one knob turned, to size a finding: ``python -m bench.whatif_run``.

Identical to ``sttwatch run -c CONFIG`` (the CLI's own config loading, signal
handling and ``monitor.server.serve``) except for the server options given,
e.g. ``--render-min-interval 3600``: the status page is rendered at start and
then not again for an hour, so a benchmark window measures the probe path
alone. Used by bench.scale's what-if points; never a way to run sttwatch.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def main(argv: list[str] | None = None) -> int:
    """Serve the config with the given options until SIGTERM; return the exit code."""
    from monitor.cli import _load, _until_signal
    from monitor.server import serve

    parser = argparse.ArgumentParser(prog="python -m bench.whatif_run")
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("--render-min-interval", type=float, default=None)
    args = parser.parse_args(argv)
    options: dict[str, Any] = {}
    if args.render_min_interval is not None:
        options["render_min_interval"] = args.render_min_interval
    cfg = _load(args.config)
    _until_signal(lambda stop: serve(cfg, stop, **options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
