"""The probe registry: built-in kinds come from their provider, lookups say what exists."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from monitor.models import ProbeResult, Status
from monitor.probes import ProbeSpec, ProbeType, probe_type, probe_types, provider
from monitor.probes.registry import (
    KindTable,
    Unknown,
    implementation,
    key_latency,
    lazy_run,
    supported,
)
from tests.support.configs import config_doc, write_config

REPO = Path(__file__).resolve().parents[2]
BUILTIN = [kind.name for kind in provider("assemblyai").probes]


async def _run(target: object, spec: object, ctx: object) -> ProbeResult:
    raise AssertionError("not run")


def test_the_built_in_kinds_are_the_providers_in_its_order() -> None:
    assert list(probe_types())[: len(BUILTIN)] == BUILTIN
    assert all(probe_type(name).name == name for name in BUILTIN)


@pytest.mark.parametrize(
    ("lookup", "message"),
    [
        (lambda: probe_type(BUILTIN[0][:-1] + "x"), f"(did you mean {BUILTIN[0]!r}?)"),
        (lambda: provider("assemblyia"), "unknown provider 'assemblyia' (did you mean"),
    ],
    ids=["kind", "provider"],
)
def test_an_unknown_name_is_a_key_error_with_a_did_you_mean(lookup: object, message: str) -> None:
    with pytest.raises(Unknown) as err:
        lookup()  # type: ignore[operator]
    assert isinstance(err.value, KeyError)
    assert message in str(err.value)


def test_a_kind_needs_a_probe_spec_and_a_key_phase_among_its_phases() -> None:
    class NotASpec(BaseModel):
        pass

    with pytest.raises(TypeError, match="ProbeSpec subclass"):
        ProbeType(name="x", label="X", spec=NotASpec, run=_run, phases=("a",), key_phase="a")  # type: ignore[type-var]
    with pytest.raises(ValueError, match="key_phase"):
        ProbeType(name="x", label="X", spec=ProbeSpec, run=_run, phases=("a",), key_phase="b")
    kind = ProbeType(name="x", label="X", spec=ProbeSpec, run=_run, phases=("a",), key_phase="a")
    assert kind.key_name == "a" and kind.stored is None and not kind.default_enabled


def result(probe: str, phases: dict[str, float]) -> ProbeResult:
    return ProbeResult(
        target="t",
        probe=probe,
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        duration_s=9.0,
        status=Status.UP,
        phases=phases,
    )


@pytest.mark.parametrize(
    ("kind", "phases", "want"),
    [
        # Each built-in kind's key phase, when the run recorded it.
        *[(k, {probe_type(k).key_phase: 0.25, "other": 5.0}, 0.25) for k in BUILTIN],
        # A kind whose key latency is a sum of parts, when the run did not record the sum.
        *[
            (k, dict.fromkeys(probe_type(k).key_parts, 0.5), 0.5 * len(probe_type(k).key_parts))
            for k in BUILTIN
            if probe_type(k).key_parts
        ],
        # Nothing measured, or a kind nobody registered: the run's whole duration.
        (BUILTIN[0], {}, 9.0),
        ("no-such-kind", {"total": 1.0}, 9.0),
    ],
)
def test_key_latency_reads_the_kind(kind: str, phases: dict[str, float], want: float) -> None:
    assert key_latency(result(kind, phases)) == pytest.approx(want)


def test_a_kind_table_leaves_out_the_kinds_without_the_field() -> None:
    stored = KindTable(lambda kind: kind.stored)
    assert set(stored) <= set(probe_types())
    assert stored.get("no-such-kind", "absent") == "absent"
    assert dict(KindTable(lambda kind: kind.label)) == {
        n: k.label for n, k in probe_types().items()
    }


def test_a_target_runs_its_providers_implementation() -> None:
    assert supported("assemblyai")[: len(BUILTIN)] == BUILTIN
    for kind in provider("assemblyai").probes:
        assert implementation("assemblyai", kind.name) is kind.run


def _broken_plugins(tmp_path: Path) -> Path:
    """Return a sys.path entry holding two installed plugins that are broken."""
    site = tmp_path / "site-packages"
    info = site / "sttwatch_broken-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sttwatch-broken\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[sttwatch.probes]\n"
        "gone = nonexistent_module_of_sttwatch:PROBE\n"  # its module does not import
        "notakind = os:sep\n"  # loads, but is no ProbeType
    )
    return site


@pytest.mark.parametrize(
    ("probes", "code", "said"),
    [
        ({}, 0, "valid"),
        ({"gone": {}}, 2, "targets[0].probes.gone: unknown probe kind"),
    ],
    ids=["config-without-the-plugin", "config-using-the-plugin"],
)
def test_a_broken_plugin_is_left_out_with_a_warning_naming_it(
    tmp_path: Path, probes: dict[str, Any], code: int, said: str
) -> None:
    target = {"name": "t", "api_key": "k", "probes": {"reachability": {}, **probes}}
    config = write_config(tmp_path, config_doc(tmp_path, [target]))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_broken_plugins(tmp_path)), str(REPO)])}
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "check-config", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == code, done.stderr
    assert said in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    for name, why in (("gone", "cannot be loaded: ModuleNotFoundError"), ("notakind", "is not a")):
        assert f"ignoring the entry point {name} = " in done.stderr
        assert why in done.stderr
    assert "(package sttwatch-broken 0.1)" in done.stderr


async def test_lazy_run_imports_its_module_on_the_first_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lazy_probe_impl.py").write_text(
        "CALLS = []\n"
        "async def run(target, spec, ctx):\n"
        "    CALLS.append((target, spec, ctx))\n"
        "    return 'the result'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lazy_probe_impl", raising=False)
    run = lazy_run("lazy_probe_impl")
    assert "lazy_probe_impl" not in sys.modules
    assert await run("target", "spec", "ctx") == "the result"  # type: ignore[arg-type]
    assert sys.modules["lazy_probe_impl"].CALLS == [("target", "spec", "ctx")]
    assert "lazy_probe_impl" in run.__qualname__


def test_reading_the_registry_imports_no_probe_implementation() -> None:
    code = (
        "import sys\n"
        "from monitor.probes.registry import providers\n"
        "names = {n: [k.name for k in p.probes] for n, p in providers().items()}\n"
        "loaded = [f'monitor.providers.{n}.{k}' for n, ks in names.items() for k in ks\n"
        "          if f'monitor.providers.{n}.{k}' in sys.modules]\n"
        "print(sorted(names), loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
    )
    assert done.stdout.strip() == "['assemblyai', 'deepgram', 'openai'] []"
