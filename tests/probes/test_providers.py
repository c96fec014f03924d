"""A second provider, installed through the ``sttwatch.providers`` entry points.

Its kinds share AssemblyAI's names but not their phases, specs, error kinds,
page facts or test data (tests/support/providers.py): every consumer that has
a target in hand must read the kind of that target's provider.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.alerting import Alerter
from monitor.alerting.rules import DELETION_PROBE
from monitor.config import Config, ConfigError, parse_config
from monitor.metrics import Metrics
from monitor.models import ErrorKind, ProbeResult, Status
from monitor.probes import probe_type, probe_types, provider, providers
from monitor.probes.registry import PROVIDER_GROUP, implementation, key_latency, supported
from monitor.site import kinds
from monitor.store import Store
from tests.support.configs import config_doc, write_config
from tests.support.providers import SECOND, extra_provider, installed_entry_points

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def second(tmp_path: Path) -> Iterator[Path]:
    """Install the second provider for the test; yield its sys.path entry."""
    with extra_provider(tmp_path) as site:
        yield site


def two_targets(**second_target: Any) -> dict[str, Any]:
    return {
        "targets": [
            {"name": "aai", "api_key": "k1"},
            {"name": "two", "provider": "second", "api_key": "k2", **second_target},
        ]
    }


# The providers shipped with sttwatch (read before any test installs another).
BUILT_IN = [p.name for p in providers().values()]


def problems(raw: dict[str, Any], env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as err:
        parse_config(raw, env=env or {})
    return err.value.problems


@pytest.mark.usefixtures("second")
def test_a_provider_from_an_entry_point_comes_after_the_built_in_ones() -> None:
    assert list(providers()) == [*BUILT_IN, "second"]
    assert provider("second") is SECOND
    assert supported("second") == ["reachability", "transcription"]
    # Without a provider, a shared name is the first registered's kind.
    assert probe_type("transcription") is provider("assemblyai").probes[1]
    assert probe_type("transcription", "second") is SECOND.probes[1]
    assert implementation("second", "transcription") is SECOND.probes[1].run
    assert "streaming" not in probe_types("second")


def test_the_registry_forgets_the_provider_after_the_block(tmp_path: Path) -> None:
    with extra_provider(tmp_path):
        assert "second" in providers()
    assert "second" not in providers()


@pytest.mark.parametrize(
    ("entries", "warning"),
    [
        ({"gone": "nonexistent_module_of_sttwatch:PROVIDER"}, "it cannot be loaded"),
        ({"notaprovider": "os:sep"}, "it is not a monitor.probes.Provider"),
        ({"again": "monitor.providers.assemblyai:PROVIDER"}, "the name is taken"),
    ],
    ids=["import-fails", "not-a-provider", "name-taken"],
)
def test_a_broken_provider_entry_point_is_left_out_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, entries: dict[str, str], warning: str
) -> None:
    with (
        caplog.at_level(logging.WARNING, "monitor.probes.registry"),
        installed_entry_points(tmp_path, {PROVIDER_GROUP: entries}),
    ):
        assert list(providers()) == BUILT_IN
        parse_config({"targets": [{"name": "aai", "api_key": "k"}]}, env={})
    assert warning in caplog.text
    assert "sttwatch-test-plugin" in caplog.text or "the name is taken" in caplog.text


@pytest.mark.usefixtures("second")
@pytest.mark.parametrize(
    ("target", "path", "said"),
    [
        # AssemblyAI's setting on the second provider's kind, and the other way round.
        (
            {"probes": {"transcription": {"speech_models": ["best"]}}},
            "targets[1].probes.transcription.speech_models",
            "unknown key; allowed: interval, timeout, degraded_after, model",
        ),
        (
            {"probes": {"streaming": {}}},
            "targets[1].probes.streaming",
            "provider 'second' has no such probe kind; known: reachability, transcription",
        ),
        (
            {"probes": {"reachabilty": {}}},
            "targets[1].probes.reachabilty",
            "unknown probe kind (did you mean 'reachability'?)",
        ),
        ({"region": "us"}, "targets[1].region", "unknown region 'us' of second"),
    ],
    ids=["aai-key-on-second", "kind-it-lacks", "typo", "aai-region"],
)
def test_a_targets_probes_are_validated_against_its_providers_kinds(
    target: dict[str, Any], path: str, said: str
) -> None:
    found = dict(problems(two_targets(**target)))
    assert path in found, found
    assert found[path].startswith(said), found[path]


@pytest.mark.usefixtures("second")
def test_each_target_gets_its_providers_spec_defaults_and_endpoints() -> None:
    cfg = parse_config(two_targets(probes={"transcription": {"model": "second-2"}}), env={})
    aai, two = cfg.targets
    assert type(two.probes["transcription"]).__name__ == "SecondTranscriptionSpec"
    assert two.probes["transcription"].model == "second-2"  # type: ignore[attr-defined]
    assert two.api_base == "https://api.second.example"
    assert list(aai.probes) == ["reachability", "transcription", "streaming"]
    assert "speech_models" in type(aai.probes["transcription"]).model_fields
    cfg = parse_config(two_targets(), env={})
    assert list(cfg.targets[1].probes) == ["reachability", "transcription"]
    aai_with_model = {"name": "aai", "api_key": "k", "probes": {"transcription": {"model": "x"}}}
    found = dict(problems({"targets": [aai_with_model]}))
    assert found["targets[0].probes.transcription.model"].startswith("unknown key")


@pytest.mark.usefixtures("second")
@pytest.mark.parametrize(
    ("target", "env", "key"),
    [
        ({}, {"SECOND_API_KEY": "from-env"}, "from-env"),
        ({"region": "eu"}, {"SECOND_EU_API_KEY": "eu-env", "SECOND_API_KEY": "x"}, "eu-env"),
        ({"api_key": "given"}, {"SECOND_API_KEY": "from-env"}, "given"),
        ({"api_key": "${MY_KEY}"}, {"MY_KEY": "expanded", "SECOND_API_KEY": "x"}, "expanded"),
    ],
    ids=["provider-variable", "region-variable", "given-wins", "expanded"],
)
def test_a_targets_key_defaults_from_its_providers_variable(
    target: dict[str, Any], env: dict[str, str], key: str
) -> None:
    raw = {
        "targets": [
            {"name": "aai", "api_key": "k"},
            {"name": "two", "provider": "second", **target},
        ]
    }
    cfg = parse_config(raw, env=env)
    assert cfg.targets[1].api_key.get_secret_value() == key


@pytest.mark.usefixtures("second")
def test_without_a_key_or_its_variable_the_key_is_missing() -> None:
    raw = {"targets": [{"name": "aai"}, {"name": "two", "provider": "second"}]}
    found = dict(problems(raw, env={"SECOND_API_KEY": "only-second"}))
    assert found == {"targets[0].api_key": "required key is missing (or set ASSEMBLYAI_API_KEY)"}
    cfg = parse_config(raw, env={"ASSEMBLYAI_API_KEY": "a", "SECOND_API_KEY": "b"})
    assert [t.api_key.get_secret_value() for t in cfg.targets] == ["a", "b"]
    # A region with a variable of its own does not take the provider's (another account's) key.
    raw["targets"][1]["region"] = "eu"
    found = dict(problems(raw, env={"ASSEMBLYAI_API_KEY": "a", "SECOND_API_KEY": "b"}))
    assert found == {"targets[1].api_key": "required key is missing (or set SECOND_EU_API_KEY)"}


@pytest.mark.parametrize(
    ("name", "header"),
    [("assemblyai", "the-key"), ("second", "Token the-key")],
)
def test_each_provider_says_how_its_key_is_sent(second: Path, name: str, header: str) -> None:
    assert provider(name).auth_headers("the-key") == {"Authorization": header}


def result(target: str, probe: str, **kw: Any) -> ProbeResult:
    return ProbeResult(target, probe, T0, kw.pop("duration_s", 3.0), Status.UP, None, **kw)


@pytest.mark.usefixtures("second")
def test_metrics_carry_the_provider_and_export_its_own_phases_and_error_kinds() -> None:
    m = Metrics(parse_config(two_targets(), env={}))
    m.record(result("two", "transcription", phases={"post": 0.1, "transcribe": 2.0, "queued": 1}))
    m.record(result("aai", "transcription", phases={"queued": 1.0, "transcribe": 9.0}))
    get = m.registry.get_sample_value
    two = {"target": "two", "provider": "second", "probe": "transcription", "location": "local"}
    aai = {"target": "aai", "provider": "assemblyai", "probe": "transcription", "location": "local"}
    assert get("sttwatch_probe_phase_seconds", {**two, "phase": "transcribe"}) == 2.0
    # Each provider's kind exports its own phases only.
    assert get("sttwatch_probe_phase_seconds", {**two, "phase": "queued"}) is None
    assert get("sttwatch_probe_phase_seconds", {**aai, "phase": "queued"}) == 1.0
    assert get("sttwatch_probe_phase_seconds", {**aai, "phase": "transcribe"}) is None
    errors = "sttwatch_probe_errors_total"
    assert get(errors, {**two, "error_kind": "inaccurate"}) == 0.0
    assert get(errors, {**two, "error_kind": "deletion_failed"}) is None
    assert get(errors, {**aai, "error_kind": "deletion_failed"}) == 0.0
    assert (
        get(
            "sttwatch_deletions_pending",
            {"target": "two", "provider": "second", "location": "local"},
        )
        == 0.0
    )
    m.probe_skipped_run("two", "reachability")
    assert get("sttwatch_probe_skipped_total", {**two, "probe": "reachability"}) == 1.0


@pytest.mark.usefixtures("second")
def test_the_page_shows_each_providers_facts_and_note() -> None:
    rollup = None
    assert [f.key for f in kinds.facts("transcription", rollup, None, "second")] == [
        "transcribe",
        "wer",
    ]
    assert [f.key for f in kinds.facts("transcription", rollup, None, "assemblyai")] == [
        "queue",
        "processing",
        "wer",
    ]
    assert kinds.page_note("transcription", "second").startswith("Second keeps no transcript")
    assert kinds.page_note("transcription", "assemblyai") == ""
    assert not kinds.tracks_deletions(["reachability", "transcription"], "second")
    assert kinds.tracks_deletions(["reachability", "transcription"], "assemblyai")
    # What users see of a shared name is the same: label and impact.
    assert kinds.component_name("transcription") == "Transcription"
    assert kinds.incident_impact("reachability") == "critical"


@pytest.mark.usefixtures("second")
def test_key_latency_is_the_targets_providers_kinds() -> None:
    r = result("two", "transcription", phases={"post": 0.1, "transcribe": 2.0})
    assert key_latency(r, "second") == 2.0
    assert key_latency(r) == 3.0  # AssemblyAI's kind measured none of its parts: the duration


async def test_only_a_provider_whose_kinds_create_test_data_has_a_deletion_backlog(
    tmp_path: Path, second: Path
) -> None:
    raw = two_targets()
    raw["database"] = str(tmp_path / "sttwatch.db")
    config: Config = parse_config(raw, env={})
    store = await Store.open(config.database)
    alerter = Alerter(config, store, backlog_check_every=0)
    try:
        await alerter.check_backlog()
        watched = {(s.target, s.probe) for s in await store.alert_states()}
    finally:
        await store.close()
    assert watched == {("aai", DELETION_PROBE)}


def test_check_config_in_a_process_that_has_the_provider_installed(tmp_path: Path) -> None:
    target = {
        "name": "two",
        "provider": "second",
        "probes": {"transcription": {"speech_models": ["x"]}},
    }
    config = write_config(tmp_path, config_doc(tmp_path, [target]))
    with extra_provider(tmp_path) as site:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
            "SECOND_API_KEY": "k",
        }
        done = subprocess.run(
            [sys.executable, "-m", "monitor", "check-config", "-c", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    assert done.returncode == 2, done.stderr
    assert "targets[0].probes.transcription.speech_models: unknown key" in done.stderr
    assert "allowed: interval, timeout, degraded_after, model" in done.stderr
    assert ErrorKind.INTERNAL.value not in done.stderr
