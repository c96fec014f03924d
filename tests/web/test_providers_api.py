"""``/api/v1/providers`` as a router polls it: real probes against simulators, scripted outages.

Each target probes its own simulator, so a fault on one simulator is an
outage of one target; the API must reorder as the outages come and go.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp.test_utils import TestClient

from monitor.app import build_app
from monitor.server import PROVIDERS_FILE, SITE
from monitor.site.publish import PROVIDERS_FILE as WRITTEN_FILE
from tests.support.configs import config_doc, parsed, sim_target
from tests.support.polling import eventually

if TYPE_CHECKING:
    from tests.support.fixture_types import SimStarter

Client = TestClient[Any, Any]
FAST = {"interval": "1s", "timeout": "900ms", "degraded_after": "300ms"}
SLOW = [{"endpoint": "transcript.list", "action": "delay", "delay_ms": 450}]
DOWN = [{"endpoint": "transcript.list", "action": "status", "status": 503}]


def test_the_server_serves_the_file_the_render_writes() -> None:
    assert PROVIDERS_FILE == WRITTEN_FILE


async def test_the_order_follows_scripted_outages(
    aiohttp_client: Callable[..., Awaitable[Client]], tmp_path: Path, start_sim: SimStarter
) -> None:
    us_sim, eu_sim = await start_sim({"seed": 1}), await start_sim({"seed": 2})
    targets = [
        sim_target(us_sim, "us", probes={"reachability": FAST}, display_name="US"),
        sim_target(eu_sim, "eu", probes={"reachability": FAST}, display_name="EU"),
    ]
    cfg = parsed(config_doc(tmp_path, targets, alerts={}))
    client = await aiohttp_client(build_app(cfg, render_min_interval=0.1))

    async def document() -> dict[str, Any]:
        resp = await client.get("/api/v1/providers")
        assert resp.status == 200
        return dict(await resp.json())

    async def order_is(*names: str, health: tuple[str, ...]) -> bool:
        doc = await document()
        by_name = {t["name"]: t for p in doc["providers"] for t in p["targets"]}
        got = tuple(doc["target_order"]), tuple(by_name[n]["health"] for n in names)
        return got == (names, health)

    async def both_healthy() -> bool:
        doc = await document()
        return {t["health"] for p in doc["providers"] for t in p["targets"]} == {"healthy"}

    await eventually(both_healthy, "both targets checked and healthy")

    us_sim.set_faults(SLOW)  # the US is slow: the EU first
    await eventually(lambda: order_is("eu", "us", health=("healthy", "degraded")), "US slow")
    eu_sim.set_faults(DOWN)  # the EU fails: a slow US beats a failing EU
    await eventually(lambda: order_is("us", "eu", health=("degraded", "unavailable")), "EU down")
    us_sim.clear_faults()
    eu_sim.clear_faults()
    await eventually(both_healthy, "the recovery")

    resp = await client.get("/api/v1/providers")
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Cache-Control"] == "no-cache"
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    etag = resp.headers["ETag"]
    body = await resp.read()
    assert body.startswith(b'{"generated_at":')
    again = await client.get("/api/v1/providers", headers={"If-None-Match": etag})
    assert again.status in (200, 304)  # 200 only when a render came in between
    if again.status == 200:
        assert again.headers["ETag"] != etag


async def test_before_the_first_render_it_is_503(
    aiohttp_client: Callable[..., Awaitable[Client]], tmp_path: Path, start_sim: SimStarter
) -> None:
    sim = await start_sim({"seed": 3})
    cfg = parsed(config_doc(tmp_path, [sim_target(sim, probes={"reachability": FAST})], alerts={}))
    client = await aiohttp_client(build_app(cfg, render_min_interval=0.1))
    assert client.app is not None
    await client.app[SITE].stop()  # no render from here on
    (Path(cfg.site_dir) / PROVIDERS_FILE).unlink()  # as if no render had written it yet
    resp = await client.get("/api/v1/providers")
    assert resp.status == 503
    assert resp.headers["Cache-Control"] == "no-store"
    assert "no render" in (await resp.json())["error"]
