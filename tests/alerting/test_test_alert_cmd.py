"""`sttwatch test-alert -c CONFIG`, run as a real subprocess against real receivers on loopback."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from tests.support import configs
from tests.support.receivers import API_KEY, SmtpSink, Webhook

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, urls: list[str], **extra: Any) -> Path:
    target = {"name": "aai-us", "display_name": "AssemblyAI (US)", "api_key": API_KEY}
    doc = {"targets": [target], "alerts": {"urls": urls}, **extra}
    return configs.write_config(tmp_path, doc)


async def run_cli(config: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        "test-alert",
        "-c",
        str(config),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_every_destination_gets_a_labelled_test(
    tmp_path: Path, smtp_sink: SmtpSink, webhook: Webhook
) -> None:
    config = write_config(
        tmp_path, [smtp_sink.url(), webhook.url("chat"), webhook.url("pager", tags="critical")]
    )

    code, out, err = await run_cli(config)

    assert code == 0, out + err
    assert "sending a test notification to 3 destinations" in out
    assert out.count("\n  ok      ") == 3
    assert f"json://127.0.0.1:{webhook.port}/pager" in out and "[tags: critical]" in out
    assert "all 3 destinations accepted the test notification." in out
    (mail,) = smtp_sink.messages
    assert mail["Subject"] == "[TEST] sttwatch test notification"
    assert "No action is needed" in SmtpSink.text(mail)
    # Tags route alerts, but a test goes to every URL.
    assert sorted(path for path, _ in webhook.posts) == ["/chat", "/pager"]
    assert {p["title"] for _, p in webhook.posts} == {"[TEST] sttwatch test notification"}
    assert API_KEY not in out + err


async def test_a_failed_destination_is_reported_masked_and_exits_1(
    tmp_path: Path, webhook: Webhook, refused_port: int
) -> None:
    dead = f"json://alice:hunter2-secret@127.0.0.1:{refused_port}/hook"
    config = write_config(tmp_path, [dead, webhook.url()])

    code, out, err = await run_cli(config)

    assert code == 1, out + err
    lines = out.splitlines()
    (failed,) = [line for line in lines if line.startswith("  FAILED")]
    assert f"json://alice:****@127.0.0.1:{refused_port}/hook" in failed
    assert "connection" in failed.lower()
    assert any(line.startswith("  ok") and f":{webhook.port}/hook" in line for line in lines)
    assert lines[-1] == "1 of 2 destinations failed."
    assert "hunter2-secret" not in out + err
    assert len(webhook.posts) == 1  # the healthy one still got it


async def test_unusable_url_is_refused_before_anything_is_sent(
    tmp_path: Path, webhook: Webhook
) -> None:
    config = write_config(tmp_path, ["nosuchservice://abc", webhook.url()])

    code, _, err = await run_cli(config)

    assert code == 2
    assert "  alerts.urls[0]: Apprise does not know the scheme 'nosuchservice'" in err
    assert webhook.posts == []


async def test_no_destination_configured_exits_1(tmp_path: Path) -> None:
    code, out, _ = await run_cli(write_config(tmp_path, []))

    assert code == 1
    assert "no alert destination configured (set alerts.urls or alerts.config)" in out


async def test_invalid_config_exits_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, ["not a url"])

    code, _, err = await run_cli(config)

    assert code == 2
    assert "alerts.urls[0]: not an Apprise URL" in err


async def test_only_the_alert_configuration_is_needed(tmp_path: Path, webhook: Webhook) -> None:
    # The API key comes from an environment variable this shell does not set: test-alert
    # never calls the API, so it must not need it; a ${VAR} under alerts still must be set.
    config = tmp_path / "sttwatch.yaml"
    config.write_text(
        "targets:\n  - name: aai-us\n    api_key: ${STTWATCH_TEST_UNSET_KEY}\n"
        "alerts:\n  urls: ['${STTWATCH_TEST_HOOK}']\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("STTWATCH_TEST_")}

    code, out, err = await run_cli(config, {**env, "STTWATCH_TEST_HOOK": webhook.url()})
    assert code == 0, out + err
    assert out.endswith("accepted the test notification.\n")
    assert len(webhook.posts) == 1

    code, _, err = await run_cli(config, env)
    assert code == 2
    assert "alerts.urls[0]: environment variable STTWATCH_TEST_HOOK is not set" in err
    assert "STTWATCH_TEST_UNSET_KEY" not in err
