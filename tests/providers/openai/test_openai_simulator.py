"""The OpenAI-compatible simulator on the wire: validation, flavours, limits, control, CLI."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from monitor.probeclip import load_clip
from monitor.simulator.openai import Scenario
from tests.support.openai_provider import OpenAISim

ROOT = Path(__file__).resolve().parents[3]
AUTH = {"Authorization": "Bearer sim-key"}


def form(**fields: Any) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for name, value in fields.items():
        if name == "file":
            data.add_field("file", value[1], filename=value[0], content_type="audio/wav")
        elif isinstance(value, list):
            for item in value:
                data.add_field(name.replace("__", "[]"), item)
        else:
            data.add_field(name, value)
    return data


CLIP = ("probe-clip.wav", load_clip().wav)


async def post(base: str, prefix: str = "/v1", **fields: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base}{prefix}/audio/transcriptions", data=form(**fields), headers=AUTH) as r,
    ):
        body = await r.json() if r.content_type == "application/json" else await r.text()
        return r.status, body


@pytest.mark.parametrize(
    ("fields", "status", "param"),
    [
        ({"file": CLIP}, 400, "model"),
        ({"model": "whisper-1"}, 400, "file"),
        ({"model": "whisper-9", "file": CLIP}, 404, None),
        ({"model": "gpt-4o-mini", "file": CLIP}, 400, "model"),
        ({"model": "whisper-1", "file": CLIP, "response_format": "xml"}, 400, "response_format"),
        ({"model": "gpt-4o-mini-transcribe", "file": CLIP, "response_format": "verbose_json"},
         400, "response_format"),
        ({"model": "whisper-1", "file": CLIP, "temperature": "2"}, 400, "temperature"),
        ({"model": "whisper-1", "file": CLIP, "language": "english"}, 400, "language"),
        ({"model": "whisper-1", "file": CLIP, "timestamp_granularities__": ["word"]}, 400,
         "timestamp_granularities"),
        ({"model": "whisper-1", "file": ("notes.txt", b"hello")}, 400, None),
        ({"model": "whisper-1", "file": ("a.wav", b"<html>not audio</html>")}, 400, "file"),
        ({"model": "whisper-1", "file": CLIP, "speed": "2"}, 400, "speed"),
    ],
    ids=["no-model", "no-file", "unknown-model", "not-audio-model", "unknown-format",
         "format-not-for-model", "temperature", "language-not-iso", "granularity-needs-verbose",
         "file-extension", "file-not-audio", "unknown-field"],
)  # fmt: skip
async def test_openai_refuses_what_the_api_refuses(
    fields: dict[str, Any], status: int, param: str | None, openai_sim: OpenAISim
) -> None:
    handle = await openai_sim("openai")
    got, body = await post(handle.base_url, **fields)
    assert got == status
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["param"] == param
    assert handle.state()["transcriptions"]["failed"] == 1


async def test_groq_lives_under_openai_v1_and_has_no_captions(openai_sim: OpenAISim) -> None:
    handle = await openai_sim("groq")
    got, body = await post(handle.base_url, "/openai/v1", model="whisper-large-v3", file=CLIP,
                           response_format="srt")  # fmt: skip
    assert (got, body["error"]["param"]) == (400, "response_format")
    got, body = await post(handle.base_url, "/openai/v1", model="whisper-large-v3", file=CLIP)
    assert got == 200 and body["x_groq"]["id"].startswith("req_")
    # Groq ignores fields it does not know, and answers on /v1 nothing.
    got, _ = await post(handle.base_url, "/openai/v1", model="whisper-large-v3", file=CLIP,
                        speed="2")  # fmt: skip
    assert got == 200
    got, body = await post(handle.base_url, model="whisper-large-v3", file=CLIP)
    assert got == 404


async def test_groq_takes_a_url_instead_of_a_file(openai_sim: OpenAISim) -> None:
    handle = await openai_sim("groq")
    got, body = await post(handle.base_url, "/openai/v1", model="whisper-large-v3",
                           url="https://example.com/a.wav")  # fmt: skip
    assert got == 200 and body["text"]


async def test_local_answers_fastapi_details(openai_sim: OpenAISim) -> None:
    handle = await openai_sim("local")
    got, body = await post(handle.base_url, model="whisper-1", file=CLIP)
    assert got == 404 and "is not installed locally" in body["detail"]
    got, body = await post(handle.base_url, model="Systran/faster-whisper-small", file=CLIP,
                           response_format="verbose_json")  # fmt: skip
    assert got == 200 and body["language"] == "en" and "task" not in body and "usage" not in body


async def test_upload_over_the_limit_is_413_before_reading(openai_sim: OpenAISim) -> None:
    handle = await openai_sim("openai", max_upload_bytes=10_000)
    got, body = await post(handle.base_url, model="whisper-1", file=CLIP)
    assert got == 413
    assert body["error"]["type"] == "server_error"
    assert body["error"]["message"].startswith("Maximum content size limit (10000) exceeded")


async def test_auth_is_bearer(openai_sim: OpenAISim) -> None:
    handle = await openai_sim("openai")
    async with aiohttp.ClientSession() as http:
        for headers, status in (({}, 401), ({"Authorization": "sim-key"}, 401), (AUTH, 200)):
            async with http.get(f"{handle.base_url}/v1/models", headers=headers) as r:
                assert r.status == status, headers


async def test_unknown_paths_are_json_404s(openai_sim: OpenAISim) -> None:
    handle = await openai_sim("openai")
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{handle.base_url}/v1/files", headers=AUTH) as r,
    ):
        assert r.status == 404
        assert (await r.json())["error"]["message"] == "Invalid URL (GET /v1/files)"


async def test_control_endpoints(openai_sim: OpenAISim) -> None:
    handle = await openai_sim("openai")
    async with aiohttp.ClientSession() as http:
        fault = [{"endpoint": "models.list", "action": "status", "status": 500, "count": 1}]
        async with http.post(f"{handle.base_url}/_sim/faults", json=fault) as r:
            assert r.status == 200
        async with http.get(f"{handle.base_url}/v1/models", headers=AUTH) as r:
            assert r.status == 500
        async with http.get(f"{handle.base_url}/v1/models", headers=AUTH) as r:
            assert r.status == 200
        async with http.get(f"{handle.base_url}/_sim/state") as r:
            state = await r.json()
        assert state["requests"] == {"models.list": 2}
        assert state["faults_applied"] == {"status": 1}
        bad = [{"endpoint": "models.list", "action": "wrong_text", "text": "x"}]
        async with http.post(f"{handle.base_url}/_sim/faults", json=bad) as r:
            assert r.status == 400
            assert "applies to transcriptions" in str(await r.json())
        async with http.post(f"{handle.base_url}/_sim/reset") as r:
            assert (await r.json())["requests"] == {}


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        ({"endpoint": "transcriptions", "action": "status"}, "needs 'status'"),
        ({"endpoint": "transcriptions", "action": "slow_processing"}, "needs 'delay_ms'"),
        ({"endpoint": "ws", "action": "hang"}, "endpoint"),
        ({"endpoint": "transcriptions", "action": "hang", "colour": "red"}, "colour"),
    ],
    ids=["status-without-code", "slow-without-delay", "unknown-endpoint", "unknown-key"],
)
def test_scenario_faults_are_validated(fault: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Scenario.model_validate({"faults": [fault]})


def test_sttwatch_simulate_provider_openai(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("flavour: groq\n", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "simulate", "--provider", "openai",
         "--listen", "127.0.0.1:0", "--scenario", str(scenario)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"\(groq\) listening on (http://\S+) \(SDK base_url: (\S+)\)", line)
        assert found, line
        assert found.group(2) == found.group(1) + "/openai/v1"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_sttwatch_simulate_refuses_a_bad_scenario(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("flavour: azure\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "simulate", "--provider", "openai",
         "--listen", "127.0.0.1:0", "--scenario", str(scenario)],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "flavour" in done.stderr
