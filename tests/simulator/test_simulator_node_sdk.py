"""The official AssemblyAI Node SDK, unchanged, against ``sttwatch simulate --tls``.

``tests/node/sdk-check.mjs`` drives the SDK (the version pinned in
``tests/node/package.json``, installed by ``npm ci --prefix tests/node``)
and prints what each step saw; this test starts the simulator as a user
would, trusts its certificate with ``NODE_EXTRA_CA_CERTS`` and checks the
steps and every streaming message against the AsyncAPI specs.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.simulator import DEFAULT_API_KEY
from tests.support.simulate_process import SimulateProcess, simulate
from tests.support.simulator import CLIP_TEXT, CLIP_WAV, assert_stream_message

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
SCRIPT = NODE_DIR / "sdk-check.mjs"
SDK_PACKAGE = NODE_DIR / "node_modules" / "assemblyai" / "package.json"
RUN_LIMIT_S = 120
CLIP_WORDS = 9


def _missing() -> str | None:
    """Return why the Node SDK cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (Debian: nodejs)"
    if not SDK_PACKAGE.is_file():
        return f"the Node SDK is not installed: run `npm ci --prefix {NODE_DIR}`"
    return None


@pytest.fixture(scope="module")
def node() -> str:
    """Return the node executable; skip without it, but fail in CI, where it must exist."""
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the Node SDK test: {reason}")
        pytest.skip(reason)
    found = shutil.which("node")
    assert found is not None
    return found


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulateProcess]:
    """Yield ``sttwatch simulate --tls``: audio may outrun real time, idle sessions end soon."""
    scenario = tmp_path_factory.mktemp("node-sdk") / "scenario.yaml"
    scenario.write_text("streaming:\n  strict_pacing: false\n  inactivity_timeout_s: 0.3\n")
    with simulate("--tls", "--scenario", str(scenario)) as running:
        yield running


@pytest.fixture(scope="module")
def seen(node: str, sim: SimulateProcess) -> dict[str, Any]:
    """Run the SDK script once; return what it printed."""
    assert sim.cert is not None
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "SIM_BASE_URL": sim.base_url,
        "SIM_WS_BASE": sim.ws_base,
        "SIM_API_KEY": DEFAULT_API_KEY,
        "SIM_CLIP": str(CLIP_WAV),
        "SIM_FRAME_PACE_MS": "0",
        # What a user does: trust the printed certificate. Nothing else is relaxed.
        "NODE_EXTRA_CA_CERTS": str(sim.cert),
    }
    out = subprocess.run(
        [node, str(SCRIPT)],
        cwd=NODE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_S,
    )
    assert out.returncode == 0, f"stdout: {out.stdout}\nstderr: {out.stderr}"
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _sim_state(sim: SimulateProcess) -> dict[str, Any]:
    assert sim.cert is not None
    trust = ssl.create_default_context(cafile=str(sim.cert))
    with urllib.request.urlopen(f"{sim.base_url}/_sim/state", context=trust, timeout=5) as r:
        state: dict[str, Any] = json.load(r)
    return state


def test_the_pinned_sdk_is_the_installed_one(node: str) -> None:
    pinned = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]["assemblyai"]
    locked = json.loads((NODE_DIR / "package-lock.json").read_text())
    installed = json.loads(SDK_PACKAGE.read_text())["version"]
    assert pinned == locked["packages"]["node_modules/assemblyai"]["version"] == installed


def test_rest_upload_transcribe_get_list_delete(seen: dict[str, Any], sim: SimulateProcess) -> None:
    assert seen["upload"]["upload_url"].startswith(f"{sim.base_url}/upload/")
    done = seen["transcribe"]
    assert (done["status"], done["text"], done["words"]) == ("completed", CLIP_TEXT, CLIP_WORDS)
    assert done["audio_duration"] == 2
    assert seen["get"] == {"id": done["id"], "status": "completed", "text": CLIP_TEXT}
    assert done["id"] in seen["list"]["ids"] and seen["list"]["limit"] == 5
    assert seen["delete"] == {"text": "Deleted by user.", "audio_url": "http://deleted_by_user"}
    assert _sim_state(sim)["transcripts"]["undeleted"] == 0


def _validated(session: dict[str, Any], *, u3_pro: bool = False) -> list[dict[str, Any]]:
    """Validate the session's Begin and raw frames against the spec; return the frames."""
    assert session["errors"] == []
    assert_stream_message(session["begin"], u3_pro=u3_pro)
    for message in session["raw"]:
        assert_stream_message(message, u3_pro=u3_pro)
    return list(session["raw"])


@pytest.mark.parametrize("name", ["stream_key", "stream_token"], ids=["api-key", "temporary-token"])
def test_universal_streaming_session(seen: dict[str, Any], name: str) -> None:
    session = seen[name]
    raw = _validated(session)
    assert session["begin"]["type"] == "Begin"
    assert raw[-1]["type"] == "Termination"
    turns = [m for m in raw if m["type"] == "Turn"]
    # What the SDK's turn event delivered is what came over the wire.
    assert session["turns"] == turns
    assert session["speechStarted"] == []
    ends = [t for t in turns if t["end_of_turn"]]
    assert ends[0]["transcript"] == "the quick brown fox jumps over the lazy dog"
    if name == "stream_key":  # formatTurns: true
        assert [t["turn_is_formatted"] for t in ends] == [False, True]
        assert ends[1]["transcript"] == CLIP_TEXT


def test_a_temporary_token_opens_one_session(seen: dict[str, Any]) -> None:
    assert seen["token"]["length"] > 20
    assert seen["token_reused"]["began"] is False
    assert seen["token_reused"]["code"] == 1008


def test_u3_pro_streaming_session(seen: dict[str, Any]) -> None:
    session = seen["stream_u3"]
    raw = _validated(session, u3_pro=True)
    assert [m["type"] for m in raw] == ["SpeechStarted", "Turn", "Termination"]
    assert session["speechStarted"] == [raw[0]]
    (turn,) = session["turns"]
    assert turn["end_of_turn"] and turn["turn_is_formatted"]
    assert turn["end_of_turn_confidence"] == 1
    assert turn["transcript"] == turn["utterance"] == CLIP_TEXT


def test_control_messages(seen: dict[str, Any]) -> None:
    session = seen["stream_controls"]
    raw = _validated(session)
    assert raw[-1]["type"] == "Termination"
    # ForceEndpoint ended the turn one second in; Terminate had nothing left to flush.
    (end,) = [t for t in session["turns"] if t["end_of_turn"]]
    assert end["transcript"].startswith("the quick") and "dog" not in end["transcript"]


def test_an_idle_session_is_terminated(seen: dict[str, Any]) -> None:
    session = seen["stream_idle"]
    raw = _validated(session)
    assert [m["type"] for m in raw] == ["Termination"]
    assert session["close"] == {"code": 1000, "reason": ""}


def test_refusals_reach_the_sdk(seen: dict[str, Any]) -> None:
    assert seen["key_as_token"] == {
        "began": False,
        "code": 1008,
        "message": "Unauthorized Connection: Missing Authorization header",
    }
    assert seen["bad_sample_rate"] == {
        "began": False,
        "code": 3006,
        "message": "Invalid Query Parameter: sample_rate must be at least 1, got -8000",
    }


def test_every_session_was_terminated(seen: dict[str, Any], sim: SimulateProcess) -> None:
    streaming = _sim_state(sim)["streaming"]
    # Key, token, u3-rt-pro, controls and idle sessions; refused attempts open none.
    assert streaming["opened"] == 5
    assert (streaming["unterminated"], streaming["active"]) == (0, 0)
