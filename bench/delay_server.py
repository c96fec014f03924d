"""A loopback aiohttp server answering ``GET /d<ms>/v2/transcript`` after exactly <ms> ms.

Run as its own process (``python -m bench.delay_server``) so that serving a
request never competes with the measuring client's event loop. The body is a
valid one-item transcript-list page, so every tool checks a real answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time

from aiohttp import web

API_KEY = "bench-key"
SPIN_S = 0.003
AUTH_ERROR = "Authentication error, API token missing/invalid"
BODY = json.dumps(
    {
        "page_details": {
            "limit": 1,
            "result_count": 1,
            "current_url": "https://api.assemblyai.com/v2/transcript?limit=1",
            "prev_url": None,
            "next_url": None,
        },
        "transcripts": [
            {
                "id": "bench-0000",
                "resource_url": "https://api.assemblyai.com/v2/transcript/bench-0000",
                "status": "completed",
                "created": "2026-11-21T08:00:00.000000",
                "completed": "2026-11-21T08:00:01.000000",
                "audio_url": "http://deleted_by_user",
                "error": None,
            }
        ],
    }
).encode()


async def transcript_list(request: web.Request) -> web.StreamResponse:
    """Return the list page after the delay named in the path, or 401 without the key."""
    started = time.perf_counter()
    if request.headers.get("Authorization") != API_KEY:
        return web.json_response({"error": AUTH_ERROR}, status=401)
    delay_ms = int(request.match_info["ms"])
    if delay_ms:
        # asyncio's timers overshoot by up to ~1 ms (epoll's millisecond timeout): sleep
        # to just short of the delay, then spin, so d is exact and measured − d is the
        # tools' own overhead. Requests come one at a time, so the spin delays no other.
        deadline = started + delay_ms / 1000.0
        await asyncio.sleep(max(0.0, deadline - time.perf_counter() - SPIN_S))
        while time.perf_counter() < deadline:
            pass
    return web.Response(body=BODY, content_type="application/json")


async def serve(port: int) -> None:
    """Serve until SIGTERM/SIGINT, printing the bound port first."""
    app = web.Application()
    app.router.add_get(r"/d{ms:\d+}/v2/transcript", transcript_list)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"listening on 127.0.0.1:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    """Parse --port and serve."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
