"""An `openai` target in the configuration, and `sttwatch once` running it end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from monitor.config import ConfigError, parse_config
from monitor.models import Status
from monitor.providers.openai.specs import ReachabilitySpec
from monitor.simulator.openai import Scenario, ThreadedSimulator, start_simulator_thread
from monitor.site import kinds
from tests.support.configs import config_doc, write_config
from tests.support.openai_provider import OpenAISim, run_probe

ROOT = Path(__file__).resolve().parents[3]


def _targets(**target: Any) -> dict[str, Any]:
    return {"targets": [{"name": "oai", "provider": "openai", **target}]}


@pytest.mark.parametrize(
    ("region", "env", "base", "key"),
    [
        (None, {"OPENAI_API_KEY": "sk-1"}, "https://api.openai.com", "sk-1"),
        ("groq", {"GROQ_API_KEY": "gsk-2", "OPENAI_API_KEY": "sk-1"},
         "https://api.groq.com/openai", "gsk-2"),
        ("local", {"OPENAI_COMPATIBLE_API_KEY": "k-3", "OPENAI_API_KEY": "sk-1"},
         "http://127.0.0.1:8000", "k-3"),
    ],
    ids=["openai", "groq", "local"],
)  # fmt: skip
def test_a_regions_base_url_and_key_variable(
    region: str | None, env: dict[str, str], base: str, key: str
) -> None:
    target = parse_config(_targets(**({"region": region} if region else {})), env=env).targets[0]
    assert target.api_base == base
    # A self-hosted server never gets the OpenAI key by default.
    assert target.api_key.get_secret_value() == key
    assert list(target.probes) == ["reachability", "transcription"]  # streaming: asked for


@pytest.mark.parametrize(
    ("probes", "path", "said"),
    [
        ({"transcription": {"speech_models": ["best"]}}, "transcription.speech_models",
         "unknown key"),
        ({"transcription": {"language": "english"}}, "transcription.language",
         "String should match pattern"),
        ({"reachability": {"flavour": "azure"}}, "reachability.flavour",
         "Input should be 'openai', 'groq' or 'local'"),
    ],
    ids=["assemblyai-setting", "language-not-iso", "unknown-flavour"],
)  # fmt: skip
def test_openai_settings_are_checked_against_its_own_specs(
    probes: dict[str, Any], path: str, said: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_targets(api_key="k", probes=probes), env={})
    found = dict(info.value.problems)
    where = f"targets[0].probes.{path}"
    assert where in found, found
    assert said in found[where]


@pytest.mark.parametrize(
    ("target", "said"),
    [
        ({"probes": {"streaming": {"model": "whisper-1"}}},
         "targets[0]: probes.streaming.model: 'whisper-1' does not stream on OpenAI "
         "(models that stream: gpt-4o-mini-transcribe,"),
        ({"region": "groq", "probes": {"streaming": {}}},
         "targets[0]: probes.streaming: Groq documents no streaming transcription"),
        ({"api_base": "https://api.groq.com/openai", "probes": {"streaming": {}}},
         "targets[0]: probes.streaming: Groq documents no streaming transcription"),
        ({"probes": {"streaming": {"flavour": "groq"}}},
         "targets[0]: probes.streaming: Groq documents no streaming transcription"),
    ],
    ids=["openai-model-that-does-not-stream", "groq-region", "groq-by-host", "groq-by-spec"],
)  # fmt: skip
def test_streaming_where_the_flavour_has_none_is_a_config_error(
    target: dict[str, Any], said: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_targets(api_key="sk-1", **target), env={})
    assert said in str(caught.value)


@pytest.mark.parametrize(
    "target",
    [
        {"probes": {"streaming": {}}},
        {"probes": {"streaming": {"model": "gpt-4o-transcribe"}}},
        {"region": "local", "probes": {"streaming": {"model": "my/own-whisper"}}},
    ],
    ids=["openai-default", "openai-streaming-model", "local-any-model"],
)
def test_streaming_on_a_model_that_streams_is_valid(target: dict[str, Any]) -> None:
    assert parse_config(_targets(api_key="sk-1", **target), env={}).targets[0].probes["streaming"]


def test_the_page_says_nothing_is_stored() -> None:
    assert "nothing to delete" in kinds.page_note("transcription", "openai")
    assert kinds.page_note("transcription", "assemblyai") == ""


@pytest.fixture
def groq_sim() -> Iterator[ThreadedSimulator]:
    sim = start_simulator_thread(scenario=Scenario(flavour="groq"))
    try:
        yield sim
    finally:
        sim.stop()


def test_once_runs_every_kind_of_an_openai_target(
    tmp_path: Path, groq_sim: ThreadedSimulator
) -> None:
    handle = groq_sim.handle
    target = {
        "name": "groq",
        "provider": "openai",
        "region": "groq",
        "api_base": handle.base_url + "/openai",
        "api_key": "sim-key",
        "probes": {"reachability": {}, "transcription": {"model": "whisper-large-v3-turbo"}},
    }
    path = write_config(tmp_path, config_doc(tmp_path, [target]))
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "once", "--json", "-c", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [(r["probe"], r["status"]) for r in results] == [
        ("reachability", "up"),
        ("transcription", "up"),
    ]
    assert results[1]["details"]["model"] == "whisper-large-v3-turbo"
    assert "sim-key" not in done.stdout


async def test_a_local_target_needs_no_key_and_sends_no_authorization(
    openai_sim: OpenAISim,
) -> None:
    handle = await openai_sim("local")  # the local flavour checks no key
    assert handle.state_obj.require_auth is False
    cfg = parse_config(_targets(region="local", api_base=handle.base_url), env={})
    target = cfg.targets[0]
    assert target.api_key.get_secret_value() == ""
    assert cfg.masked()["targets"][0]["api_key"] == ""  # nothing to mask
    result = await run_probe("reachability", target, ReachabilitySpec())
    assert result.status is Status.UP, result.message
    # A loopback server shows the headers the probe sends: no Authorization at all.
    seen: list[dict[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"object": "list", "data": []})

    app = web.Application()
    app.router.add_get("/v1/models", record)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = int(runner.addresses[0][1])
        aimed = parse_config(_targets(region="local", api_base=f"http://127.0.0.1:{port}"), env={})
        await run_probe("reachability", aimed.targets[0], ReachabilitySpec())
    finally:
        await runner.cleanup()
    assert len(seen) == 1 and "Authorization" not in seen[0], seen


@pytest.mark.parametrize(
    ("region", "variable"),
    [(None, "OPENAI_API_KEY"), ("groq", "GROQ_API_KEY")],
    ids=["openai", "groq"],
)
def test_a_hosted_target_without_a_key_is_refused_naming_its_variable(
    region: str | None, variable: str
) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_targets(**({"region": region} if region else {})), env={})
    assert f"targets[0].api_key: required key is missing (or set {variable})" in str(err.value)
