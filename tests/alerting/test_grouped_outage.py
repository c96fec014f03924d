"""The scripted outage: every probe of one target fails at once; on-call hears once per channel.

Two targets on two real simulators, the runtime's sinks in their order (store,
metrics, alerter) with the alerter started as `sttwatch run` starts it (its
outbox worker and group loop), a real SMTP server (aiosmtpd) and a JSON webhook
(Apprise ``json://``) on loopback. All of reachability, transcription and
streaming of the first target fail for three cycles, then recover: each channel
gets exactly one DOWN and one RESOLVED, each naming all three probes; the second,
healthy target sends nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from monitor.config import Config
from monitor.runtime import Runtime
from monitor.simulator import SimulatorHandle
from tests.support.alerts import alerting_runtime
from tests.support.configs import config_doc, parsed, sim_target
from tests.support.receivers import SmtpSink, Webhook, wait_until

if TYPE_CHECKING:
    from tests.support.fixture_types import SimFactory

# Every REST endpoint answers 503 and every streaming session closes with 3005.
OUTAGE = [
    {"endpoint": "*", "action": "status", "status": 503},
    {"endpoint": "ws", "action": "close", "code": 3005, "reason": "Internal error"},
]
PROBES = {
    "reachability": {"timeout": "5s", "degraded_after": "4s"},
    "transcription": {"timeout": "10s", "degraded_after": "8s"},
    "streaming": {"timeout": "10s", "degraded_after": "8s"},
}
LABELS = ("REST API", "Transcription", "Streaming")


def outage_config(
    tmp_path: Path, broken: SimulatorHandle, healthy: SimulatorHandle, urls: list[str]
) -> Config:
    targets = [
        sim_target(broken, "aai-us", display_name="AssemblyAI (US)", probes=PROBES),
        sim_target(healthy, "backup", display_name="Backup STT", probes=PROBES),
    ]
    alerts: dict[str, Any] = {
        "urls": urls,
        "failure_threshold": 2,
        "success_threshold": 2,
        # All three fail in one cycle; the batch goes once the third is in.
        "group_wait": "2s",
    }
    return parsed(config_doc(tmp_path, targets, site_dir=None, listen=None, alerts=alerts))


async def statuses(rt: Runtime) -> dict[str, list[str]]:
    """Run every probe once; return each target's statuses."""
    out: dict[str, list[str]] = {}
    for r in await rt.run_once():
        out.setdefault(r.target, []).append(str(r.status))
    return out


@pytest.fixture
async def sims(make_sim: SimFactory) -> tuple[SimulatorHandle, SimulatorHandle]:
    return await make_sim(), await make_sim()


async def test_an_outage_of_every_probe_of_a_target_is_one_alert_per_channel(
    tmp_path: Path,
    sims: tuple[SimulatorHandle, SimulatorHandle],
    webhook: Webhook,
    smtp_sink: SmtpSink,
) -> None:
    broken, healthy = sims
    config = outage_config(tmp_path, broken, healthy, [webhook.url(), smtp_sink.url()])
    seen: list[dict[str, list[str]]] = []
    # Real time: the transcription probe's polls and the streaming clip take it.
    async with alerting_runtime(config, backlog_check_every=60) as (rt, alerter):
        seen.append(await statuses(rt))  # all healthy
        broken.set_faults(OUTAGE)
        for _ in range(3):  # below the threshold, DOWN (all three at once), still down
            seen.append(await statuses(rt))
        await wait_until(
            lambda: len(webhook.posts) >= 1 and len(smtp_sink.messages) >= 1,
            what="the DOWN alert",
        )
        broken.clear_faults()
        for _ in range(3):  # one good run, RESOLVED, healthy
            seen.append(await statuses(rt))
        await wait_until(
            lambda: len(webhook.posts) >= 2 and len(smtp_sink.messages) >= 2,
            what="the RESOLVED alert",
        )
        await asyncio.wait_for(alerter.worker.wait_idle(), 5)
        assert await rt.store.alert_groups() == []  # the group closed with its RESOLVED

    assert [s["aai-us"] for s in seen] == [["up"] * 3] + [["down"] * 3] * 3 + [["up"] * 3] * 3
    assert all(s["backup"] == ["up"] * 3 for s in seen)
    titles = webhook.titles()
    assert [str(m["Subject"]) for m in smtp_sink.messages] == titles
    assert len(titles) == 2, titles
    down, resolved = titles
    assert down.startswith("[DOWN] AssemblyAI (US): 3 checks down — ")
    assert resolved.startswith("[RESOLVED] AssemblyAI (US): 3 checks up again — ")
    down_body = webhook.posts[0][1]["message"]
    resolved_text = SmtpSink.text(smtp_sink.messages[1])
    for label in LABELS:
        assert label in down and label in resolved
        assert f"**{label}** — down since" in down_body
        assert f"{label} — up again after" in resolved_text
    assert down_body.count("server_error") >= 3  # each probe with its error kind
    for _, payload in webhook.posts:
        assert "Backup STT" not in str(payload)
        assert "sim-key" not in str(payload)
