"""The Grafana dashboard and provisioning: valid structure, and every query proven live.

The structural tests check what Grafana needs to load the JSON on the first
try (unique panel ids, grid positions, a datasource variable instead of a
hard-coded UID, targets with refIds). The live tests run the real thing:
``sttwatch run`` probing the simulator (with a fault that makes one probe fail
now and then and another slow), scraped every second by a real Prometheus
that loads the shipped recording rules; then every panel's PromQL, with the
dashboard variables substituted as Grafana would, goes through Prometheus'
HTTP API. Every query must parse and every panel must show data, except
those listed in ``EMPTY_WHEN_HEALTHY`` with the reason.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.prometheus_stack import (
    fast_probes,
    free_port,
    prometheus_command,
    prometheus_config,
    sttwatch_config,
)

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "grafana" / "dashboards" / "sttwatch.json"
DATASOURCES = ROOT / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = ROOT / "grafana" / "provisioning" / "dashboards" / "sttwatch.yml"
RULES = ROOT / "prometheus" / "rules" / "sttwatch.yml"

# Grafana 11.0 writes schemaVersion 39; older numbers get migrated on load.
MIN_SCHEMA_VERSION = 39

ROWS = [
    "Overview",
    "Providers",
    "Latency",
    "Quality",
    "Data retention",
    "Alerting",
    "sttwatch itself",
]

# Panels allowed to return nothing in the live test, with why. Every other panel
# must show data while sttwatch probes the faulty simulator.
EMPTY_WHEN_HEALTHY: dict[str, str] = {}

# Panels that have no data while everything is healthy (the live test has faults, so
# they do have data there); the test checks their titles exist and their descriptions
# say so, so the list stays true.
EMPTY_WHILE_ALL_UP = {
    "Errors by kind": "filters `> 0`: only down runs add an error kind",
}

# Metrics without a `target` label: their panels filter on the instance only.
UNTARGETED_METRICS = ("sttwatch_alerts_sent_total", "sttwatch_build_info")


def dashboard() -> dict[str, Any]:
    """Return the parsed dashboard JSON."""
    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def all_panels(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Return every panel, including those nested in collapsed rows."""
    out: list[dict[str, Any]] = []
    for panel in doc["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def query_panels(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the panels that run queries (everything but rows)."""
    return [p for p in all_panels(doc) if p["type"] != "row"]


def variables(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the dashboard variables by name."""
    return {v["name"]: v for v in doc["templating"]["list"]}


# ---------------------------------------------------------------------------
# Structure


def test_schema_version_uid_and_title() -> None:
    doc = dashboard()
    assert doc["schemaVersion"] >= MIN_SCHEMA_VERSION
    assert doc["uid"] == "sttwatch"
    assert doc["title"].strip()
    assert "id" not in doc or doc["id"] is None, "a provisioned dashboard carries no db id"


def test_panel_ids_are_unique_and_every_panel_has_a_grid_position() -> None:
    panels = all_panels(dashboard())
    ids = [p["id"] for p in panels]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for p in panels:
        pos = p["gridPos"]
        assert {"h", "w", "x", "y"} <= set(pos), p["title"]
        assert pos["w"] > 0 and pos["h"] > 0 and pos["x"] >= 0 and pos["x"] + pos["w"] <= 24


def test_panels_do_not_overlap() -> None:
    boxes = [(p["title"], p["gridPos"]) for p in all_panels(dashboard())]
    for i, (a_title, a) in enumerate(boxes):
        for b_title, b in boxes[i + 1 :]:
            apart = (
                a["x"] + a["w"] <= b["x"]
                or b["x"] + b["w"] <= a["x"]
                or a["y"] + a["h"] <= b["y"]
                or b["y"] + b["h"] <= a["y"]
            )
            assert apart, f"{a_title!r} overlaps {b_title!r}"


def test_rows_in_order() -> None:
    rows = [p["title"] for p in dashboard()["panels"] if p["type"] == "row"]
    assert rows == ROWS


def test_datasource_variable_is_used_everywhere_and_no_uid_is_hard_coded() -> None:
    doc = dashboard()
    ds = variables(doc)["datasource"]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    uids: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("datasource"), dict):
                uids.append(node["datasource"].get("uid"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc["panels"])
    walk(doc["templating"])
    walk(doc["annotations"])
    assert uids and set(uids) == {"${datasource}"}
    for p in query_panels(doc):
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]


def test_target_variable_lists_the_probed_targets_multi_with_all() -> None:
    target = variables(dashboard())["target"]
    assert target["type"] == "query"
    assert target["definition"] == "label_values(sttwatch_probe_success, target)"
    assert target["query"]["query"] == target["definition"]
    assert target["multi"] is True and target["includeAll"] is True


def row_panels(doc: dict[str, Any], title: str) -> list[dict[str, Any]]:
    """Return the panels under the row called `title` (up to the next row, by position)."""
    ordered = sorted(doc["panels"], key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"]))
    out: list[dict[str, Any]] = []
    inside = False
    for p in ordered:
        if p["type"] == "row":
            inside = p["title"] == title
        elif inside:
            out.append(p)
    return out


def test_provider_variable_lists_the_providers_multi_with_all() -> None:
    provider = variables(dashboard())["provider"]
    assert provider["definition"] == "label_values(sttwatch_probe_success, provider)"
    assert provider["query"]["query"] == provider["definition"]
    assert provider["multi"] is True and provider["includeAll"] is True


def test_the_providers_row_compares_latency_status_and_uptime_by_provider() -> None:
    panels = row_panels(dashboard(), "Providers")
    titles = [p["title"] for p in panels]
    assert titles == [
        "Run duration p50 / p95 by provider",
        "Time to first transcript p50 / p95 by provider",
        "Status now by provider",
        "Uptime by provider",
    ]
    for p in panels:
        for t in p["targets"]:
            assert re.search(r"(sum|max|min) by \(provider\b", t["expr"]), (p["title"], t["expr"])
            assert 'provider=~"$provider"' in t["expr"], (p["title"], t["expr"])
    quantiles = [
        re.match(r"histogram_quantile\(([\d.]+),", t["expr"]).group(1)  # type: ignore[union-attr]
        for p in panels[:2]
        for t in p["targets"]
    ]
    assert quantiles == ["0.5", "0.95", "0.5", "0.95"]
    uptime = " ".join(t["expr"] for t in panels[3]["targets"])
    assert "avg_over_time_30d" in uptime and panels[3]["fieldConfig"]["defaults"]["unit"] == (
        "percentunit"
    )


def test_every_panel_has_targets_with_refids_and_an_expression() -> None:
    for p in query_panels(dashboard()):
        targets = p["targets"]
        assert targets, p["title"]
        refs = [t["refId"] for t in targets]
        assert all(refs) and len(refs) == len(set(refs)), p["title"]
        for t in targets:
            assert t["expr"].strip(), p["title"]


def test_every_per_probe_query_follows_the_target_instance_and_location_variables() -> None:
    for p in query_panels(dashboard()):
        for t in p["targets"]:
            assert 'instance=~"$instance"' in t["expr"], (p["title"], t["expr"])
            if not any(m in t["expr"] for m in UNTARGETED_METRICS):
                assert 'target=~"$target"' in t["expr"], (p["title"], t["expr"])
                assert 'location=~"$location"' in t["expr"], (p["title"], t["expr"])


def test_numeric_panels_set_a_unit() -> None:
    for p in query_panels(dashboard()):
        if p["type"] in ("timeseries", "stat", "gauge", "bargauge"):
            assert p["fieldConfig"]["defaults"].get("unit"), p["title"]


def test_status_panels_map_0_1_2_to_up_degraded_down() -> None:
    status = [
        p
        for p in query_panels(dashboard())
        if any("sttwatch_probe_status" in t["expr"] for t in p["targets"])
    ]
    assert {p["type"] for p in status} >= {"stat", "state-timeline"}
    for p in status:
        options = p["fieldConfig"]["defaults"]["mappings"][0]["options"]
        assert {k: v["text"] for k, v in options.items()} == {
            "0": "Up",
            "1": "Degraded",
            "2": "Down",
        }


def test_panels_empty_while_all_up_say_so() -> None:
    by_title = {p["title"]: p for p in query_panels(dashboard())}
    for title in EMPTY_WHILE_ALL_UP:
        assert "Empty while every run passes" in by_title[title]["description"]


def test_provisioning_yaml_parses_and_points_at_prometheus_and_the_dashboards() -> None:
    sources = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))
    assert sources["apiVersion"] == 1
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus" and source["access"] == "proxy"
    assert source["url"].startswith("http://")
    providers = yaml.safe_load(PROVIDERS.read_text(encoding="utf-8"))
    assert providers["apiVersion"] == 1
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")


# ---------------------------------------------------------------------------
# Live: sttwatch run -> real Prometheus -> every panel's PromQL

TARGETS = ("sim-a", "sim-b")

# The values Grafana would put in for the variables ($__rate_interval for a 1 s
# scrape is 4 s; 10 s keeps the slowest probe, every 4 s, inside one window).
SUBSTITUTIONS = {
    "target": "|".join(TARGETS),
    "provider": ".*",
    "instance": ".*",
    "location": "local",
    "datasource": "Prometheus",
    "__rate_interval": "10s",
    "__interval": "1s",
    "__range": "1m",
}

DATA_DEADLINE_S = 40.0

# `sttwatch run`, through the interpreter running the tests.
RUN_COMMAND = [sys.executable, "-m", "monitor", "run"]


def substitute(expr: str) -> str:
    """Return `expr` with the dashboard variables replaced (unknown variables fail)."""
    return re.sub(
        r"\$\{(\w+)(?::\w+)?\}|\$(\w+)",
        lambda m: SUBSTITUTIONS[m.group(1) or m.group(2)],
        expr,
    )


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """Return the status and body of GET `url` (HTTP errors are answers, not exceptions)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(what: str, check: Callable[[], Any], deadline_s: float, log: Path | None) -> Any:
    """Return the first truthy `check()` result, polling until `deadline_s` runs out."""
    end = time.monotonic() + deadline_s
    last_error: Exception | None = None
    while time.monotonic() < end:
        try:
            found = check()
        except (OSError, ValueError) as exc:
            last_error, found = exc, None
        if found:
            return found
        time.sleep(0.25)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    pytest.fail(f"timed out waiting for {what} ({last_error})\n{tail}")


@dataclass
class Stack:
    """The running sttwatch + Prometheus of the live tests."""

    sttwatch_url: str
    prometheus_url: str
    logs: Path
    webhook_posts: list[bytes] = field(default_factory=list)

    def api(self, path: str, **params: str) -> Any:
        """Return the `data` of a Prometheus API call; raises AssertionError on an error."""
        url = f"{self.prometheus_url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        status, body = http_get(url)
        doc = json.loads(body)
        assert status == 200 and doc["status"] == "success", (path, params, doc)
        return doc["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Return the instant-vector result of `expr` now."""
        return list(self.api("query", query=expr)["result"])

    def query_range(self, expr: str, seconds: int = 30) -> list[dict[str, Any]]:
        """Return the range result of `expr` over the last `seconds`, step 1 s."""
        now = time.time()
        return list(
            self.api("query_range", query=expr, start=str(now - seconds), end=str(now), step="1")[
                "result"
            ]
        )


def finite_values(result: list[dict[str, Any]]) -> list[float]:
    """Return every finite sample value of an instant or range query result."""
    values: list[float] = []
    for series in result:
        samples = series.get("values") or [series["value"]]
        values.extend(float(v) for _, v in samples if math.isfinite(float(v)))
    return values


SIM_SCENARIO = {
    "seed": 11,
    "api_keys": ["sim-key"],
    "jobs": {"queued_ms": 200, "processing_ms": 400},
    "faults": [
        # Half the reachability probes meet a 500: down runs, server_error errors.
        {"endpoint": "transcript.list", "action": "status", "status": 500, "probability": 0.5},
        # Every status poll is slow: transcription turnaround exceeds degraded_after.
        {"endpoint": "transcript.get", "action": "delay", "delay_ms": 150},
    ],
}


def prometheus_rules_for_test() -> dict[str, Any]:
    """Return the shipped rules with every group evaluated each second (1m/5m otherwise)."""
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for group in doc["groups"]:
        group["interval"] = "1s"
    return dict(doc)


def start_webhook(posts: list[bytes]) -> ThreadingHTTPServer:
    """Return a running loopback HTTP server that keeps every POST body in `posts`."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posts.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Stop `proc` with SIGTERM, then SIGKILL if it does not exit within 15 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Yield sttwatch probing the simulator, scraped by a real Prometheus, once data flows."""
    prometheus = shutil.which("prometheus")
    assert prometheus, "prometheus is not installed (Debian package; scripts/test.sh)"
    tmp = tmp_path_factory.mktemp("dashboard-live")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs: list[subprocess.Popen[bytes]] = []
    posts: list[bytes] = []
    webhook = start_webhook(posts)
    try:
        scenario = tmp / "scenario.yaml"
        scenario.write_text(yaml.safe_dump(SIM_SCENARIO))
        sim_log = tmp / "simulator.log"
        with sim_log.open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "monitor",
                        "simulate",
                        "--listen",
                        "127.0.0.1:0",
                        "--scenario",
                        str(scenario),
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=tmp,
                )
            )
        listening = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")
        api_base = wait_for(
            "the simulator",
            lambda: (m := listening.search(sim_log.read_text())) and m.group(1),
            15,
            sim_log,
        )
        ws_base = api_base.replace("http://", "ws://")

        port = free_port()
        config = tmp / "sttwatch.yaml"
        alert_url = f"json://127.0.0.1:{webhook.server_address[1]}/alerts"
        config.write_text(
            yaml.safe_dump(
                sttwatch_config(
                    tmp,
                    api_base=api_base,
                    ws_base=ws_base,
                    port=port,
                    targets=TARGETS,
                    probes={
                        **fast_probes(transcription_degraded_after="500ms"),
                        # Its webhook comes back to this sttwatch: the delivery delay panel.
                        "webhook": {
                            "interval": "4s",
                            "timeout": "3900ms",
                            "degraded_after": "3s",
                            "duplicate_window": "300ms",
                            "poll_interval": "100ms",
                            "poll_max_interval": "200ms",
                        },
                    },
                    webhook_base_url=f"http://127.0.0.1:{port}",
                    # The first down result alerts (no grouping wait), so the alerting panels
                    # count real deliveries within the test's deadline.
                    alerts={"urls": [alert_url], "failure_threshold": 1, "group_wait": 0},
                )
            )
        )
        run_log = tmp / "sttwatch-run.log"
        with run_log.open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [*RUN_COMMAND, "-c", str(config)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=tmp,
                )
            )
        sttwatch_url = f"http://127.0.0.1:{port}"
        wait_for(
            "sttwatch /metrics",
            lambda: http_get(f"{sttwatch_url}/metrics", 2)[0] == 200,
            20,
            run_log,
        )

        prom_port = free_port()
        (tmp / "rules.yml").write_text(yaml.safe_dump(prometheus_rules_for_test()))
        prom_config = prometheus_config(port, rule_files=["rules.yml"])
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(prom_config))
        prom_log = tmp / "prometheus.log"
        with prom_log.open("wb") as out:
            procs.append(
                subprocess.Popen(
                    prometheus_command(prometheus, tmp / "prometheus.yml", tmp, prom_port),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=tmp,
                )
            )
        stack = Stack(sttwatch_url, f"http://127.0.0.1:{prom_port}", tmp, posts)
        wait_for(
            "Prometheus ready",
            lambda: http_get(f"{stack.prometheus_url}/-/ready", 2)[0] == 200,
            20,
            prom_log,
        )
        # Every (target, probe) has run and been scraped, and the fault did its work.
        wait_for(
            "a result of every probe in Prometheus",
            lambda: len(stack.query("sttwatch_probe_success")) == 4 * len(TARGETS),
            DATA_DEADLINE_S,
            run_log,
        )
        yield stack
    finally:
        for proc in reversed(procs):
            stop_process(proc)
        webhook.shutdown()
        webhook.server_close()


def panel_queries() -> list[tuple[str, str, dict[str, Any]]]:
    """Return (panel title, refId, target) for every query of the dashboard."""
    return [(p["title"], t["refId"], t) for p in query_panels(dashboard()) for t in p["targets"]]


@pytest.mark.parametrize(
    ("title", "ref", "target"),
    panel_queries(),
    ids=[f"{title}/{ref}" for title, ref, _ in panel_queries()],
)
def test_panel_query_parses_and_returns_data(
    stack: Stack, title: str, ref: str, target: dict[str, Any]
) -> None:
    expr = substitute(target["expr"])
    instant = target.get("instant") and not target.get("range")

    def run() -> list[float]:
        result = stack.query(expr) if instant else stack.query_range(expr)
        return finite_values(result)

    # Parse errors are API errors: the first call raises (AssertionError) at once.
    first = run()
    if title in EMPTY_WHEN_HEALTHY:
        return
    if not first:
        wait_for(f"data for {title!r} {ref}: {expr}", run, DATA_DEADLINE_S, None)


def test_every_metric_the_dashboard_reads_is_exported_or_recorded(stack: Stack) -> None:
    status, body = http_get(f"{stack.sttwatch_url}/metrics")
    assert status == 200
    exported = set(re.findall(r"^(sttwatch_\w+)", body.decode(), flags=re.M))
    recorded = {
        r["record"]
        for g in prometheus_rules_for_test()["groups"]
        for r in g["rules"]
        if "record" in r
    }
    doc = dashboard()
    text = " ".join(
        [t["expr"] for _, _, t in panel_queries()]
        + [v["definition"] for v in doc["templating"]["list"] if "definition" in v]
        + [a["expr"] for a in doc["annotations"]["list"]]
    )
    used = set(re.findall(r"\b(sttwatch_[a-z_]+)", text)) - {"sttwatch_"}
    used_recorded = set(re.findall(r"\b(sttwatch:[a-z_0-9:]+)", text))
    assert used and used <= exported, used - exported
    assert used_recorded and used_recorded <= recorded, used_recorded - recorded


def test_template_variables_resolve_to_the_probed_targets_and_instance(stack: Stack) -> None:
    instance = stack.sttwatch_url.removeprefix("http://")
    for name, expected in (
        ("target", set(TARGETS)),
        ("provider", {"assemblyai"}),
        ("instance", {instance}),
        ("location", {"local"}),
    ):
        var = variables(dashboard())[name]
        m = re.fullmatch(r"label_values\((\w+), (\w+)\)", var["definition"])
        assert m, var["definition"]
        values = stack.api(f"label/{m.group(2)}/values", **{"match[]": m.group(1)})
        assert set(values) == expected, name


def test_the_providers_row_groups_its_series_by_provider(stack: Stack) -> None:
    for p in row_panels(dashboard(), "Providers"):
        for t in p["targets"]:
            expr = substitute(t["expr"])
            instant = t.get("instant") and not t.get("range")

            def labelled(expr: str = expr, instant: bool = bool(instant)) -> bool:
                found = stack.query(expr) if instant else stack.query_range(expr)
                return bool(found) and {r["metric"].get("provider") for r in found} == {
                    "assemblyai"
                }

            wait_for(f"{p['title']} by provider", labelled, DATA_DEADLINE_S, None)


def test_the_fault_produced_down_and_degraded_runs(stack: Stack) -> None:
    for status in ("down", "degraded", "up"):
        expr = f'sum(sttwatch_probe_runs_total{{status="{status}"}}) > 0'

        def seen(expr: str = expr) -> list[dict[str, Any]]:
            return stack.query(expr)

        wait_for(f"{status} runs", seen, DATA_DEADLINE_S, None)


def test_annotation_queries_parse(stack: Stack) -> None:
    for annotation in dashboard()["annotations"]["list"]:
        stack.query(substitute(annotation["expr"]))


def healthcheck_command(port: int) -> list[str]:
    """Return the Dockerfile's HEALTHCHECK command, aimed at `port` on loopback."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    m = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, flags=re.M)
    assert m, "no exec-form HEALTHCHECK in the Dockerfile"
    argv: list[str] = json.loads(m.group(1))
    assert argv[0] == "python"
    return [sys.executable, *[a.replace("127.0.0.1:8080", f"127.0.0.1:{port}") for a in argv[1:]]]


def test_dockerfile_healthcheck_passes_against_sttwatch_run(stack: Stack) -> None:
    port = int(stack.sttwatch_url.rpartition(":")[2])

    def healthy() -> bool:
        done = subprocess.run(healthcheck_command(port), capture_output=True, timeout=10)
        return done.returncode == 0

    wait_for("the Dockerfile HEALTHCHECK to pass", healthy, DATA_DEADLINE_S, None)
    # ... and it can fail: nothing listens on a fresh free port.
    done = subprocess.run(healthcheck_command(free_port()), capture_output=True, timeout=10)
    assert done.returncode != 0


def test_alert_panels_count_the_notifications_sttwatch_delivered(stack: Stack) -> None:
    # The reachability fault opens an alert after one down result; the webhook gets it
    # and the "sent" series of the alerting panels counts it.
    by_title = {p["title"]: p for p in query_panels(dashboard())}
    expr = substitute(by_title["Notifications in the dashboard range"]["targets"][0]["expr"])

    def sent() -> bool:
        result = stack.query(expr)
        counts = {r["metric"]["result"]: float(r["value"][1]) for r in result}
        return counts.get("sent", 0.0) > 0 and bool(stack.webhook_posts)

    wait_for(
        "a delivered alert counted as sent", sent, DATA_DEADLINE_S, stack.logs / "sttwatch-run.log"
    )
