"""``sttwatch incident``, run as an operator runs it: a subprocess against a real store.

Both databases (the `database` fixture). The commands write what the store
then reads back; bad input exits 2 with a message naming what and where, and
leaves every stored incident and update as it was.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.models import Status
from monitor.store import Store
from tests.support.cli import run_sttwatch
from tests.support.configs import config_doc, write_config
from tests.support.results import make

TARGETS = [
    {"name": "us", "api_key": "k" * 32},
    {"name": "eu", "api_key": "k" * 32, "probes": {"reachability": {}, "streaming": {}}},
]


async def _setup(tmp_path: Path, database: str) -> tuple[Path, int]:
    """Write the config, store an open probe incident of us/reachability; return both."""
    config = write_config(tmp_path, config_doc(tmp_path, TARGETS, database=database))
    now = datetime.now(UTC)
    async with await Store.open(database if "://" in database else str(tmp_path / database)) as s:
        for m in (3, 2):
            await s.add_result(make(at=now - timedelta(minutes=m), status=Status.DOWN))
        [incident] = await s.incidents(open_only=True)
    return config, incident.id


def _where(tmp_path: Path, database: str) -> str:
    return database if "://" in database else str(tmp_path / database)


async def _incident(cli: str, config: Path, *args: str) -> tuple[int, str, str]:
    return await run_sttwatch("incident", cli, "-c", str(config), *args)


async def test_open_update_resolve_postmortem_and_list(tmp_path: Path, database: str) -> None:
    config, probed = await _setup(tmp_path, database)
    code, out, err = await _incident(
        "open", config, "--target", "eu", "--component", "streaming", "--title", "Slow EU",
        "--message", "We are looking into slow EU sessions", "--impact", "major",
    )  # fmt: skip
    assert code == 0, err
    said = int(out.strip())
    code, out, err = await _incident(
        "update", config, str(said), "--status", "identified", "--message", "Upstream provider"
    )
    assert (code, out.strip()) == (0, f"incident {said}: identified"), err
    # An update of the probes' own incident, and a postmortem from a file.
    code, _, err = await _incident(
        "update", config, str(probed), "--status", "monitoring", "--message", "Watching it"
    )
    assert code == 0, err
    assert (await _incident("resolve", config, str(said), "--message", "Fixed"))[0] == 0
    report = tmp_path / "pm.md"
    report.write_text("# What happened\n\nThe provider's EU region was slow.\n", encoding="utf-8")
    code, _, err = await _incident("update", config, str(said), "--postmortem", f"@{report}")
    assert code == 0, err

    async with await Store.open(_where(tmp_path, database)) as s:
        mine = await s.incident(said)
        theirs = await s.incident(probed)
    assert mine is not None and theirs is not None
    assert (mine.source, mine.title, mine.affected, mine.impact) == (
        "operator",
        "Slow EU",
        ("streaming",),
        "major",
    )
    assert [(u.status, u.body) for u in mine.updates] == [
        ("investigating", "We are looking into slow EU sessions"),
        ("identified", "Upstream provider"),
        ("resolved", "Fixed"),
    ]
    assert mine.status == "resolved"
    assert mine.postmortem == report.read_text(encoding="utf-8").strip()
    assert theirs.is_open and theirs.status == "monitoring"
    assert [u.source for u in theirs.updates] == ["sttwatch", "operator"]

    code, out, err = await _incident("list", config)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ID", "STATUS", "SOURCE"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows[str(said)][1:5] == ["resolved", "operator", "eu", "streaming"]
    assert rows[str(said)][-2:] == ["Slow", "EU"]
    assert rows[str(probed)][1:5] == ["monitoring", "probe", "us", "reachability"]
    code, out, _ = await _incident("list", config, "--open")
    assert [line.split()[0] for line in out.splitlines()[1:]] == [str(probed)]


# (arguments after `-c CONFIG`, with {probed} / {resolved} / {tmp} filled in; what stderr says)
BAD = [
    (
        ["open", "--target", "nope", "--title", "T", "--message", "M"],
        r"--target 'nope': no such target in .*sttwatch\.yaml; known: us, eu",
    ),
    (
        [
            "open",
            "--target",
            "eu",
            "--component",
            "transcription",
            "--title",
            "T",
            "--message",
            "M",
        ],
        r"--component 'transcription': target eu in .*sttwatch\.yaml runs no such probe",
    ),
    (["open", "--target", "us", "--title", "T", "--message", "  "], r"--message is empty"),
    (["open", "--target", "us", "--title", "", "--message", "M"], r"--title is empty"),
    (
        ["update", "999", "--status", "identified", "--message", "M"],
        r"no incident 999 in .*(sttwatch-\d+\.db|postgresql)",
    ),
    (["update", "abc", "--status", "identified", "--message", "M"], r"incident id 'abc'"),
    (["update", "{probed}", "--message", "M"], r"--status is missing"),
    (["update", "{probed}", "--status", "identified", "--message", ""], r"--message is empty"),
    (["update", "{probed}", "--status", "resolved", "--message", "M"], r"invalid choice"),
    (
        ["update", "{resolved}", "--status", "monitoring", "--message", "M"],
        r"incident {resolved} is resolved; a resolved incident takes only a postmortem",
    ),
    (
        ["resolve", "{probed}", "--message", "M"],
        r"incident {probed} was opened by the reachability probes of us and they still confirm"
        r" the outage.*sttwatch incident update {probed} --status monitoring",
    ),
    (["resolve", "{resolved}", "--message", "M"], r"incident {resolved} is already resolved"),
    (["update", "{probed}", "--postmortem", "PM"], r"incident {probed} is .*not resolved"),
    (
        ["postmortem", "{resolved}", "@{tmp}/absent.md"],
        r"the postmortem @.*absent\.md: cannot read the file: No such file or directory",
    ),
]
BAD_IDS = [
    "unknown-target",
    "unknown-kind",
    "empty-message",
    "empty-title",
    "unknown-id",
    "not-an-id",
    "no-status",
    "empty-update",
    "status-resolved",
    "update-resolved",
    "resolve-probe-incident",
    "resolve-twice",
    "postmortem-open",
    "postmortem-missing-file",
]


@pytest.mark.parametrize("args, error", BAD, ids=BAD_IDS)
async def test_bad_input_exits_2_naming_it_with_nothing_stored(
    tmp_path: Path, database: str, args: list[str], error: str
) -> None:
    config, probed = await _setup(tmp_path, database)
    code, out, err = await _incident(
        "open", config, "--target", "us", "--title", "Done", "--message", "M"
    )
    resolved = int(out)
    assert (await _incident("resolve", config, str(resolved), "--message", "ok"))[0] == 0
    where = _where(tmp_path, database)
    async with await Store.open(where) as s:
        before = (await s.incidents(), await s.incident_revision())
    fill = {"probed": str(probed), "resolved": str(resolved), "tmp": str(tmp_path)}
    action, *rest = [a.format(**fill) for a in args]
    code, out, err = await _incident(action, config, *rest)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    assert re.search(error.format(**fill), err), err
    async with await Store.open(where) as s:
        assert (await s.incidents(), await s.incident_revision()) == before


async def test_a_missing_database_is_named_and_not_created(tmp_path: Path) -> None:
    config = write_config(tmp_path, config_doc(tmp_path, TARGETS))
    code, _, err = await _incident("list", config)
    assert code == 2
    assert f"no database at {tmp_path / 'sttwatch.db'}" in err
    assert not (tmp_path / "sttwatch.db").exists()
