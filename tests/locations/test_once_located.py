"""`sttwatch once --json --record` from two locations into one database."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from monitor.simulator import SimulatorHandle
from tests.support.chaos import read_rows
from tests.support.configs import config_doc, sim_target, write_config

REPO = Path(__file__).resolve().parents[2]


async def once(config: Path, location: str) -> tuple[int, list[dict[str, object]]]:
    """Return the exit code and the printed results of `once --json --record` in `location`."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "once", "--json", "--record", "-c", str(config),
        cwd=REPO, env={**os.environ, "STTWATCH_LOCATION": location, "PYTHONWARNINGS": "ignore"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return proc.returncode, [json.loads(line) for line in out.decode().splitlines()]


async def test_two_locations_record_into_one_database(tmp_path: Path, sim: SimulatorHandle) -> None:
    target = sim_target(sim, probes={"reachability": None})
    config = write_config(tmp_path, config_doc(tmp_path, [target], quorum="majority"))
    # Both at once, as two agents would run: one SQLite file, one machine.
    (eu_code, eu), (us_code, us) = await asyncio.gather(
        once(config, "eu-west"), once(config, "us-east")
    )
    assert (eu_code, us_code) == (0, 0)
    assert [r["location"] for r in eu] == ["eu-west"]
    assert [r["location"] for r in us] == ["us-east"]
    stored = read_rows(tmp_path / "sttwatch.db", "SELECT location FROM results ORDER BY location")
    assert stored == [("eu-west",), ("us-east",)]
    places = read_rows(
        tmp_path / "sttwatch.db", "SELECT location FROM component_locations ORDER BY location"
    )
    assert places == [("eu-west",), ("us-east",)]
