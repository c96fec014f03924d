"""``sttwatch once`` and ``check-config`` with a Deepgram target, as a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from monitor.simulator.deepgram import SimulatorHandle
from tests.support.configs import config_doc, write_config

ROOT = Path(__file__).resolve().parents[3]


async def sttwatch(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run ``sttwatch ARGS`` from this checkout; return (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        *args,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


def deepgram_config(tmp_path: Path, dg: SimulatorHandle) -> Path:
    """Write a config of one Deepgram target on `dg`, its key left to DEEPGRAM_API_KEY."""
    target: dict[str, Any] = {
        "name": "dg",
        "provider": "deepgram",
        "api_base": dg.base_url,
        "streaming_base": dg.ws_base,
        "probes": {
            "reachability": {"timeout": "5s"},
            "transcription": {"timeout": "10s", "request_log_wait": "1s"},
            "streaming": {"timeout": "15s", "degraded_after": "5s"},
        },
    }
    return write_config(tmp_path, config_doc(tmp_path, [target]))


async def test_once_runs_the_three_deepgram_probes(tmp_path: Path, dg: SimulatorHandle) -> None:
    path = deepgram_config(tmp_path, dg)
    code, out, err = await sttwatch(
        "once", "-c", str(path), "--json", env={"DEEPGRAM_API_KEY": "sim-key"}
    )
    assert code == 0, err
    results = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert {r["probe"]: r["status"] for r in results} == {
        "reachability": "up",
        "transcription": "up",
        "streaming": "up",
    }
    transcription = next(r for r in results if r["probe"] == "transcription")
    assert transcription["details"]["mip_opt_out"] == "confirmed"
    assert "sim-key" not in out + err
    assert dg.state()["streaming"]["dropped"] == 0


async def test_check_config_masks_the_deepgram_key(tmp_path: Path, dg: SimulatorHandle) -> None:
    path = deepgram_config(tmp_path, dg)
    code, out, err = await sttwatch(
        "check-config", "-c", str(path), env={"DEEPGRAM_API_KEY": "sim-key"}
    )
    assert code == 0, err
    assert "deepgram" in out and "sim-key" not in out + err


async def test_once_with_a_wrong_key_is_down_auth(tmp_path: Path, dg: SimulatorHandle) -> None:
    path = deepgram_config(tmp_path, dg)
    code, out, _ = await sttwatch(
        "once", "-c", str(path), "--json", env={"DEEPGRAM_API_KEY": "nope"}
    )
    assert code == 1
    results = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert {r["error_kind"] for r in results} == {"auth"}
