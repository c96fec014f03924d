"""The shipped Prometheus config and rules, checked and unit-tested by the real promtool.

``prometheus/rules/sttwatch.test.yml`` holds a ``promtool test rules`` case for
every alert (silent just before it should fire, firing right when it should)
and for the uptime recording rules; this module runs it and checks that no
alert rule was left without one.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "prometheus" / "prometheus.yml"
RULES = ROOT / "prometheus" / "rules" / "sttwatch.yml"
RULE_TESTS = ROOT / "prometheus" / "rules" / "sttwatch.test.yml"

# The metrics of docs/design.md §3 as exported (counters with their _total suffix).
EXPORTED_METRICS = {
    "sttwatch_probe_success",
    "sttwatch_probe_status",
    "sttwatch_probe_duration_seconds_bucket",
    "sttwatch_probe_phase_seconds",
    "sttwatch_probe_runs_total",
    "sttwatch_probe_errors_total",
    "sttwatch_probe_last_run_timestamp_seconds",
    "sttwatch_probe_skipped_total",
    "sttwatch_transcription_wer",
    "sttwatch_stream_first_transcript_seconds_bucket",
    "sttwatch_deletions_pending",
    "sttwatch_alerts_sent_total",
    "sttwatch_scheduler_lateness_seconds_bucket",
    "sttwatch_build_info",
    "sttwatch_quorum",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Return the finished promtool run with `args` (the real binary, never skipped)."""
    exe = shutil.which("promtool")
    assert exe, "promtool is not installed (Debian package prometheus; scripts/test.sh)"
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )


def rules() -> list[dict[str, Any]]:
    """Return every rule of the shipped rule file."""
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_promtool_check_config_accepts_the_config_and_its_rule_file() -> None:
    done = promtool("check", "config", str(CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 rule files found" in done.stdout


def test_promtool_check_rules_accepts_the_rules() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules())} rules found" in done.stdout


def test_promtool_unit_tests_of_every_rule_pass() -> None:
    done = promtool("test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


DOWN_EXPR = "expr: sttwatch:probe_down:locations >= on (target, probe) sttwatch:probe_quorum:needed"


@pytest.mark.parametrize(
    ("rule", "mutant"),
    [
        (f"{DOWN_EXPR}\n        for: 2m", f"{DOWN_EXPR}\n        for: 1m"),
        # One location down is enough: the two-location quorum test must catch it.
        (f"{DOWN_EXPR}\n", "expr: sttwatch:probe_down:locations >= 1\n"),
    ],
    ids=["fires-too-early", "ignores-the-quorum"],
)
def test_promtool_unit_tests_fail_when_the_down_rule_is_wrong(
    tmp_path: Path, rule: str, mutant: str
) -> None:
    # The unit tests must be able to fail: break the down alert and they do.
    text = RULES.read_text(encoding="utf-8")
    mutated = text.replace(rule, mutant)
    assert mutated != text
    (tmp_path / "sttwatch.yml").write_text(mutated, encoding="utf-8")
    (tmp_path / "sttwatch.test.yml").write_text(RULE_TESTS.read_text(encoding="utf-8"))
    done = promtool("test", "rules", str(tmp_path / "sttwatch.test.yml"))
    assert done.returncode != 0
    assert "SttwatchComponentDown" in done.stdout + done.stderr


def test_every_alert_has_a_unit_test_and_severity_summary_description() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
    tested = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    alerts = [r for r in rules() if "alert" in r]
    assert {a["alert"] for a in alerts} == tested
    for alert in alerts:
        assert alert["labels"]["severity"] in ("critical", "warning"), alert["alert"]
        assert alert["annotations"]["summary"].strip(), alert["alert"]
        assert alert["annotations"]["description"].strip(), alert["alert"]


def test_every_recording_rule_has_a_unit_test() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
    tested = {case["expr"] for test in tests for case in test.get("promql_expr_test", [])}
    assert {r["record"] for r in rules() if "record" in r} == tested


@pytest.mark.parametrize(
    "rule", [r for r in rules() if "expr" in r], ids=lambda r: r.get("alert") or r["record"]
)
def test_rules_read_only_metrics_sttwatch_exports(rule: dict[str, Any]) -> None:
    names = set(re.findall(r"\b(sttwatch_[a-z_]+)", rule["expr"]))
    assert names <= EXPORTED_METRICS, names - EXPORTED_METRICS


@pytest.mark.parametrize(
    ("original", "mutated"),
    [
        ('phase="delivery"} > 10\n        for: 3m', 'phase="delivery"} > 10\n        for: 2m'),
        ('phase="delivery"} > 10\n', 'phase="delivery"} > 15\n'),
        ('probe="webhook", phase="delivery"}', 'probe="webhook"}'),
    ],
    ids=["fires-too-early", "threshold-too-high", "any-phase"],
)
def test_the_webhook_late_unit_test_fails_when_the_rule_is_wrong(
    tmp_path: Path, original: str, mutated: str
) -> None:
    text = RULES.read_text(encoding="utf-8")
    assert original in text
    (tmp_path / "sttwatch.yml").write_text(text.replace(original, mutated), encoding="utf-8")
    (tmp_path / "sttwatch.test.yml").write_text(RULE_TESTS.read_text(encoding="utf-8"))
    done = promtool("test", "rules", str(tmp_path / "sttwatch.test.yml"))
    assert done.returncode != 0
    assert "SttwatchWebhookLate" in done.stdout + done.stderr
