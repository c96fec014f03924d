"""Secrets never leave config: a world-readable config holding literal secrets is warned
about with the fix, and the log filter redacts secrets from messages and tracebacks."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.alert_urls import mask_url
from monitor.config import parse_config, permission_warnings
from monitor.isolation import without_secrets
from monitor.logs import RedactSecrets
from monitor.models import ErrorKind, ProbeResult, Status
from monitor.redaction import MASK, redact

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-live-d41d8cd98f00b204"


@pytest.mark.parametrize(
    ("body", "mode", "warned"),
    [
        (f"targets:\n  - name: us\n    api_key: {KEY}\n", 0o644, True),
        (f"targets:\n  - name: us\n    api_key: {KEY}\n", 0o640, True),
        (f"targets:\n  - name: us\n    api_key: {KEY}\n", 0o600, False),
        ("targets:\n  - name: us\n    api_key: ${K}\n", 0o644, False),
        (
            "targets:\n  - name: us\n    api_key: ${K}\nalerts:\n"
            "  urls: ['mailto://u:pw12345678@example.com']\n",
            0o644,
            True,
        ),
        (
            "database: postgresql://sw:pw12345678@db/sw\ntargets:\n  - name: us\n"
            "    api_key: ${K}\n",
            0o644,
            True,
        ),
        (
            "database: postgresql://sw:${PW}@db/sw\ntargets:\n  - name: us\n    api_key: ${K}\n",
            0o644,
            False,
        ),
    ],
    ids=[
        "literal-key-world",
        "literal-key-group",
        "literal-key-private",
        "env-key",
        "alert-pw",
        "database-pw",
        "database-pw-from-env",
    ],
)
def test_permission_warning(tmp_path: Path, body: str, mode: int, warned: bool) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(body)
    os.chmod(p, mode)
    warnings = permission_warnings(p)
    assert bool(warnings) is warned
    if warned:
        assert str(p) in warnings[0]
        assert f"chmod 600 {p}" in warnings[0]
        assert KEY not in warnings[0]


def test_cli_prints_the_warning_but_not_the_key(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(f"targets:\n  - name: us\n    api_key: {KEY}\n")
    os.chmod(p, 0o644)
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "check-config", "-c", str(p)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert out.returncode == 0
    assert "readable by other users" in out.stderr
    assert KEY not in out.stdout + out.stderr


def test_log_filter_redacts_messages_args_and_tracebacks() -> None:
    logger = logging.getLogger("sttwatch.test-redact")
    redactor = RedactSecrets([KEY, "pw12345678"])
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    keep = Keep()
    keep.addFilter(redactor)
    logger.addHandler(keep)
    try:
        logger.warning("calling with key %s and url %s", KEY, "mailto://u:pw12345678@x")
        try:
            raise RuntimeError(f"header Authorization: {KEY}")
        except RuntimeError:
            logger.exception("request failed")
    finally:
        logger.removeHandler(keep)
    text = "\n".join(records)
    assert KEY not in text and "pw12345678" not in text
    assert text.count(MASK) >= 3
    assert "RuntimeError" in text  # the traceback is kept, only the secret goes


_PW = "pw12345678"
_MASKED_PATHS = {
    "check-config": lambda cfg: str(cfg.masked()),
    "alert-url": lambda cfg: mask_url(f"mailto://u:{_PW}@example.com"),
    "alert-text": lambda cfg: redact(f"failed: key {KEY}", cfg.secrets()),
    "log-record": lambda cfg: RedactSecrets(cfg.secrets()).redact(f"key {KEY}"),
    "probe-result": lambda cfg: (
        without_secrets(
            ProbeResult(
                target="us",
                probe="reachability",
                started_at=datetime(2026, 1, 1, tzinfo=UTC),
                duration_s=0.1,
                status=Status.DOWN,
                error_kind=ErrorKind.AUTH,
                message=f"401: {KEY}",
            ),
            cfg.secrets(),
        ).message
    ),
}


@pytest.mark.parametrize("path", list(_MASKED_PATHS), ids=list(_MASKED_PATHS))
def test_every_output_path_shows_a_secret_as_the_one_mask(path: str) -> None:
    cfg = parse_config(
        {
            "targets": [{"name": "us", "api_key": KEY}],
            "alerts": {"urls": [f"mailto://u:{_PW}@example.com"]},
        }
    )
    text = _MASKED_PATHS[path](cfg)
    assert KEY not in text and _PW not in text
    assert MASK in text
    # No other mask spelling survives anywhere (there were three).
    assert "[redacted]" not in text and "*" * (len(MASK) + 1) not in text, text
