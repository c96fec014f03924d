"""The status page's compiled-template cache: used where safe, never a reason to fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

RENDER = (
    "import monitor.site.templates as s, jinja2;"
    "env = s._environment();"
    "env.get_template('index.html');"
    "print(type(env.bytecode_cache).__name__)"
)


def run(tmp_path: Path) -> str:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", RENDER], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_templates_compiled_once_are_cached_in_a_private_directory(tmp_path: Path) -> None:
    assert run(tmp_path) == "_BytecodeCache"
    [cache] = tmp_path.glob("_jinja2-cache-*")
    assert cache.stat().st_mode & 0o777 == 0o700
    files = sorted(p.name for p in cache.iterdir())
    assert files  # index.html at least
    assert run(tmp_path) == "_BytecodeCache"
    assert sorted(p.name for p in cache.iterdir()) == files  # read back, not rewritten


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand the directory to another user")
def test_a_directory_someone_else_owns_means_no_cache(tmp_path: Path) -> None:
    cache = tmp_path / f"_jinja2-cache-{os.getuid()}"
    cache.mkdir(mode=0o700)
    os.chown(cache, 12345, 12345)
    assert run(tmp_path) == "NoneType"
    assert list(cache.iterdir()) == []
