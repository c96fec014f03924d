"""The command line: every subcommand of docs/design.md §3 answers --help, and commands that
cannot open their database say so and exit 2 instead of printing a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor import cli
from monitor.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
COMMANDS = [
    "run",
    "once",
    "render",
    "check-config",
    "incident",
    "test-alert",
    "migrate-db",
    "simulate",
    "demo",
]


def sttwatch(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Return the finished `python -m monitor ARGS` process."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def test_every_designed_subcommand_exists() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)  # type: ignore[arg-type]


def test_top_level_help_lists_every_subcommand() -> None:
    out = sttwatch("--help")
    assert out.returncode == 0
    for name in COMMANDS:
        assert name in out.stdout


@pytest.mark.parametrize("args", [["--help"], ["once", "--help"], ["--version"]])
def test_help_imports_none_of_the_commands_dependencies(args: list[str]) -> None:
    # --help is the first thing a user runs: argparse alone, no event loop, no HTTP client.
    code = (
        "import sys; from monitor.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "heavy = ('asyncio', 'aiohttp', 'pydantic', 'yaml', 'sqlite_utils', 'jinja2')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert out.stderr.strip().splitlines()[-1] == "[]"
    assert "sttwatch" in out.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_subcommand_help(name: str) -> None:
    out = sttwatch(name, "--help")
    assert out.returncode == 0, out.stderr
    assert f"usage: sttwatch {name}" in out.stdout
    if name not in ("simulate", "demo", "migrate-db"):  # no config: their flags say it all
        assert "-c CONFIG" in out.stdout


@pytest.mark.parametrize("name", ["run", "once", "render"])
def test_unusable_database_exits_2_without_traceback(tmp_path: Path, name: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "database: /proc/no-such-dir/sttwatch.db\n"
        f"site_dir: {tmp_path / 'site'}\n"
        "listen: 127.0.0.1:0\n"
        "targets:\n  - name: a\n    api_key: ${KEY}\n"
        "    api_base: http://127.0.0.1:9\n    streaming_base: ws://127.0.0.1:9\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "monitor", name, "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "KEY": "sk-cli-test-key-123"},
    )
    assert out.returncode == 2, out.stderr
    assert "/proc/no-such-dir/sttwatch.db" in out.stderr
    assert "Traceback" not in out.stderr


class Heavy:
    """A command's result (a rendered site) whose repr is costly: count how often it is made."""

    reprs = 0

    def __repr__(self) -> str:
        Heavy.reprs += 1
        return "Heavy()"


def test_commands_get_their_result_back_without_it_being_formatted() -> None:
    # asyncio.run formats its main task (and so the task's result) when it checks its
    # SIGINT handler; a rendered site's repr took ~10 ms, twice per `sttwatch render`.
    async def main() -> Heavy:
        return Heavy()

    Heavy.reprs = 0
    assert isinstance(cli._run(main()), Heavy)
    assert Heavy.reprs == 0


def test_a_command_failure_propagates_through_run() -> None:
    async def main() -> None:
        raise FileNotFoundError("no-db")

    with pytest.raises(FileNotFoundError, match="no-db"):
        cli._run(main())
