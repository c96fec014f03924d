"""A target of the configuration: its provider, endpoints, API key and probes.

A target's probes are validated against the probe registry (each kind's own
spec, of the target's provider), and its endpoints and key default to its
provider's, so neither names a kind nor a provider.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SecretStr,
    SerializationInfo,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import CoreSchema, core_schema

from monitor.probes.registry import did_you_mean, probe_type, probe_types, provider, providers
from monitor.probes.spec import ProbeSpec

__all__ = ["Probes", "StrictModel", "Target", "probe_spec", "unknown_kind"]


class StrictModel(BaseModel):
    """The base of every configuration model: unknown keys refused, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class Probes(Mapping[str, ProbeSpec]):
    """Which probes a target runs, by probe kind; an omitted probe is not run.

    Each entry is validated against the spec of its kind of the target's
    provider in the probe registry, so a kind from a plugin is configured like
    a built-in one.
    """

    __slots__ = ("_provider", "_specs")

    def __init__(
        self, specs: Mapping[str, ProbeSpec] | None = None, provider_name: str | None = None
    ) -> None:
        self._provider = provider_name
        order = list(probe_types(provider_name))
        given = dict(specs or {})
        self._specs = {k: given[k] for k in sorted(given, key=order.index)}

    def __getitem__(self, kind: str) -> ProbeSpec:
        return self._specs[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __repr__(self) -> str:
        return f"Probes({self._specs!r})"

    def __getattr__(self, kind: str) -> Any:
        # `target.probes.<kind>` reads like the fields it replaces: None when not configured.
        if kind.startswith("_") or kind not in probe_types(self._provider):
            raise AttributeError(kind)
        return self._specs.get(kind)

    def enabled(self) -> dict[str, ProbeSpec]:
        """Return the configured probe specs by probe name, in the registry's order."""
        return dict(self._specs)

    @classmethod
    def defaults(cls, provider_name: str) -> Probes:
        """Return the probes a target of `provider_name` runs when it configures none."""
        kinds = [k for k in provider(provider_name).probes if k.default_enabled]
        return cls({k.name: k.spec() for k in kinds}, provider_name)

    @classmethod
    def validate(cls, raw: Any, provider_name: str | None = None) -> Probes:
        """Return `raw` (kind to settings or specs) as the Probes of a `provider_name` target.

        Raises ValueError naming an unknown kind, or a kind only other providers have.
        """
        if isinstance(raw, Probes) and raw._provider == provider_name:
            return raw
        if not isinstance(raw, Mapping):
            raise ValueError("must be a mapping of probe kind to its settings")
        problem = next(filter(None, (unknown_kind(str(k), provider_name) for k in raw)), None)
        if problem is not None:
            raise ValueError(problem)
        # parse_config reports a bad setting with its path first (config.probe_problems).
        return cls({k: probe_spec(k, v, provider_name) for k, v in raw.items()}, provider_name)

    @classmethod
    def _validate_in_target(cls, raw: Any, info: ValidationInfo) -> Probes:
        # Inside a Target the provider is validated first (field order): its kinds apply.
        # An unknown provider is named by the Target; every provider's kinds apply then.
        name = info.data.get("provider") if info.data else None
        return cls.validate(raw, name if name in providers() else None)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> CoreSchema:
        return core_schema.with_info_plain_validator_function(
            cls._validate_in_target,
            serialization=core_schema.plain_serializer_function_ser_schema(
                _dump_probes, info_arg=True
            ),
        )


def _dump_probes(probes: Probes, info: SerializationInfo) -> dict[str, Any]:
    mode = "json" if info.mode_is_json() else "python"
    return {k: v.model_dump(mode=mode, exclude_none=info.exclude_none) for k, v in probes.items()}


def unknown_kind(kind: str, provider_name: str | None) -> str | None:
    """Return why a `provider_name` target cannot configure probe kind `kind` (None: it can)."""
    kinds = list(probe_types(provider_name))
    if kind in kinds:
        return None
    if provider_name is not None and kind in probe_types():
        return f"provider {provider_name!r} has no probe kind {kind!r}; known: {', '.join(kinds)}"
    return f"unknown probe kind {kind!r}{did_you_mean(kind, kinds)}"


def probe_spec(kind: str, value: Any, provider_name: str | None = None) -> ProbeSpec:
    """Return `value` validated as the spec of probe kind `kind` of `provider_name`.

    None (YAML null) is the kind's defaults; no provider: the first registered kind.
    """
    spec: type[ProbeSpec] = probe_type(kind, provider_name).spec
    if isinstance(value, spec):
        return value
    # `probes: {<kind>: }` (YAML null) means "this probe, with defaults".
    return spec.model_validate({} if value is None else value)


_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def slug(v: str) -> str:
    """Return `v` if it is a slug (a target's or a location's name), else raise ValueError."""
    if not _SLUG.match(v):
        raise ValueError(f"must be a slug of lower-case letters, digits and dashes, got {v!r}")
    return v


def is_slug(v: str) -> bool:
    """Return True when `v` is a slug (lower-case letters, digits, inner dashes)."""
    return bool(_SLUG.match(v))


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


class Target(StrictModel):
    """One speech API endpoint set (a provider in one region, with one key)."""

    name: str
    display_name: str | None = None
    provider: str = "assemblyai"
    # Which of the provider's regions the default endpoints are (its default region if None).
    region: str | None = None
    # The provider's endpoints of `region` when not given (`_provider_defaults`).
    api_base: Annotated[str, _base_url(("http", "https"))]
    streaming_base: Annotated[str, _base_url(("ws", "wss"))]
    api_key: SecretStr  # "" (no key, no auth header) only where the region needs none
    probes: Probes

    @model_validator(mode="before")
    @classmethod
    def _provider_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        name = data.get("provider", "assemblyai")
        if not isinstance(name, str) or name not in providers():
            # `_known_provider` names the problem; the first provider's defaults keep
            # it from showing up again as missing endpoints.
            name = next(iter(providers()))
        found = provider(name)
        region = data.get("region")
        # An unknown region is `_known_region`'s to name; the default region's endpoints
        # keep it from showing up again as missing endpoints.
        endpoints = found.regions.get(region, found.endpoints) if isinstance(region, str) else None
        endpoints = endpoints or found.endpoints
        data = dict(data)
        data.setdefault("api_base", endpoints.api_base)
        data.setdefault("streaming_base", endpoints.streaming_base)
        if "api_key" not in data:
            # The provider's variable (ASSEMBLYAI_API_KEY, ...), read from the environment
            # the config's ${VAR} are expanded from (`parse_config(env=)`'s context).
            env: Mapping[str, str] = (info.context or {}).get("env", os.environ)
            variable = found.key_env(region if isinstance(region, str) else None)
            if variable and env.get(variable):
                data["api_key"] = env[variable]
            elif not found.key_required(region if isinstance(region, str) else None):
                data["api_key"] = ""  # e.g. a self-hosted server that checks no key
        if "probes" not in data:
            data["probes"] = Probes.defaults(name)
        return data

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, v: str) -> str:
        if v not in providers():
            raise ValueError(f"unknown provider {v!r}{did_you_mean(v, list(providers()))}")
        return v

    @field_validator("region")
    @classmethod
    def _known_region(cls, v: str | None, info: ValidationInfo) -> str | None:
        name = info.data.get("provider")
        if v is None or name is None:  # an unknown provider is named by `_known_provider`
            return v
        regions = list(provider(name).regions)
        if v not in regions:
            raise ValueError(f"unknown region {v!r} of {name}{did_you_mean(v, regions)}")
        return v

    @field_validator("name")
    @classmethod
    def _slug(cls, v: str) -> str:
        return slug(v)

    @field_validator("api_key")
    @classmethod
    def _key_present(cls, v: SecretStr, info: ValidationInfo) -> SecretStr:
        if v.get_secret_value().strip():
            return v
        name = info.data.get("provider")
        region = info.data.get("region")
        if (
            isinstance(name, str)
            and name in providers()
            and not provider(name).key_required(region)
        ):
            return SecretStr("")  # no key: this region's server may check none
        raise ValueError("must not be empty")

    @model_validator(mode="after")
    def _provider_checks(self) -> Target:
        check = provider(self.provider).check_target
        found = check(self) if check is not None else []
        if found:
            raise ValueError("; ".join(f"{path}: {problem}" for path, problem in found))
        return self

    @property
    def label(self) -> str:
        """Return the human name of the target."""
        return self.display_name or self.name
