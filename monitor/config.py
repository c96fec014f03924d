"""The YAML configuration: loading, ``${ENV}`` expansion, validation, masking.

Every default lives in the pydantic models below and nowhere else. Errors are
collected as :class:`ConfigError` whose lines name the exact path of the bad
value (``targets[1].probes.streaming.timeout: ...``) so the CLI can print them
and exit 2 without a traceback.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    ValidationError,
    field_validator,
)

from monitor.redaction import MASK

__all__ = [
    "AlertsConfig",
    "Config",
    "ConfigError",
    "MaintenanceWindow",
    "ReachabilitySpec",
    "StreamingSpec",
    "Target",
    "TranscriptionSpec",
    "apprise_url_problem",
    "format_duration",
    "load_config",
    "parse_config",
    "parse_duration",
    "split_tags",
]

# ---------------------------------------------------------------------------
# Durations

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Return `value` ("500ms", "60s", "2m", "1h", "30d" or a number) in seconds."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    else:
        raise ValueError(
            f"not a duration: {value!r} (use 500ms, 60s, 2m, 1h, 30d or a number of seconds)"
        )
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Return the shortest exact spelling of `seconds` ("60s", "2m", "500ms")."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    if seconds == 0:
        return "0s"
    if (seconds * 1000).is_integer():
        return f"{int(seconds * 1000)}ms"
    return f"{seconds}s"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]


# ---------------------------------------------------------------------------
# Models


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class _ProbeSpec(_Strict):
    interval: Duration = 60.0
    timeout: Duration
    degraded_after: Duration

    @field_validator("interval")
    @classmethod
    def _interval_positive(cls, v: float) -> float:
        if v < 1:
            raise ValueError("interval must be at least 1s")
        return v

    @field_validator("timeout")
    @classmethod
    def _timeout_positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("timeout must be greater than 0")
        return v


class ReachabilitySpec(_ProbeSpec):
    """The authenticated GET of the transcript list, timed by phase."""

    timeout: Duration = 10.0
    degraded_after: Duration = 2.0
    max_body_bytes: int = Field(default=1_048_576, ge=1024)


class TranscriptionSpec(_ProbeSpec):
    """Upload, transcribe, verify, delete and confirm the deletion of the probe clip."""

    # 55 s, not the 120 s of the first sketch: a run must end before the next one is due.
    timeout: Duration = 55.0
    degraded_after: Duration = 30.0
    max_wer: float = Field(default=0.25, ge=0.0, le=1.0)
    speech_models: list[str] = Field(default_factory=lambda: ["universal-2"], min_length=1)
    language_code: str = "en_us"
    audio_url: str | None = None
    reference_text: str | None = None
    poll_interval: Duration = 0.5
    poll_max_interval: Duration = 3.0

    @field_validator("audio_url")
    @classmethod
    def _audio_url_http(cls, v: str | None) -> str | None:
        if v is not None and urlsplit(v).scheme not in ("http", "https"):
            raise ValueError(f"must be an http(s) URL, got {v!r}")
        return v


class StreamingSpec(_ProbeSpec):
    """One v3 streaming session with the probe clip sent at real-time pace."""

    timeout: Duration = 30.0
    degraded_after: Duration = 2.0
    max_wer: float = Field(default=0.35, ge=0.0, le=1.0)
    speech_model: str = "universal-streaming-english"
    auth: Literal["key", "token"] = "key"
    frame_ms: int = Field(default=50, ge=50, le=100)


class Probes(_Strict):
    """Which probes a target runs; an omitted probe is not run."""

    reachability: ReachabilitySpec | None = None
    transcription: TranscriptionSpec | None = None
    streaming: StreamingSpec | None = None

    def enabled(self) -> dict[str, ReachabilitySpec | TranscriptionSpec | StreamingSpec]:
        """Return the configured probe specs by probe name, in a fixed order."""
        out: dict[str, ReachabilitySpec | TranscriptionSpec | StreamingSpec] = {}
        for name in ("reachability", "transcription", "streaming"):
            spec = getattr(self, name)
            if spec is not None:
                out[name] = spec
        return out


_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def _base_url(schemes: tuple[str, ...]) -> Any:
    def check(v: Any) -> Any:
        if not isinstance(v, str):
            return v
        parts = urlsplit(v)
        if parts.scheme not in schemes or not parts.hostname:
            raise ValueError(f"must be a {'/'.join(schemes)} URL with a host, got {v!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"must not carry a query or fragment, got {v!r}")
        return v.rstrip("/")

    return BeforeValidator(check)


class Target(_Strict):
    """One speech API endpoint set (a provider in one region, with one key)."""

    name: str
    display_name: str | None = None
    provider: Literal["assemblyai"] = "assemblyai"
    api_base: Annotated[str, _base_url(("http", "https"))] = "https://api.assemblyai.com"
    streaming_base: Annotated[str, _base_url(("ws", "wss"))] = "wss://streaming.assemblyai.com"
    api_key: SecretStr
    probes: Probes = Field(
        default_factory=lambda: Probes(
            reachability=ReachabilitySpec(),
            transcription=TranscriptionSpec(),
            streaming=StreamingSpec(),
        )
    )

    @field_validator("name")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not _SLUG.match(v):
            raise ValueError(f"must be a slug of lower-case letters, digits and dashes, got {v!r}")
        return v

    @field_validator("api_key")
    @classmethod
    def _key_present(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().strip():
            raise ValueError("must not be empty")
        return v

    @property
    def label(self) -> str:
        """Return the human name of the target."""
        return self.display_name or self.name


class AlertsConfig(_Strict):
    """Where and when alerts go (Apprise URLs, thresholds, reminders)."""

    urls: list[str] = Field(default_factory=list)
    config: str | None = None
    failure_threshold: int = Field(default=2, ge=1)
    success_threshold: int = Field(default=2, ge=1)
    degraded_threshold: int = Field(default=3, ge=0)
    reminder_every: Duration = 3600.0
    deletion_backlog_after: Duration = 3600.0
    give_up_after: Duration = 86400.0
    # /healthz turns degraded once deliveries have failed this long with none succeeding.
    degrade_health_after: Duration = 900.0
    send_resolved: bool = True


_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class MaintenanceWindow(_Strict):
    """A planned window: no alerts, components show ``under_maintenance``."""

    title: str = "Scheduled maintenance"
    targets: list[str] | None = None
    probes: list[Literal["reachability", "transcription", "streaming"]] | None = None
    start: datetime | None = None
    end: datetime | None = None
    every: (
        Literal["day", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
        | None
    ) = None
    at: str | None = None
    duration: Duration | None = None
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @field_validator("at")
    @classmethod
    def _hhmm(cls, v: str | None) -> str | None:
        if v is not None and not _HHMM.match(v):
            raise ValueError(f"must be HH:MM (24 h), got {v!r}")
        return v

    @property
    def at_time(self) -> time | None:
        """Return the daily/weekly start time, if the window recurs."""
        if self.at is None:
            return None
        h, m = self.at.split(":")
        return time(int(h), int(m))


class Retention(_Strict):
    """How long each table keeps rows."""

    raw: Duration = 30 * 86400.0
    hourly: Duration = 90 * 86400.0
    daily: Duration = 400 * 86400.0


class Config(_Strict):
    """The whole sttwatch configuration."""

    database: str = "sttwatch.db"
    site_dir: str = "site"
    listen: str = "127.0.0.1:8080"
    title: str = "Speech API status"
    public_url: str | None = None
    retention: Retention = Field(default_factory=Retention)
    targets: list[Target] = Field(min_length=1)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"must be HOST:PORT with a port from 0 to 65535, got {v!r}")
        return v

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str | None) -> str | None:
        if v is not None and urlsplit(v).scheme not in ("http", "https", "file"):
            raise ValueError(f"must be an http(s) URL, got {v!r}")
        return v

    @property
    def listen_host(self) -> str:
        """Return the host part of `listen` (brackets of an IPv6 literal removed)."""
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def listen_port(self) -> int:
        """Return the port part of `listen`."""
        return int(self.listen.rpartition(":")[2])

    def target(self, name: str) -> Target:
        """Return the target called `name` (KeyError if there is none)."""
        for t in self.targets:
            if t.name == name:
                return t
        raise KeyError(name)

    def secrets(self) -> list[str]:
        """Return every secret value in the config (for leak scans and log redaction)."""
        out = [t.api_key.get_secret_value() for t in self.targets]
        for url in self.alerts.urls:
            out.extend(_url_secrets(url))
        return [s for s in out if s]

    def masked(self) -> dict[str, Any]:
        """Return the resolved config as plain data with every secret masked."""
        data = self.model_dump(mode="json", exclude_none=True)
        for t in data["targets"]:
            t["api_key"] = MASK
        data["alerts"]["urls"] = [mask_url(u) for u in self.alerts.urls]
        return data


# ---------------------------------------------------------------------------
# Secrets in URLs


def _url_secrets(url: str) -> list[str]:
    """Return the parts of an Apprise URL that are secret (password, tokens, query keys)."""
    parts = urlsplit(url)
    found: list[str] = []
    if parts.password:
        found.append(parts.password)
    if parts.username and parts.password is None and parts.scheme not in ("mailto", "mailtos"):
        found.append(parts.username)
    for seg in parts.path.split("/"):
        if len(seg) >= 8:
            found.append(seg)
    token_hosts = ("slack", "discord", "msteams", "tgram", "pushover", "ntfy", "gotify")
    if parts.scheme in token_hosts and parts.hostname and len(parts.hostname) >= 8:
        found.append(parts.hostname)
    for pair in parts.query.split("&"):
        key, _, val = pair.partition("=")
        if val and any(w in key.lower() for w in ("pass", "token", "key", "secret", "pw")):
            found.append(val)
    return found


def mask_url(url: str) -> str:
    """Return `url` with its credentials masked, as Apprise's privacy mode would show it."""
    try:
        import apprise

        obj = apprise.Apprise.instantiate(url, suppress_exceptions=True)
        masked = str(obj.url(privacy=True)) if obj is not None else url  # type: ignore[no-untyped-call]
    except Exception:  # masking must never fail: fall back to our own below
        masked = url
    # Apprise's privacy mode leaves some secrets readable (a json:// URL's
    # "-token=..." GET parameter), so ours are masked as well, raw or encoded.
    for secret in sorted(_url_secrets(url), key=len, reverse=True):
        for form in {secret, quote(secret, safe="")}:
            masked = masked.replace(form, MASK)
    return masked


# ---------------------------------------------------------------------------
# Alert URLs, as Apprise reads them

# "critical, pager=pagerduty://…": Apprise's own TEXT-config spelling of tags.
_TAGGED = re.compile(
    r"^\s*(?P<tags>[A-Za-z0-9][A-Za-z0-9_\-, ]*?)\s*=\s*(?P<url>[A-Za-z0-9+.\-]+://.*)$"
)
# The pieces of a URL an Apprise error message may repeat (tokens, user names, hosts).
_URL_PIECE = re.compile(r"[^/:@?&=#,;%+\s.()]{3,}")


def split_tags(entry: str) -> tuple[frozenset[str], str]:
    """Return (tags, url) for an ``alerts.urls`` entry: ``"tag1, tag2=scheme://…"`` or a URL."""
    m = _TAGGED.match(entry)
    if m is None:
        return frozenset(), entry.strip()
    tags = frozenset(t.strip().lower() for t in m.group("tags").split(",") if t.strip())
    return tags, m.group("url").strip()


def _masked_reason(reason: str, url: str) -> str:
    """Return Apprise's `reason` with every piece of `url` after its scheme masked."""
    for piece in sorted(set(_URL_PIECE.findall(url.partition("://")[2])), key=len, reverse=True):
        reason = reason.replace(piece, MASK)
    return reason


def apprise_url_problem(url: str) -> str | None:
    """Return why Apprise cannot use `url`, or None when it can.

    Offline: Apprise's own parsing and its service's constructor, exactly what
    sending will do first, without sending anything. The URL itself is not
    repeated (the caller names its place) and Apprise's reason has every piece
    of it masked, so no secret is echoed.
    """
    if "://" not in url:
        return "not an Apprise URL (expected scheme://...)"
    import logging

    from apprise import AppriseAsset
    from apprise.manager_plugins import NotificationManager
    from apprise.plugins import url_to_dict

    # Apprise's registry of its services (one shared instance).
    services = NotificationManager()  # type: ignore[no-untyped-call]
    scheme = url.partition("://")[0].strip().lower()
    quiet = logging.getLogger("apprise")
    was_disabled, quiet.disabled = quiet.disabled, True  # its ERROR lines would repeat ours
    try:
        # Also the services' own URLs (https://hooks.slack.com/…), as Apprise accepts them.
        parsed = url_to_dict(url)  # type: ignore[no-untyped-call]
        if parsed is None:
            if scheme not in services:
                known = list(services.schemas())  # type: ignore[no-untyped-call]
                hint = difflib.get_close_matches(scheme, known, n=1)
                mean = f" (did you mean {hint[0]!r}?)" if hint else ""
                if scheme in ("http", "https"):  # a plain webhook is json://, form:// or xml://
                    mean = " (for a plain webhook use json://, form:// or xml://)"
                return f"Apprise does not know the scheme {scheme!r}{mean}"
            name = services[scheme].service_name
            return f"Apprise cannot parse this {name} URL (missing or malformed parts)"
        service = services[parsed["schema"]]
        name = service.service_name
        if not service.enabled:
            return f"Apprise's {name} service ({parsed['schema']}://) is disabled on this system"
        try:
            # The constructor checks the parts (token lengths, required fields); a memory-only
            # asset, so checking a URL writes nothing to disk.
            service(**parsed, asset=AppriseAsset(storage_mode="memory"))
        except Exception as exc:  # Apprise raises TypeError or its own error types
            reason = _masked_reason(str(exc).strip() or type(exc).__name__, url)
            return f"Apprise cannot use this {name} URL: {reason}"
    finally:
        quiet.disabled = was_disabled
    return None


# ---------------------------------------------------------------------------
# Loading


class ConfigError(Exception):
    """A configuration that cannot be used; `problems` are ``(path, message)`` pairs."""

    def __init__(self, source: str, problems: Iterable[tuple[str, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        """Return the error as lines a person can act on."""
        lines = [f"invalid configuration in {self.source}:"]
        for path, msg in self.problems:
            lines.append(f"  {path}: {msg}" if path else f"  {msg}")
        return "\n".join(lines)


_ENV = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_env(
    node: Any,
    path: str,
    env: dict[str, str],
    problems: list[tuple[str, str]],
    keep_unset: bool = False,
) -> Any:
    """Return `node` with ``${VAR}`` replaced from `env`; an unset one is a problem.

    With `keep_unset` an unset variable stays as written instead (a part of the
    file the command does not use).
    """
    if isinstance(node, str):

        def sub(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            name = m.group(1)
            if name not in env:
                if keep_unset:
                    return m.group(0)
                problems.append((path, f"environment variable {name} is not set"))
                return ""
            return env[name]

        return _ENV.sub(sub, node)
    if isinstance(node, list):
        return [
            _expand_env(v, f"{path}[{i}]", env, problems, keep_unset) for i, v in enumerate(node)
        ]
    if isinstance(node, dict):
        return {
            k: _expand_env(v, f"{path}.{k}" if path else str(k), env, problems, keep_unset)
            for k, v in node.items()
        }
    return node


def _loc_to_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """Return the model class that owns the last key of `loc`, for did-you-mean hints."""
    import typing

    model: Any = Config
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        ann = field.annotation
        candidates = [ann, *typing.get_args(ann)]
        nxt = None
        for c in candidates:
            for cc in [c, *typing.get_args(c)]:
                if isinstance(cc, type) and issubclass(cc, BaseModel):
                    nxt = cc
        if nxt is None:
            return None
        model = nxt
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _friendly(err: Any) -> tuple[str, str]:
    loc = tuple(err["loc"])
    path = _loc_to_path(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        owner = _model_at(loc)
        msg = "unknown key"
        if owner is not None:
            allowed = list(owner.model_fields)
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            msg += f" (did you mean {close[0]!r}?)" if close else ""
            msg += f"; allowed: {', '.join(allowed)}"
        return path, msg
    if kind == "missing":
        return path, "required key is missing"
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ")
    if (
        "input" in err
        and kind not in ("value_error",)
        and not isinstance(err["input"], dict)
        and not _holds_secret(loc)
    ):
        msg += f" (got {err['input']!r})"
    return path, msg


def _holds_secret(loc: tuple[int | str, ...]) -> bool:
    """Return True for the paths whose bad value must not be echoed (rule 4: keys, URLs)."""
    return "api_key" in loc or loc[:2] == ("alerts", "urls")


def _semantic_checks(cfg: Config) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for i, t in enumerate(cfg.targets):
        if t.name in seen:
            problems.append(
                (
                    f"targets[{i}].name",
                    f"duplicate target name {t.name!r} (also targets[{seen[t.name]}])",
                )
            )
        seen.setdefault(t.name, i)
        for pname, spec in t.probes.enabled().items():
            base = f"targets[{i}].probes.{pname}"
            if spec.timeout >= spec.interval:
                problems.append(
                    (
                        f"{base}.timeout",
                        f"timeout ({format_duration(spec.timeout)}) must be shorter than "
                        f"interval ({format_duration(spec.interval)}): a run must end before the "
                        "next one is due",
                    )
                )
            if spec.degraded_after >= spec.timeout:
                problems.append(
                    (
                        f"{base}.degraded_after",
                        f"degraded_after ({format_duration(spec.degraded_after)}) must be "
                        f"shorter than timeout ({format_duration(spec.timeout)})",
                    )
                )
            if isinstance(spec, TranscriptionSpec):
                if spec.audio_url and not spec.reference_text:
                    problems.append(
                        (
                            f"{base}.reference_text",
                            "required when audio_url is set "
                            "(the words spoken in your clip, to compute the word error rate)",
                        )
                    )
                if spec.poll_max_interval < spec.poll_interval:
                    problems.append(
                        (f"{base}.poll_max_interval", "must not be shorter than poll_interval")
                    )
        if not t.probes.enabled():
            problems.append((f"targets[{i}].probes", "no probe configured for this target"))
    names = set(seen)
    for i, w in enumerate(cfg.maintenance):
        base = f"maintenance[{i}]"
        for j, name in enumerate(w.targets or []):
            if name not in names:
                problems.append((f"{base}.targets[{j}]", f"no target named {name!r}"))
        if w.every is None:
            if w.start is None:
                problems.append(
                    (f"{base}.start", "required for a one-off window (or set every/at)")
                )
            if (w.end is None) == (w.duration is None):
                problems.append((f"{base}.end", "give exactly one of end or duration"))
            if w.start and w.end and w.end <= w.start:
                problems.append((f"{base}.end", "must be after start"))
        else:
            if w.at is None:
                problems.append((f"{base}.at", "required with every (HH:MM)"))
            if w.duration is None:
                problems.append((f"{base}.duration", "required with every"))
    if cfg.alerts.config is not None and not Path(cfg.alerts.config).is_file():
        problems.append(("alerts.config", f"file not found: {cfg.alerts.config}"))
    for i, entry in enumerate(cfg.alerts.urls):
        problem = apprise_url_problem(split_tags(entry)[1])
        if problem is not None:
            problems.append((f"alerts.urls[{i}]", problem))
    return problems


def _fix_enabled_nulls(raw: Any) -> Any:
    """Let ``probes: {reachability: }`` (YAML null) mean "this probe, with defaults"."""
    if isinstance(raw, dict):
        for t in raw.get("targets") or []:
            probes = t.get("probes") if isinstance(t, dict) else None
            if isinstance(probes, dict):
                for k in ("reachability", "transcription", "streaming"):
                    if k in probes and probes[k] is None:
                        probes[k] = {}
    return raw


def parse_config(
    raw: Any,
    source: str = "<config>",
    env: dict[str, str] | None = None,
    *,
    alerts_only: bool = False,
) -> Config:
    """Return the validated Config for already-parsed YAML data `raw`, or raise ConfigError.

    `alerts_only` (``test-alert``): only the ``alerts`` section's ``${VAR}`` must be
    set; one elsewhere (a target's API key) is left as written, since nothing uses it.
    """
    if not isinstance(raw, dict):
        raise ConfigError(source, [("", "the file must be a YAML mapping at the top level")])
    problems: list[tuple[str, str]] = []
    values = dict(os.environ) if env is None else env
    expanded = {
        k: _expand_env(v, str(k), values, problems, keep_unset=alerts_only and k != "alerts")
        for k, v in raw.items()
    }
    if problems:
        raise ConfigError(source, problems)
    expanded = _fix_enabled_nulls(expanded)
    try:
        cfg = Config.model_validate(expanded)
    except ValidationError as exc:
        raise ConfigError(source, [_friendly(e) for e in exc.errors()]) from None
    problems = _semantic_checks(cfg)
    if problems:
        raise ConfigError(source, problems)
    return cfg


# libyaml's loader is ten times faster than PyYAML's pure-Python one (a 1,000-target
# config: 1.1 s -> 0.11 s); it ships in the PyPI and Debian wheels, but fall back if absent.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml_load(text: str) -> Any:
    """Return the data of the YAML document `text` (safe subset only)."""
    return yaml.load(text, Loader=_SafeLoader)  # a SafeLoader, C or Python: safe subset only


def _literal_secret_paths(raw: Any) -> list[str]:
    """Return the paths of secrets written into the file itself rather than taken from ${ENV}."""
    found: list[str] = []
    if not isinstance(raw, dict):
        return found
    for i, t in enumerate(raw.get("targets") or []):
        key = t.get("api_key") if isinstance(t, dict) else None
        if isinstance(key, str) and key.strip() and "${" not in key:
            found.append(f"targets[{i}].api_key")
    alerts = raw.get("alerts")
    urls = alerts.get("urls") if isinstance(alerts, dict) else None
    for i, url in enumerate(urls or []):
        if isinstance(url, str) and "${" not in url and _url_secrets(url):
            found.append(f"alerts.urls[{i}]")
    return found


def permission_warnings(path: str | os.PathLike[str]) -> list[str]:
    """Return warnings for a config file that holds literal secrets and others can read."""
    p = Path(path)
    try:
        mode = p.stat().st_mode
        # A private file needs no warning: decide that before reading it a second time.
        if not mode & 0o044:
            return []
        raw = _yaml_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    secrets = _literal_secret_paths(raw)
    if not secrets:
        return []
    who = "other users" if mode & 0o004 else "its group"
    return [
        f"{p} holds secrets ({', '.join(secrets)}) and is readable by {who} "
        f"(mode {mode & 0o777:04o}); fix: chmod 600 {p}, or move the secrets into "
        "environment variables (${VAR})"
    ]


def load_config(
    path: str | os.PathLike[str], env: dict[str, str] | None = None, *, alerts_only: bool = False
) -> Config:
    """Return the validated Config read from the YAML file at `path`, or raise ConfigError.

    `alerts_only`: as for :func:`parse_config`.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, [("", "file not found")]) from None
    except OSError as exc:
        raise ConfigError(source, [("", f"cannot read the file: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError(source, [("", "the file is not UTF-8 text")]) from None
    try:
        raw = _yaml_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [("", f"{where}not valid YAML: {problem}")]) from None
    return parse_config(raw, source, env, alerts_only=alerts_only)
