"""The Prometheus exposition: docs/design.md §3 names, labels and types; promtool-clean; bounded."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.aiohttp import make_aiohttp_handler

from monitor import __version__
from monitor.config import Config, parse_config
from monitor.metrics import Metrics, error_kinds, phases
from monitor.models import ErrorKind, ProbeResult, Status
from monitor.probes import provider
from monitor.webhook_runs import REFUSALS
from tests.support.fault_matrix import CASES as FAULT_CASES

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TP = frozenset({"target", "provider", "probe", "location"})
AAI = "assemblyai"  # the provider of every target here

# docs/design.md §3, plus sttwatch_probe_skipped_total (scheduler skips, issue 3).
EXPECTED = {
    "sttwatch_probe_success": ("gauge", TP),
    "sttwatch_probe_status": ("gauge", TP),
    "sttwatch_probe_duration_seconds": ("histogram", TP),
    "sttwatch_probe_phase_seconds": ("gauge", TP | {"phase"}),
    "sttwatch_probe_runs_total": ("counter", TP | {"status"}),
    "sttwatch_probe_errors_total": ("counter", TP | {"error_kind"}),
    "sttwatch_probe_last_run_timestamp_seconds": ("gauge", TP),
    "sttwatch_probe_skipped_total": ("counter", TP),
    "sttwatch_transcription_wer": ("gauge", TP),
    "sttwatch_stream_first_transcript_seconds": ("histogram", TP),
    "sttwatch_deletions_pending": ("gauge", frozenset({"target", "provider", "location"})),
    "sttwatch_alerts_sent_total": ("counter", frozenset({"result"})),
    "sttwatch_webhook_refused_total": ("counter", frozenset({"reason"})),
    "sttwatch_scheduler_lateness_seconds": ("histogram", TP),
    "sttwatch_build_info": ("gauge", frozenset({"version"})),
    "sttwatch_quorum": ("gauge", frozenset()),
    "sttwatch_leader": ("gauge", frozenset({"location"})),
}

_TYPE = re.compile(r"^# TYPE (\S+) (\S+)$")
_HELP = re.compile(r"^# HELP (\S+) (.+)$")
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> dict[str, dict[str, Any]]:
    """Return {family: {type, help, labels: set of label names, samples: [(name, labels, v)]}}."""
    fams: dict[str, dict[str, Any]] = {}
    current = ""
    for line in text.splitlines():
        if m := _HELP.match(line):
            fams.setdefault(m[1], {"labels": set(), "samples": []})["help"] = m[2]
        elif m := _TYPE.match(line):
            current = m[1]
            fams.setdefault(current, {"labels": set(), "samples": []})["type"] = m[2]
        elif m := _SAMPLE.match(line):
            labels = dict(_LABEL.findall(m[2] or ""))
            fam = fams[current]
            fam["samples"].append((m[1], labels, float(m[3])))
            fam["labels"] |= set(labels) - {"le"}
    return fams


def config(**probes: Any) -> Config:
    return parse_config(
        {
            "targets": [
                {
                    "name": "prod",
                    "api_key": "secret-key-123",
                    **({"probes": probes} if probes else {}),
                },
                {"name": "eu", "api_key": "secret-key-456"},
            ]
        }
    )


def result(
    probe: str = "reachability",
    status: Status = Status.UP,
    kind: ErrorKind | None = None,
    target: str = "prod",
    **kw: Any,
) -> ProbeResult:
    return ProbeResult(target, probe, T0, kw.pop("duration_s", 0.2), status, kind, **kw)


def every_outcome() -> list[ProbeResult]:
    """Results of every status and every error kind across the three probes."""
    out = [
        result("reachability", phases={"dns": 0.001, "connect": 0.01, "ttfb": 0.1, "total": 0.12}),
        result("transcription", Status.DEGRADED, duration_s=41.0, details={"wer": 0.05}),
        result("streaming", phases={"first_transcript": 0.6, "final": 2.4}, details={"wer": 0.1}),
    ]
    probes = ["reachability", "transcription", "streaming"]
    for i, kind in enumerate(ErrorKind):
        out.append(
            result(
                probes[i % 3],
                Status.DOWN,
                kind,
                target="eu",
                message=f'boom "{kind}" <script>\n{{label="x"}}',
                details={"http_status": 500},
            )
        )
    return out


async def test_names_types_and_labels_are_exactly_the_contract() -> None:
    m = Metrics(config())
    for r in every_outcome():
        await m.observe(r)
    m.alert_sent("sent")
    m.observe_lateness("prod", "reachability", 0.003)
    fams = parse(m.exposition().decode())
    got = {name: (f["type"], frozenset(f["labels"])) for name, f in fams.items()}
    assert got == EXPECTED
    assert all(f["help"].strip() for f in fams.values()), "every metric has HELP text"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_check_metrics_reports_nothing() -> None:
    m = Metrics(config())
    for r in every_outcome():
        m.record(r)
    for res in ("sent", "failed", "gave_up"):
        m.alert_sent(res)
    m.set_deletions_pending({"prod": 3})
    m.probe_skipped_run("prod", "transcription")
    proc = subprocess.run(
        ["promtool", "check", "metrics"],
        input=m.exposition(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")


def test_series_exist_before_the_first_run() -> None:
    m = Metrics(config())
    get = m.registry.get_sample_value
    for target in ("prod", "eu"):
        assert (
            get(
                "sttwatch_deletions_pending",
                {"target": target, "provider": AAI, "location": "local"},
            )
            == 0.0
        )
        for probe in ("reachability", "transcription", "streaming"):
            for status in Status:
                labels = {
                    "target": target,
                    "provider": AAI,
                    "location": "local",
                    "probe": probe,
                    "status": status.value,
                }
                assert get("sttwatch_probe_runs_total", labels) == 0.0
            for kind in ErrorKind:
                labels = {
                    "target": target,
                    "provider": AAI,
                    "location": "local",
                    "probe": probe,
                    "error_kind": kind.value,
                }
                # Only the kinds the probe can report: the others would be dead series.
                expected = 0.0 if kind in error_kinds(AAI, probe) else None
                assert get("sttwatch_probe_errors_total", labels) == expected
            tp = {"target": target, "provider": AAI, "location": "local", "probe": probe}
            assert get("sttwatch_probe_skipped_total", tp) == 0
            # A gauge with no run yet has no value rather than a misleading 0 or 1.
            assert get("sttwatch_probe_success", tp) is None
    for res in ("sent", "failed", "gave_up"):
        assert get("sttwatch_alerts_sent_total", {"result": res}) == 0.0
    assert get("sttwatch_build_info", {"version": __version__}) == 1.0


@pytest.mark.parametrize("case", FAULT_CASES, ids=[c.id for c in FAULT_CASES])
def test_every_kind_a_probe_reports_in_the_fault_matrix_is_preinitialised(case: Any) -> None:
    assert case.kind is None or case.kind in error_kinds(AAI, case.probe)


def test_an_error_kind_outside_the_probes_set_is_still_counted() -> None:
    m = Metrics(config())
    m.record(result("reachability", Status.DOWN, ErrorKind.DELETION_FAILED))
    labels = {"target": "prod", "provider": AAI, "location": "local", "probe": "reachability"}
    labels["error_kind"] = "deletion_failed"
    assert m.registry.get_sample_value("sttwatch_probe_errors_total", labels) == 1.0


def test_only_configured_probes_are_preinitialised() -> None:
    m = Metrics(config(reachability={}))
    labels = {
        "target": "prod",
        "provider": AAI,
        "location": "local",
        "probe": "streaming",
        "status": "up",
    }
    assert m.registry.get_sample_value("sttwatch_probe_runs_total", labels) is None


@pytest.mark.parametrize(
    ("status", "kind", "success", "severity"),
    [
        (Status.UP, None, 1.0, 0.0),
        (Status.DEGRADED, None, 1.0, 1.0),
        (Status.DOWN, ErrorKind.AUTH, 0.0, 2.0),
    ],
    ids=["up", "degraded", "down"],
)
async def test_a_result_sets_success_status_and_counters(
    status: Status, kind: ErrorKind | None, success: float, severity: float
) -> None:
    m = Metrics(config())
    await m.observe(result("transcription", status, kind, duration_s=12.5))
    get = m.registry.get_sample_value
    tp = {"target": "prod", "provider": AAI, "location": "local", "probe": "transcription"}
    assert get("sttwatch_probe_success", tp) == success
    assert get("sttwatch_probe_status", tp) == severity
    assert get("sttwatch_probe_runs_total", {**tp, "status": status.value}) == 1.0
    assert get("sttwatch_probe_duration_seconds_sum", tp) == 12.5
    assert get("sttwatch_probe_last_run_timestamp_seconds", tp) == T0.timestamp()
    if kind is not None:
        assert get("sttwatch_probe_errors_total", {**tp, "error_kind": kind.value}) == 1.0
    errors = sum(
        get("sttwatch_probe_errors_total", {**tp, "error_kind": k.value}) or 0 for k in ErrorKind
    )
    assert errors == (1.0 if kind else 0.0)


async def test_phases_are_the_last_runs_and_unknown_names_are_dropped() -> None:
    m = Metrics(config())
    get = m.registry.get_sample_value
    tp = {"target": "prod", "provider": AAI, "location": "local", "probe": "transcription"}
    await m.observe(
        result("transcription", phases={"upload": 0.3, "queued": 1.0, "processing": 4.0})
    )
    await m.observe(
        result(
            "transcription",
            Status.DOWN,
            ErrorKind.SERVER_ERROR,
            phases={"upload": 0.5, "my phase <x>": 9.0},
        )
    )
    assert get("sttwatch_probe_phase_seconds", {**tp, "phase": "upload"}) == 0.5
    assert get("sttwatch_probe_phase_seconds", {**tp, "phase": "processing"}) is None
    text = m.exposition().decode()
    assert "my phase" not in text
    found = {
        labels["phase"] for _, labels, _ in parse(text)["sttwatch_probe_phase_seconds"]["samples"]
    }
    assert found <= set(phases(AAI, "transcription"))


async def test_no_label_value_comes_from_free_text() -> None:
    m = Metrics(config())
    for r in every_outcome():
        await m.observe(r)
    fams = parse(m.exposition().decode())
    allowed = {
        "target": {"prod", "eu"},
        "provider": {AAI},
        "location": {"local"},
        "probe": {"reachability", "transcription", "streaming"},
        "status": {s.value for s in Status},
        "error_kind": {k.value for k in ErrorKind},
        "phase": {p for kind in provider(AAI).probes for p in kind.phases},
        "result": {"sent", "failed", "gave_up"},
        "reason": set(REFUSALS),
        "version": {__version__},
    }
    for fam in fams.values():
        for _, labels, _ in fam["samples"]:
            for name, value in labels.items():
                if name != "le":
                    assert value in allowed[name], (name, value)
    assert "secret-key" not in m.exposition().decode()


async def test_wer_and_first_transcript_are_exported() -> None:
    m = Metrics(config())
    get = m.registry.get_sample_value
    await m.observe(result("streaming", phases={"first_transcript": 0.6}, details={"wer": 0.125}))
    await m.observe(result("transcription", details={"wer": 0.0}))
    st = {"target": "prod", "provider": AAI, "location": "local", "probe": "streaming"}
    assert get("sttwatch_transcription_wer", st) == 0.125
    tr = {"target": "prod", "provider": AAI, "location": "local", "probe": "transcription"}
    assert get("sttwatch_transcription_wer", tr) == 0.0
    assert get("sttwatch_stream_first_transcript_seconds_count", st) == 1.0
    assert get("sttwatch_stream_first_transcript_seconds_bucket", {**st, "le": "0.75"}) == 1.0
    assert get("sttwatch_stream_first_transcript_seconds_bucket", {**st, "le": "0.5"}) == 0.0


def test_alert_results_are_a_closed_set() -> None:
    m = Metrics()
    m.alert_sent("gave_up")
    assert m.registry.get_sample_value("sttwatch_alerts_sent_total", {"result": "gave_up"}) == 1.0
    with pytest.raises(ValueError, match="alert result must be one of"):
        m.alert_sent("exploded")  # type: ignore[arg-type]


def test_instances_do_not_share_a_registry() -> None:
    a, b = Metrics(config()), Metrics(config())
    a.alert_sent("sent")
    assert b.registry.get_sample_value("sttwatch_alerts_sent_total", {"result": "sent"}) == 0.0


async def test_served_by_prometheus_clients_aiohttp_handler(aiohttp_client: Any) -> None:
    m = Metrics(config())
    await m.observe(result())
    app = web.Application()
    app.router.add_get("/metrics", make_aiohttp_handler(m.registry))
    client: TestClient[Any, Any] = await aiohttp_client(app)
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    body = await resp.text()
    assert (
        'sttwatch_probe_success{location="local",probe="reachability",'
        'provider="assemblyai",target="prod"} 1.0' in body
    )


async def test_kept_series_give_the_exposition_of_labels_lookups() -> None:
    # Metrics keeps each job's children; the exposition must be what looking every
    # series up by its labels gives (the way record() and lateness were written before).
    kept, looked_up = Metrics(config()), Metrics(config())
    outcomes = [*every_outcome(), result(target="eu", status=Status.DOWN, kind=ErrorKind.DNS)]
    for r in outcomes:
        await kept.observe(r)
        kept.observe_lateness(r.target, r.probe, 0.02)
        m, labels = (
            looked_up,
            {"target": r.target, "provider": AAI, "location": "local", "probe": r.probe},
        )
        m.probe_success.labels(**labels).set(0 if r.status is Status.DOWN else 1)
        m.probe_status.labels(**labels).set(r.status.severity)
        m.probe_duration.labels(**labels).observe(max(r.duration_s, 0.0))
        m.probe_runs.labels(**labels, status=r.status.value).inc()
        if r.error_kind is not None:
            m.probe_errors.labels(**labels, error_kind=r.error_kind.value).inc()
        m.probe_last_run.labels(**labels).set(r.started_at.timestamp())
        m._record_phases(r)
        wer = r.details.get("wer")
        if isinstance(wer, float):
            m.transcription_wer.labels(**labels).set(wer)
        first = r.phases.get("first_transcript")
        if r.probe == "streaming" and first is not None:
            m.stream_first_transcript.labels(**labels).observe(first)
        m.scheduler_lateness.labels(**labels).observe(0.02)
    assert kept.exposition() == looked_up.exposition()
