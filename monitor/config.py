"""The YAML configuration: loading, validation, masking.

Every default lives in the pydantic models below and nowhere else. Problems are
collected as :class:`ConfigError` (monitor/config_problems.py: ``${ENV}``
expansion and pydantic's errors named by the exact path of the bad value).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import datetime, time
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import Field, ValidationError, field_validator

from monitor.alert_urls import (
    apprise_url_problem,
    config_file_problems,
    mask_url,
    split_tags,
    url_secrets,
)
from monitor.config_problems import ConfigError, expand_env, friendly
from monitor.database_url import Database, database_secrets, literal_password, masked_database
from monitor.durations import format_duration, parse_duration
from monitor.locations import Location, QuorumSetting, override_location
from monitor.models import LOCAL
from monitor.probes.registry import (
    did_you_mean,
    probe_type,
    probe_types,
    provider,
    providers,
    supported,
)
from monitor.probes.spec import Duration, ProbeSpec
from monitor.redaction import MASK, mask_password, password_secrets
from monitor.targets import Probes, StrictModel, Target, probe_spec
from monitor.webhook_runs import checked_base_url

__all__ = [
    "AlertsConfig",
    "Config",
    "ConfigError",
    "MaintenanceWindow",
    "ProbeSpec",
    "Probes",
    "Target",
    "apprise_url_problem",
    "format_duration",
    "load_config",
    "parse_config",
    "parse_duration",
    "split_tags",
]

# ---------------------------------------------------------------------------
# Models


_Strict = StrictModel  # the base of every model here (monitor/targets.py)


MAX_GROUP_WAIT = 600.0
"""The longest `alerts.group_wait`: ten minutes of silence is already a long page delay."""


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
    # How long a target's first failing component waits for the others (one message); 0 = off.
    group_wait: Duration = 60.0

    @field_validator("group_wait")
    @classmethod
    def _group_wait_bounded(cls, v: float) -> float:
        if v > MAX_GROUP_WAIT:
            raise ValueError(
                f"at most {format_duration(MAX_GROUP_WAIT)}: a longer wait holds back the "
                "first alert of an outage (0 sends each probe's alert at once)"
            )
        return v


_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class MaintenanceWindow(_Strict):
    """A planned window: no alerts, components show ``under_maintenance``."""

    title: str = "Scheduled maintenance"
    targets: list[str] | None = None
    probes: list[str] | None = None  # probe kinds of the registry (`_semantic_checks`)
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

    database: Database = "sttwatch.db"
    location: Location = LOCAL  # where this agent probes from (docs/locations.md)
    quorum: QuorumSetting = 1  # locations that must agree (monitor/outcome.py)
    location_stale_after: Duration = 15 * 60.0  # a location silent this long stops counting
    buffer: str = "sttwatch-buffer.db"  # results wait here while PostgreSQL is away
    site_dir: str = "site"
    listen: str = "127.0.0.1:8080"
    title: str = "Speech API status"
    public_url: str | None = None
    webhook_base_url: str | None = None  # how the API reaches this web server (webhooks)
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

    @field_validator("webhook_base_url")
    @classmethod
    def _webhook_base_url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            return checked_base_url(v)
        except ValueError as exc:  # its message quotes the URL: not its password
            raise ValueError(str(exc).replace(v, mask_password(v))) from None

    def notes(self) -> list[str]:
        """Return what `check-config` says about features the config leaves off."""
        kinds = sorted(k.name for k in probe_types().values() if k.receives_calls)
        if self.webhook_base_url is not None or not kinds:
            return []
        return [
            f"the {', '.join(kinds)} probe is off: set webhook_base_url "
            "(the public URL at which the API reaches this sttwatch) to enable it"
        ]

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
        out.extend(database_secrets(self.database))
        if self.webhook_base_url:  # a receiver behind a proxy's basic auth
            out.extend(password_secrets(self.webhook_base_url))
        for url in self.alerts.urls:
            out.extend(url_secrets(url))
        return [s for s in out if s]

    def masked(self) -> dict[str, Any]:
        """Return the resolved config as plain data with every secret masked."""
        data = self.model_dump(mode="json", exclude_none=True)
        for t in data["targets"]:
            if t["api_key"]:  # mask a key, show that there is none
                t["api_key"] = MASK
        data["alerts"]["urls"] = [mask_url(u) for u in self.alerts.urls]
        data["database"] = masked_database(self.database)
        if self.webhook_base_url:
            data["webhook_base_url"] = mask_password(self.webhook_base_url)
        return data


# ---------------------------------------------------------------------------
# Loading


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
            problems.extend((f"{base}.{key}", msg) for key, msg in spec.problems())
            own = probe_types(t.provider).get(pname)
            if cfg.webhook_base_url is None and own is not None and own.receives_calls:
                need = "the public http(s) URL at which the API reaches this sttwatch's web server"
                problems.append((base, f"needs webhook_base_url: {need} (for its webhooks)"))
            if pname not in supported(t.provider):
                problems.append((base, f"provider {t.provider!r} has no probe kind {pname!r}"))
        if not t.probes.enabled():
            problems.append((f"targets[{i}].probes", "no probe configured for this target"))
    names = set(seen)
    for i, w in enumerate(cfg.maintenance):
        base = f"maintenance[{i}]"
        for j, name in enumerate(w.targets or []):
            if name not in names:
                problems.append((f"{base}.targets[{j}]", f"no target named {name!r}"))
        for j, kind in enumerate(w.probes or []):
            if kind not in probe_types():
                problems.append(
                    (
                        f"{base}.probes[{j}]",
                        f"unknown probe kind{did_you_mean(kind, list(probe_types()))}",
                    )
                )
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
    alerts = cfg.alerts
    if alerts.group_wait > 0 and 0 < alerts.reminder_every <= alerts.group_wait:
        every = format_duration(alerts.reminder_every)
        problems.append(
            ("alerts.group_wait", f"must be shorter than alerts.reminder_every ({every})")
        )
    if cfg.alerts.config is not None:
        if not Path(cfg.alerts.config).is_file():
            problems.append(("alerts.config", f"file not found: {cfg.alerts.config}"))
        else:
            problems.extend(config_file_problems(cfg.alerts.config))
    for i, entry in enumerate(cfg.alerts.urls):
        problem = apprise_url_problem(split_tags(entry)[1])
        if problem is not None:
            problems.append((f"alerts.urls[{i}]", problem))
    return problems


def probe_problems(raw: Any, base: str, provider_name: str | None = None) -> list[tuple[str, str]]:
    """Return (path, message) for each unknown kind or bad setting of a `probes:` mapping.

    Each setting is checked against the spec of the kind of `provider_name`
    (the target's provider; None: the first registered kind of the name).
    """
    if not isinstance(raw, Mapping):
        return [(base, "must be a mapping of probe kind to its settings")]
    kinds = list(probe_types(provider_name))
    problems: list[tuple[str, str]] = []
    for kind, value in raw.items():
        path = f"{base}.{kind}" if base else str(kind)
        if kind not in kinds:
            # A kind only other providers have is named as such, not as unknown.
            theirs = provider_name is not None and kind in probe_types()
            what = (
                f"provider {provider_name!r} has no such probe kind"
                if theirs
                else "unknown probe kind"
            )
            problems.append((path, f"{what}{did_you_mean(str(kind), kinds)}"))
            continue
        try:
            probe_spec(kind, value, provider_name)
        except ValidationError as exc:
            spec = probe_type(kind, provider_name).spec
            problems.extend(friendly(e, spec, path) for e in exc.errors())
    return problems


_KEY_PATH = re.compile(r"targets\[(\d+)\]\.api_key")


def _key_hint(problem: tuple[str, str], raw: dict[str, Any]) -> tuple[str, str]:
    """Return `problem`, saying which variable a missing key could come from."""
    path, msg = problem
    m = _KEY_PATH.fullmatch(path)
    if m is None or msg != "required key is missing":
        return problem
    t = raw["targets"][int(m[1])]
    name, region = t.get("provider", Target.model_fields["provider"].default), t.get("region")
    if not isinstance(name, str) or name not in providers():
        return problem
    variable = provider(name).key_env(region if isinstance(region, str) else None)
    return (path, f"{msg} (or set {variable})") if variable else problem


def _probe_problems(raw: Any) -> tuple[list[tuple[str, str]], set[int]]:
    """Return the problems of every target's `probes:` and the indexes of those targets."""
    problems: list[tuple[str, str]] = []
    bad: set[int] = set()
    targets = raw.get("targets") if isinstance(raw, dict) else None
    for i, t in enumerate(targets if isinstance(targets, list) else []):
        if isinstance(t, dict) and "probes" in t:
            # An unknown provider is the Target's to name; then any provider's kind will do.
            name = t.get("provider", Target.model_fields["provider"].default)
            known = name if isinstance(name, str) and name in providers() else None
            found = probe_problems(t["probes"], f"targets[{i}].probes", known)
            if found:
                problems.extend(found)
                bad.add(i)
    return problems, bad


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
        k: expand_env(v, str(k), values, problems, keep_unset=alerts_only and k != "alerts")
        for k, v in raw.items()
    }
    if problems:
        raise ConfigError(source, problems)
    # Each `probes:` entry is checked against its kind's spec here, where the path of a
    # bad key is known; the Target model then reports those targets' probes no more.
    problems, bad = _probe_problems(expanded)
    override_location(values, expanded, problems)  # one file, an agent in each location
    try:
        # The environment is the context: a target's key defaults from its provider's variable.
        cfg = Config.model_validate(expanded, context={"env": values})
    except ValidationError as exc:
        problems.extend(
            _key_hint(friendly(e, Config), expanded)
            for e in exc.errors()
            if tuple(e["loc"][:3]) not in {("targets", i, "probes") for i in bad}
        )
        raise ConfigError(source, problems) from None
    if problems:
        raise ConfigError(source, problems)
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
        if isinstance(url, str) and "${" not in url and url_secrets(url):
            found.append(f"alerts.urls[{i}]")
    found += ["database"] * literal_password(raw.get("database"))
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
