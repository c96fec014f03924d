"""What monitor/probes/aiohttp_timing.py relies on in aiohttp, checked on the installed release.

The reachability probe's phases are stamped by a protocol installed through the
private ``TCPConnector._factory`` (see that module for why no public hook will do).
aiohttp does not promise to keep it, so each assumption is checked here, by name,
and the installed release must lie in the range pyproject.toml pins, the releases
the module was proven on. When one of these fails after an upgrade: run this file
and tests/probes/test_reachability_timing.py on the new aiohttp, mend the module if need
be, then widen the pin.
"""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.client_proto import ResponseHandler
from packaging.requirements import Requirement
from packaging.version import Version

from monitor.models import SystemClock
from monitor.probes.aiohttp_timing import (
    ConnectionTimes,
    TimedResolver,
    TimingConnector,
    WireStampingHandler,
)

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _pinned() -> Requirement:
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (aiohttp_dep,) = [Requirement(d) for d in deps if re.match(r"aiohttp\b", d)]
    return aiohttp_dep


def test_the_pin_is_a_closed_range_that_holds_the_installed_aiohttp() -> None:
    pin = _pinned()
    assert any(s.operator == "<" for s in pin.specifier), (
        f"pyproject.toml pins {pin}: an upper bound is needed, the timing relies on internals"
    )
    installed = Version(aiohttp.__version__)
    assert pin.specifier.contains(installed), (
        f"aiohttp {installed} is outside {pin.specifier}, the releases the connection timing "
        "was proven on: run this file and tests/probes/test_reachability_timing.py on it, then "
        "widen the pin in pyproject.toml"
    )


async def test_tcp_connector_builds_its_protocols_with_a_private_factory() -> None:
    connector = aiohttp.TCPConnector()
    try:
        factory = vars(connector).get("_factory")
        assert callable(factory), "aiohttp.TCPConnector no longer sets self._factory in __init__"
        assert isinstance(factory(), ResponseHandler), "its _factory builds no ResponseHandler"
    finally:
        await connector.close()


def test_connect_and_the_protocol_keep_the_signatures_overridden() -> None:
    params = list(inspect.signature(aiohttp.TCPConnector.connect).parameters)
    assert params == ["self", "req", "traces", "timeout"], params
    init = list(inspect.signature(ResponseHandler.__init__).parameters)
    assert init == ["self", "loop"], init
    for hook in ("connection_made", "data_received"):
        assert hook in vars(ResponseHandler) or any(
            hook in vars(base) for base in ResponseHandler.__mro__[1:-1]
        ), f"aiohttp's ResponseHandler no longer defines {hook}"


async def test_a_request_is_served_by_the_stamping_protocol(aiohttp_server: Any) -> None:
    """The end-to-end proof: every stamp is set, so aiohttp used our protocol and connect."""

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="x" * 100_000)

    app = web.Application()
    app.router.add_get("/", hello)
    server = await aiohttp_server(app)
    times = ConnectionTimes(SystemClock())
    resolver = TimedResolver(times)
    try:
        async with (
            aiohttp.ClientSession(connector=TimingConnector(times, resolver)) as session,
            session.get(f"http://localhost:{server.port}/") as resp,
        ):
            body = await resp.read()
    finally:
        await resolver.close()
    assert len(body) == 100_000
    stamps = {
        "dns_start": times.dns_start,
        "dns_end": times.dns_end,
        "conn_start": times.conn_start,
        "connected_at": times.connected_at,
        "conn_end": times.conn_end,
        "first_byte_at": times.first_byte_at,
        "last_byte_at": times.last_byte_at,
    }
    missing = [name for name, at in stamps.items() if at is None]
    assert not missing, f"aiohttp {aiohttp.__version__} never called the hooks for {missing}"
    order = ["conn_start", "dns_start", "dns_end", "connected_at", "conn_end", "first_byte_at"]
    seen = [stamps[n] or 0.0 for n in order]
    assert seen == sorted(seen), stamps
    assert (times.first_byte_at or 0.0) <= (times.last_byte_at or 0.0)


@pytest.mark.parametrize("hook", ["connection_made", "data_received"])
def test_the_stamping_protocol_overrides_what_aiohttp_calls(hook: str) -> None:
    assert hook in vars(WireStampingHandler)
