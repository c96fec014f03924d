"""The webhook probe on the status page: a component like the others, read from its descriptor."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.models import ErrorKind, ProbeResult, Status
from monitor.site import build_view, render_site
from monitor.store import Store
from tests.support.configs import config_doc, parsed

NOW = datetime(2026, 11, 20, 13, 37, 21, tzinfo=UTC)


def webhook_result(minutes_ago: int, delivery: float, status: Status = Status.UP) -> ProbeResult:
    down = status is Status.DOWN
    phases = {"upload": 0.1, "submit": 0.05, "completed": 3.0, "delete": 0.05, "confirm": 0.02}
    if not down:
        phases["delivery"] = delivery
    return ProbeResult(
        target="aai-us",
        probe="webhook",
        started_at=NOW - timedelta(minutes=minutes_ago),
        duration_s=6.0,
        status=status,
        error_kind=ErrorKind.WEBHOOK_MISSING if down else None,
        message="No webhook arrived within 40.0 s of the job's end" if down else "delivered",
        phases=phases,
        details={"transcript_id": f"t-{minutes_ago}", "webhook_calls": 0 if down else 1},
    )


async def test_the_webhook_component_shows_its_delivery_delay(tmp_path: Path, store: Store) -> None:
    target = {"name": "aai-us", "api_key": "sk-1", "probes": {"reachability": {}, "webhook": {}}}
    cfg = parsed(config_doc(tmp_path, [target], webhook_base_url="https://status.example.com"))
    await store.add_results([webhook_result(m, 1.2) for m in (3, 2)] + [webhook_result(1, 1.8)])
    view = await build_view(store, cfg, NOW)
    (component,) = [c for c in view.components if c.probe == "webhook"]
    assert component.name == "Webhooks"
    assert component.latency_s == 1.8  # the key latency: the last delivery delay
    assert component.chart.points >= 1
    facts = {f.key: f.value for f in component.facts}
    assert facts == {"delivery": "1.40 s", "completed": "3.00 s"}

    await store.add_results([webhook_result(0, 0.0, Status.DOWN)])
    await render_site(store, cfg, now=NOW)
    doc = json.loads((tmp_path / "site" / "api" / "sttwatch.json").read_text(encoding="utf-8"))
    (shown,) = [c for c in doc["targets"][0]["components"] if c["probe"] == "webhook"]
    assert shown["error_kind"] == "webhook_missing"
