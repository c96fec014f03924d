"""The configuration: valid files load with the documented defaults; every bad file fails
with a message naming the exact path, exits 2 from the CLI without a traceback, and
check-config never prints a secret."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from monitor.alert_urls import mask_url
from monitor.config import ConfigError, format_duration, load_config, parse_config, parse_duration
from monitor.providers.assemblyai.specs import TranscriptionSpec

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-live-7f3a9c2e11d04b6e"


def cfg(text: str, env: dict[str, str] | None = None) -> object:
    """Return the Config parsed from dedented YAML `text`."""
    return parse_config(yaml.safe_load(textwrap.dedent(text)), "test.yaml", env or {})


MINIMAL = f"""
targets:
  - name: us
    api_key: {KEY}
"""


def with_minimal(extra: str) -> str:
    """Return the minimal config followed by the dedented YAML `extra`."""
    return MINIMAL + textwrap.dedent(extra)


def test_minimal_config_gets_all_three_probes_with_documented_defaults() -> None:
    c = cfg(MINIMAL)
    t = c.targets[0]  # type: ignore[attr-defined]
    assert list(t.probes.enabled()) == ["reachability", "transcription", "streaming"]
    assert t.api_base == "https://api.assemblyai.com"
    assert t.streaming_base == "wss://streaming.assemblyai.com"
    assert t.probes.reachability.timeout == 10.0
    assert t.probes.transcription.max_wer == 0.25
    assert t.probes.transcription.speech_models == ["universal-2"]
    assert t.probes.streaming.degraded_after == 2.0
    assert c.alerts.failure_threshold == 2  # type: ignore[attr-defined]
    assert c.retention.raw == 30 * 86400  # type: ignore[attr-defined]
    assert t.label == "us"


def test_probe_omitted_under_probes_is_not_run_and_null_means_defaults() -> None:
    c = cfg(
        f"""
        targets:
          - name: us
            api_key: {KEY}
            probes:
              reachability:
              streaming: {{timeout: 5s, degraded_after: 1s}}
        """
    )
    probes = c.targets[0].probes  # type: ignore[attr-defined]
    assert list(probes.enabled()) == ["reachability", "streaming"]
    assert probes.reachability.timeout == 10.0
    assert probes.streaming.timeout == 5.0


def test_env_expansion_and_literal_dollar() -> None:
    c = cfg(
        """
        title: "Costs $$5"
        targets:
          - name: us
            api_key: ${K}
            api_base: http://${HOST}:8080/
        """,
        env={"K": KEY, "HOST": "127.0.0.1"},
    )
    t = c.targets[0]  # type: ignore[attr-defined]
    assert t.api_key.get_secret_value() == KEY
    assert t.api_base == "http://127.0.0.1:8080"
    assert c.title == "Costs $5"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("500ms", 0.5),
        ("60s", 60),
        ("2m", 120),
        ("1h", 3600),
        ("30d", 2592000),
        (45, 45),
        ("1.5s", 1.5),
        ("0", 0),
    ],
    ids=["ms", "s", "m", "h", "d", "number", "fraction", "zero"],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


# Each case: YAML body, the exact path the error must name, a fragment of its message.
INVALID = [
    ("missing-targets", "title: x\n", "targets", "required key is missing"),
    ("empty-targets", "targets: []\n", "targets", "at least 1 item"),
    (
        "unknown-top-level-key",
        f"databse: x.db\n{MINIMAL}",
        "databse",
        "unknown key (did you mean 'database'?)",
    ),
    (
        "unknown-probe-key",
        f"""
        targets:
          - name: us
            api_key: {KEY}
            probes:
              streaming: {{timout: 5s}}
        """,
        "targets[0].probes.streaming.timout",
        "did you mean 'timeout'?",
    ),
    (
        "bad-duration",
        f"""
        targets:
          - name: us
            api_key: {KEY}
            probes:
              reachability: {{timeout: 10 seconds}}
        """,
        "targets[0].probes.reachability.timeout",
        "not a duration: '10 seconds'",
    ),
    (
        "timeout-not-below-interval",
        f"""
        targets:
          - name: a
            api_key: {KEY}
          - name: b
            api_key: {KEY}
            probes:
              streaming: {{interval: 30s, timeout: 30s}}
        """,
        "targets[1].probes.streaming.timeout",
        "must be shorter than interval (30s)",
    ),
    (
        "degraded-after-not-below-timeout",
        f"""
        targets:
          - name: a
            api_key: {KEY}
            probes:
              reachability: {{timeout: 2s, degraded_after: 3s}}
        """,
        "targets[0].probes.reachability.degraded_after",
        "must be shorter than timeout (2s)",
    ),
    (
        "duplicate-target",
        f"""
        targets:
          - name: us
            api_key: {KEY}
          - name: us
            api_key: {KEY}
        """,
        "targets[1].name",
        "duplicate target name 'us' (also targets[0])",
    ),
    (
        "bad-slug",
        f"targets:\n  - name: US East\n    api_key: {KEY}\n",
        "targets[0].name",
        "must be a slug",
    ),
    (
        "ftp-api-base",
        f"targets:\n  - name: us\n    api_key: {KEY}\n    api_base: ftp://example.com\n",
        "targets[0].api_base",
        "must be a http/https URL",
    ),
    (
        "https-streaming-base",
        f"targets:\n  - name: us\n    api_key: {KEY}\n    streaming_base: https://example.com\n",
        "targets[0].streaming_base",
        "must be a ws/wss URL",
    ),
    (
        "missing-env-var",
        "targets:\n  - name: us\n    api_key: ${NOPE_NOT_SET}\n",
        "targets[0].api_key",
        "environment variable NOPE_NOT_SET is not set",
    ),
    (
        "empty-api-key",
        "targets:\n  - name: us\n    api_key: ''\n",
        "targets[0].api_key",
        "must not be empty",
    ),
    (
        "missing-api-key",
        "targets:\n  - name: us\n",
        "targets[0].api_key",
        "required key is missing",
    ),
    (
        "max-wer-out-of-range",
        f"""
        targets:
          - name: us
            api_key: {KEY}
            probes:
              transcription: {{max_wer: 1.5}}
        """,
        "targets[0].probes.transcription.max_wer",
        "less than or equal to 1",
    ),
    (
        "audio-url-without-reference",
        f"""
        targets:
          - name: us
            api_key: {KEY}
            probes:
              transcription: {{audio_url: "https://example.com/a.wav"}}
        """,
        "targets[0].probes.transcription.reference_text",
        "required when audio_url is set",
    ),
    (
        "frame-too-short",
        f"""
        targets:
          - name: us
            api_key: {KEY}
            probes:
              streaming: {{frame_ms: 20}}
        """,
        "targets[0].probes.streaming.frame_ms",
        "greater than or equal to 50",
    ),
    (
        "bad-listen",
        f"listen: localhost\n{MINIMAL}",
        "listen",
        "must be HOST:PORT",
    ),
    (
        "bad-alert-threshold",
        f"alerts: {{failure_threshold: 0}}\n{MINIMAL}",
        "alerts.failure_threshold",
        "greater than or equal to 1",
    ),
    (
        "alert-url-without-scheme",
        f"alerts: {{urls: ['hooks.slack.com/x']}}\n{MINIMAL}",
        "alerts.urls[0]",
        "not an Apprise URL",
    ),
    (
        "maintenance-unknown-target",
        with_minimal(
            """
            maintenance:
              - targets: [eu]
                start: 2026-01-01T00:00:00Z
                duration: 1h
            """
        ),
        "maintenance[0].targets[0]",
        "no target named 'eu'",
    ),
    (
        "maintenance-bad-timezone",
        with_minimal(
            """
            maintenance:
              - every: day
                at: "03:00"
                duration: 1h
                timezone: Mars/Olympus
            """
        ),
        "maintenance[0].timezone",
        "unknown time zone 'Mars/Olympus'",
    ),
    (
        "maintenance-end-and-duration",
        with_minimal(
            """
            maintenance:
              - start: 2026-01-01T00:00:00Z
                end: 2026-01-01T01:00:00Z
                duration: 1h
            """
        ),
        "maintenance[0].end",
        "exactly one of end or duration",
    ),
    ("not-a-mapping", "- just\n- a list\n", "", "must be a YAML mapping"),
]


@pytest.mark.parametrize(
    ("body", "path", "fragment"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_config_names_the_path(body: str, path: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        cfg(body)
    problems = dict(info.value.problems)
    assert path in problems, f"expected an error at {path!r}, got {info.value.problems}"
    assert fragment in problems[path], problems[path]
    rendered = info.value.render()
    assert f"{path}: " in rendered if path else fragment in rendered


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ("targets:\n  - name: us\n    api_key: 424242424242\n", "targets[0].api_key"),
        ("targets:\n  - name: us\n    api_key: [sk-424242424242]\n", "targets[0].api_key"),
        (MINIMAL + "alerts:\n  urls: json://host/424242424242?token=424242424242\n", "alerts.urls"),
        (MINIMAL + "alerts:\n  urls: [424242424242]\n", "alerts.urls[0]"),
    ],
    ids=["key-not-a-string", "key-a-list", "urls-not-a-list", "url-not-a-string"],
)
def test_a_badly_typed_secret_is_named_but_not_echoed(body: str, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        cfg(body)
    assert path in dict(info.value.problems)
    assert "424242424242" not in info.value.render()


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("targets:\n  - name: us\n    api_key: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert "line 4" in info.value.render() or "line 3" in info.value.render()
    assert "not valid YAML" in info.value.render()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def _run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        cwd=REPO,
    )


def test_cli_bad_config_exits_2_with_path_and_no_traceback(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(
        f"targets:\n  - name: us\n    api_key: {KEY}\n    probes:\n"
        "      streaming: {interval: 10s, timeout: 20s}\n"
    )
    out = _run_cli("check-config", "-c", str(p))
    assert out.returncode == 2
    assert "targets[0].probes.streaming.timeout" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert KEY not in out.stderr + out.stdout


def test_check_config_masks_every_secret(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(
        textwrap.dedent(
            """
            targets:
              - name: us
                api_key: ${THE_KEY}
            alerts:
              urls:
                - "mailtos://alerts:Sup3rS3cretPw@mail.example.com?to=ops@example.com"
                - "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
                - "json://hooks.example.com/path?token=tok_9b8a7c6d5e4f"
            """
        )
    )
    out = _run_cli("check-config", "-c", str(p), env={"THE_KEY": KEY})
    assert out.returncode == 0, out.stderr
    for secret in (KEY, "Sup3rS3cretPw", "TIiajkdnlazkcOXrIdevi7FQ", "tok_9b8a7c6d5e4f"):
        assert secret not in out.stdout, f"{secret} leaked into check-config output"
    assert "name: us" in out.stdout
    assert "mail.example.com" in out.stdout  # masked, not dropped


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (
            "slakc://T000/B000/XXXX",
            "Apprise does not know the scheme 'slakc' (did you mean 'slack'?)",
        ),
        (
            "critical=slakc://T000/B000/XXXX",
            "Apprise does not know the scheme 'slakc' (did you mean 'slack'?)",
        ),
        ("zzqqxx://host/x", "Apprise does not know the scheme 'zzqqxx'"),
        (
            "https://example.com/hook",
            "Apprise does not know the scheme 'https' "
            "(for a plain webhook use json://, form:// or xml://)",
        ),
        ("json://", "Apprise cannot parse this JSON URL (missing or malformed parts)"),
        (
            "slack://xx",
            "Apprise cannot use this Slack URL: "
            "An invalid Slack (second) Token (None) was specified.",
        ),
        (
            "slack://Sup3r!S3cret/B/C",
            "Apprise cannot use this Slack URL: "
            "An invalid Slack (first) Token (****) was specified.",
        ),
    ],
    ids=[
        "unknown-scheme-did-you-mean",
        "tagged-entry",
        "unknown-scheme-no-hint",
        "plain-https",
        "known-unparseable",
        "known-missing-token",
        "known-bad-token-masked",
    ],
)
def test_alert_urls_are_checked_with_apprises_own_parsing(entry: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        cfg(f"alerts: {{urls: ['json://127.0.0.1:9/ok', '{entry}']}}\n{MINIMAL}")
    assert err.value.problems == [("alerts.urls[1]", problem)]


@pytest.mark.parametrize(
    "url",
    [
        "json://127.0.0.1:9/hook",
        "critical, pager=json://127.0.0.1:9/hook",
        "mailtos://alerts:pw@mail.example.com?to=ops@example.com",
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
        "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
    ],
    ids=["json", "tagged", "mailtos", "slack", "slack-native-url"],
)
def test_alert_urls_apprise_can_use_are_accepted(url: str) -> None:
    assert cfg(f"alerts: {{urls: ['{url}']}}\n{MINIMAL}").alerts.urls == [url]  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_a_mistyped_alert_url_is_refused_by_check_config_and_run(
    tmp_path: Path, command: str
) -> None:
    p = tmp_path / "c.yaml"
    db = tmp_path / "sttwatch.db"
    p.write_text(
        f"database: {db}\nsite_dir: {tmp_path / 'site'}\nlisten: 127.0.0.1:0\n{MINIMAL}"
        "alerts:\n  urls: ['slakc://T000/B000/Sup3rS3cretXX', 'slack://Sup3r!S3cret/B/C']\n"
    )
    p.chmod(0o600)
    out = _run_cli(command, "-c", str(p))
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.splitlines()[1:] == [
        "  alerts.urls[0]: Apprise does not know the scheme 'slakc' (did you mean 'slack'?)",
        "  alerts.urls[1]: Apprise cannot use this Slack URL: "
        "An invalid Slack (first) Token (****) was specified.",
    ]
    assert "S3cret" not in out.stdout + out.stderr
    assert sorted(tmp_path.iterdir()) == [p]  # run refused before creating anything


@pytest.mark.parametrize(
    ("name", "body", "place"),
    [
        (
            "apprise.txt",
            "json://127.0.0.1:9/ok\n# a comment\ncritical=slakc://T000/B000/XXXX\n",
            "line 3",
        ),
        (
            "apprise.yml",
            "urls:\n  - json://127.0.0.1:9/ok\n  - slakc://T000/B000/XXXX:\n      tag: x\n",
            "urls[1]",
        ),
    ],
    ids=["text-format", "yaml-format"],
)
@pytest.mark.parametrize("command", ["check-config", "run"])
def test_a_mistyped_url_in_the_apprise_config_file_is_refused_too(
    tmp_path: Path, command: str, name: str, body: str, place: str
) -> None:
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    conf = conf_dir / name
    conf.write_text(body)
    work = tmp_path / "work"
    work.mkdir()
    p = work / "c.yaml"
    p.write_text(
        f"database: {work / 'sttwatch.db'}\nsite_dir: {work / 'site'}\nlisten: 127.0.0.1:0\n"
        f"{MINIMAL}alerts:\n  config: {conf}\n"
    )
    p.chmod(0o600)
    out = _run_cli(command, "-c", str(p))
    assert out.returncode == 2, out.stdout + out.stderr
    sep = "," if place.startswith("line") else ":"
    assert out.stderr.splitlines()[1:] == [
        f"  alerts.config ({conf}{sep} {place}): "
        "Apprise does not know the scheme 'slakc' (did you mean 'slack'?)"
    ]
    assert sorted(work.iterdir()) == [p]  # run refused before creating anything


@pytest.mark.parametrize(
    "url",
    [
        "mailto://user:hunter2hunter2@example.com",
        "json://example.com/hook?token=abcdef123456",
        "https://user:p4ssw0rd99@example.com/x",
    ],
    ids=["mailto-password", "json-token", "https-userinfo"],
)
def test_mask_url_hides_credentials(url: str) -> None:
    masked = mask_url(url)
    for secret in ("hunter2hunter2", "abcdef123456", "p4ssw0rd99"):
        assert secret not in masked
    assert "example.com" in masked


def test_example_config_is_valid_and_documents_every_key() -> None:
    example = REPO / "sttwatch.example.yaml"
    keys = ("ASSEMBLYAI_API_KEY", "OPENAI_API_KEY", "GROQ_API_KEY", "DEEPGRAM_API_KEY")
    c = load_config(example, env=dict.fromkeys(keys, KEY))
    text = example.read_text()
    # Every key a user can set appears (set or commented) in the example.
    for name in TranscriptionSpec.model_fields:
        assert f"{name}:" in text, f"sttwatch.example.yaml does not document {name}"
    for section in ("retention:", "alerts:", "maintenance:", "public_url:"):
        assert section in text
    providers = [t.provider for t in c.targets]
    assert providers == ["assemblyai", "assemblyai", "openai", "openai", "deepgram"]
