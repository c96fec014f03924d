"""The reachability probe's phases: where each one starts and ends, against a scripted server.

The server is a plain socket in a thread of its own, so it answers on time while the
test holds the client's event loop; what it sends, and when, is under the test's control.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from monitor.config import Target
from monitor.models import Status
from monitor.providers.assemblyai import reachability
from monitor.providers.assemblyai.specs import ReachabilitySpec
from monitor.simulator import SimulatorHandle
from tests.support.probes import MemoryLedger, context, self_signed_cert, target_for

# Each phase is held to bounds tens of milliseconds around the server's scripted holds.
pytestmark = pytest.mark.timing

SPEC = ReachabilitySpec(timeout=5, degraded_after=4)
NETWORK_PHASES = ("dns", "connect", "ttfb", "transfer")
BODY = json.dumps({"page_details": {"limit": 1}, "transcripts": []}).encode()
HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(BODY)
)

# What the server does once it has read the request.
Script = Callable[[socket.socket], None]


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


class Scripted:
    """A one-request-at-a-time server in a thread; `requests` holds what it was sent."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.requests: list[bytes] = []
        self.threads: list[threading.Thread] = []

    def serve(self, script: Script) -> str:
        """Answer the next request with `script`; return the api_base to probe."""

        def run() -> None:
            conn, _ = self.listener.accept()
            with conn:
                self.requests.append(_read_request(conn))
                script(conn)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.threads.append(thread)
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    server = Scripted()
    yield server
    server.listener.close()
    for thread in server.threads:
        thread.join(timeout=5)


def _target(api_base: str) -> Target:
    return Target(name="scripted", api_base=api_base, api_key=SecretStr("key"))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_total_is_the_sum_of_the_phases(sim: SimulatorHandle, host: str) -> None:
    target = _target(f"http://{host}:{sim.port}").model_copy(
        update={"api_key": target_for(sim).api_key}
    )
    result = await reachability.run(target, SPEC, context(MemoryLedger()))
    assert result.status is Status.UP, result.message
    phases = result.phases
    assert (phases["dns"] > 0) is (host == "localhost")
    assert math.isclose(sum(phases[p] for p in NETWORK_PHASES), phases["total"], abs_tol=1e-9)
    assert phases["total"] <= result.duration_s


async def test_transfer_runs_from_the_first_byte_to_the_last(
    scripted: Scripted,
) -> None:
    def head_then_body(conn: socket.socket) -> None:
        conn.sendall(HEAD)
        time.sleep(0.2)
        conn.sendall(BODY)

    result = await reachability.run(
        _target(scripted.serve(head_then_body)), SPEC, context(MemoryLedger())
    )
    assert result.status is Status.UP, result.message
    assert result.phases["ttfb"] < 0.15
    # The server sleeps 0.2 s between the two sends; the first byte's stamp may come a
    # little after the server's sleep began (the client's wake-up), so not exactly 0.2.
    assert 0.15 <= result.phases["transfer"] < 0.35


async def test_the_ends_are_stamped_when_the_bytes_arrive_not_when_the_task_runs(
    scripted: Scripted,
) -> None:
    """Bytes that wait for a busy event loop count from their arrival, not from our task's turn.

    The loop is held (a blocking callback) while the answer arrives; once free, it reads the
    socket first and then runs a second blocking callback, already due, before the probe's
    task resumes. The socket read is stamped; the second hold must not be in `total`.
    """
    loop = asyncio.get_running_loop()

    def hold_the_loop() -> None:
        # Due at once, this runs in the next loop pass after its socket events, so between
        # the protocol reading the answer and the probe's task resuming.
        loop.call_later(0, time.sleep, 0.5)
        time.sleep(0.1)

    def answer_while_the_loop_is_held(conn: socket.socket) -> None:
        loop.call_soon_threadsafe(hold_the_loop)
        time.sleep(0.05)
        conn.sendall(HEAD + BODY)

    started = time.monotonic()
    result = await reachability.run(
        _target(scripted.serve(answer_while_the_loop_is_held)), SPEC, context(MemoryLedger())
    )
    assert result.status is Status.UP, result.message
    assert time.monotonic() - started >= 0.6  # both holds did happen
    assert result.phases["total"] < 0.4


async def test_the_request_is_one_authenticated_list_get(scripted: Scripted) -> None:
    def answer(conn: socket.socket) -> None:
        conn.sendall(HEAD + BODY)

    result = await reachability.run(_target(scripted.serve(answer)), SPEC, context(MemoryLedger()))
    assert result.status is Status.UP, result.message
    (request,) = scripted.requests
    lines = request.decode().split("\r\n")
    assert lines[0] == "GET /v2/transcript?limit=1 HTTP/1.1"
    assert "Authorization: key" in lines
    assert "User-Agent: sttwatch" in lines


# Runs in a child whose default trust store is the test's certificate (SSL_CERT_FILE is read
# when aiohttp builds its verified context, at import): the probe keeps its own verification.
TLS_CHILD = textwrap.dedent(
    """
    import asyncio, json, ssl, sys
    from aiohttp import web
    from pydantic import SecretStr
    from monitor.config import Target
    from monitor.providers.assemblyai.specs import ReachabilitySpec
    from monitor.models import ProbeContext, SystemClock
    from monitor.providers.assemblyai import reachability
    from monitor.runtime import session_factory

    class NoLedger:
        async def pending(self, target=None):
            return []

    async def main() -> None:
        async def listing(request: web.Request) -> web.Response:
            await asyncio.sleep(0.2)
            return web.json_response({"page_details": {}, "transcripts": []})

        app = web.Application()
        app.router.add_get("/v2/transcript", listing)
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(sys.argv[1], sys.argv[2])
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx).start()
        port = runner.addresses[0][1]
        ctx = ProbeContext(
            session_factory=session_factory(), clock=SystemClock(), ledger=NoLedger()
        )
        target = Target(name="tls", api_base=f"https://127.0.0.1:{port}", api_key=SecretStr("k"))
        result = await reachability.run(target, ReachabilitySpec(), ctx)
        await runner.cleanup()
        out = {"status": result.status.value, "message": result.message}
        print(json.dumps({**out, "phases": result.phases}))

    asyncio.run(main())
    """
)


def test_over_tls_connect_holds_the_handshake_and_the_phases_add_up(tmp_path: Path) -> None:
    cert_file, key_file = self_signed_cert(tmp_path)
    env = {**os.environ, "SSL_CERT_FILE": str(cert_file)}
    child = subprocess.run(
        [sys.executable, "-c", TLS_CHILD, str(cert_file), str(key_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)
    assert result["status"] == "up", result["message"]
    phases = result["phases"]
    assert phases["connect"] > 0  # TCP and the TLS handshake
    assert 0.2 <= phases["ttfb"] < 0.2 + 0.5  # the server's 200 ms, after the handshake
    assert math.isclose(sum(phases[p] for p in NETWORK_PHASES), phases["total"], abs_tol=1e-9)
